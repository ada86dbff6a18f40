"""The built-in demo model: a tiny LTX-2.3 in the official layout, made on this machine with seeded random weights.

Why it exists: the app must work out of the box (draft, render, play, export on any CPU in seconds) before
the user has downloaded 70 GB of real weights. Why it is built this way: every component is constructed
from a tiny embedded config by the runtime's own builders (the components registry), written with the
official key names (`ComponentSpec.unrename`) and the `config`/`model_version` metadata, so the demo loads
through the SAME production loader as the real files and exercises the same code paths. The Gemma folder is
a tiny `Gemma3ForConditionalGeneration` saved with `save_pretrained`, and its tokenizer is trained here with
the `tokenizers` library. Nothing from the test fixtures is needed at run time. The weights are random: the
output is coloured noise with noise for sound, and the app labels it as a demo.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_VERSION = "2"  # bump when the layout or config below changes: the cached copy is rebuilt
MODEL_VERSION = "2.3.0"
SEED = 20260101

_TRANSFORMER = {
    "_class_name": "AVTransformer3DModel", "activation_fn": "gelu-approximate", "apply_gated_attention": True,
    "attention_bias": True, "attention_head_dim": 16, "attention_type": "default", "audio_attention_head_dim": 8,
    "audio_connector_attention_head_dim": 8, "audio_connector_num_attention_heads": 2, "audio_cross_attention_dim": 16,
    "audio_in_channels": 128, "audio_num_attention_heads": 2, "audio_out_channels": 128,
    "audio_positional_embedding_max_pos": [20], "av_ca_timestep_scale_multiplier": 1000.0, "av_cross_ada_norm": True,
    "caption_channels": 32, "caption_proj_before_connector": True, "caption_proj_input_norm": False,
    "caption_projection_first_linear": False, "caption_projection_second_linear": False,
    "causal_temporal_positioning": True, "connector_apply_gated_attention": True, "connector_attention_head_dim": 16,
    "connector_norm_output": True, "connector_num_attention_heads": 2, "connector_num_layers": 2,
    "connector_num_learnable_registers": 128, "connector_positional_embedding_max_pos": [4096],
    "cross_attention_adaln": True, "cross_attention_dim": 32, "cross_attention_norm": True,
    "double_self_attention": False, "dropout": 0.0, "frequencies_precision": "float64", "in_channels": 128,
    "norm_elementwise_affine": False, "norm_eps": 1e-06, "norm_num_groups": 32, "num_attention_heads": 2,
    "num_embeds_ada_norm": 1000, "num_layers": 2, "num_vector_embeds": None, "only_cross_attention": False,
    "out_channels": 128, "positional_embedding_max_pos": [20, 2048, 2048], "positional_embedding_theta": 10000.0,
    "positional_embedding_type": "rope", "qk_norm": "rms_norm", "rope_type": "split", "share_ff": False,
    "standardization_norm": "rms_norm", "text_encoder_norm_type": "per_token_rms", "timestep_scale_multiplier": 1000,
    "upcast_attention": False, "use_audio_video_cross_attention": True, "use_embeddings_connector": True,
    "use_linear_projection": False, "use_middle_indices_grid": True,
}
_RES = ["res_x", {"num_layers": 1}]
_VAE = {
    "_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3, "latent_channels": 128,
    "encoder_blocks": [_RES, ["compress_space_res", {"multiplier": 1}], _RES, ["compress_time_res", {"multiplier": 1}],
                       _RES, ["compress_all_res", {"multiplier": 1}], _RES, ["compress_all_res", {"multiplier": 1}], _RES],
    "decoder_blocks": [_RES, ["compress_space", {"multiplier": 2}], _RES, ["compress_time", {"multiplier": 2}], _RES,
                       ["compress_all", {"multiplier": 1}], _RES, ["compress_all", {"multiplier": 2}], _RES],
    "scaling_factor": 1.0, "norm_layer": "pixel_norm", "patch_size": 4, "latent_log_var": "uniform",
    "use_quant_conv": False, "causal_decoder": False, "timestep_conditioning": False,
    "normalize_latent_channels": False, "encoder_base_channels": 128, "decoder_base_channels": 8,
    "spatial_padding_mode": "zeros",
}
_AUDIO_VAE = {
    "model": {"params": {"ddconfig": {
        "double_z": True, "mel_bins": 64, "z_channels": 8, "resolution": 256, "downsample_time": False,
        "in_channels": 2, "out_ch": 2, "ch": 128, "ch_mult": [1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [],
        "dropout": 0.0, "mid_block_add_attention": False, "norm_type": "pixel", "causality_axis": "height"},
        "sampling_rate": 16000}},
    "preprocessing": {"audio": {"sampling_rate": 16000}, "stft": {"filter_length": 1024, "hop_length": 160,
                                                                   "causal": True}, "mel": {"n_mel_channels": 64}},
}
_AMP = {"resblock": "AMP1", "stereo": True, "use_tanh_at_final": False, "activation": "snakebeta",
        "use_bias_at_final": False}
_VOCODER = {
    "vocoder": {**_AMP, "upsample_initial_channel": 128, "upsample_rates": [5, 2, 2, 2, 2, 2],
                "resblock_kernel_sizes": [3, 7], "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4],
                "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]]},
    "bwe": {**_AMP, "upsample_initial_channel": 64, "upsample_rates": [6, 5, 2, 2, 2], "resblock_kernel_sizes": [3],
            "upsample_kernel_sizes": [12, 11, 4, 4, 4], "resblock_dilation_sizes": [[1, 3, 5]],
            "apply_final_activation": False, "input_sampling_rate": 16000, "output_sampling_rate": 48000,
            "hop_length": 80, "n_fft": 512, "win_size": 512, "num_mels": 64},
}
#: the demo's embedded config: the keys of the real 2.3 file, tiny values (a few MB of weights)
DEMO_CONFIG = {"transformer": _TRANSFORMER, "vae": _VAE, "audio_vae": _AUDIO_VAE, "vocoder": _VOCODER,
               "scheduler": {"_class_name": "RectifiedFlowScheduler", "num_train_timesteps": 1000,
                             "sampler": "LinearQuadratic"}}
UPSAMPLER_CONFIG = {"_class_name": "LatentUpsampler", "in_channels": 128, "mid_channels": 32,
                    "num_blocks_per_stage": 1, "dims": 3, "spatial_upsample": True, "temporal_upsample": False,
                    "spatial_scale": 2.0, "rational_resampler": False}
GEMMA_TEXT = {"model_type": "gemma3_text", "vocab_size": 384, "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16,
              "query_pre_attn_scalar": 16, "hidden_activation": "gelu_pytorch_tanh", "rms_norm_eps": 1e-06,
              "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
              "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "sliding_window": 1024,
              "sliding_window_pattern": 2, "max_position_embeddings": 131072, "pad_token_id": 0, "bos_token_id": 2,
              "eos_token_id": 1}
GEMMA_VISION = {"model_type": "siglip_vision_model", "hidden_size": 16, "image_size": 28, "intermediate_size": 32,
                "num_attention_heads": 2, "num_hidden_layers": 1, "patch_size": 14, "vision_use_head": False}
SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "[multimodal]", "<start_of_turn>", "<end_of_turn>",
                  "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
_CORPUS = (
    "A red fox trots across a snowy forest clearing at dawn while birds chirp softly and the wind rustles. "
    "The camera pans slowly over a city street at night; rain falls, neon signs flicker and cars pass by. "
    "Waves crash on a rocky shore under a cloudy sky, seagulls call, a woman laughs and music plays. "
    "Close-up of a cat, slow motion, vertical portrait, cinematic lighting, warm colours, a dog barks."
)


@dataclass(frozen=True)
class DemoModel:
    checkpoint: Path
    upsampler: Path
    text_encoder_dir: Path

    def model_paths(self):
        """As the runtime opens them (`spec.ModelPaths`)."""
        from model_runtime.spec import ModelPaths

        return ModelPaths(self.checkpoint, self.upsampler, self.text_encoder_dir)


def demo_paths(root: Path) -> DemoModel:
    """Where the demo files are (or will be, once `ensure_demo_model` built them) under `root`."""
    return DemoModel(root / "ltx-2.3-demo-random.safetensors", root / "ltx-2.3-demo-upscaler-x2.safetensors",
                     root / "text_encoder")


def ensure_demo_model(root: str | Path) -> DemoModel:
    """The demo files under `root`, built once (a few seconds) and reused; an incomplete copy is rebuilt."""
    def build(tmp: Path) -> None:
        log.info("building the demo model in %s", root)
        paths = demo_paths(tmp)
        _write_checkpoint(paths.checkpoint)
        _write_upsampler(paths.upsampler)
        _write_gemma(paths.text_encoder_dir)

    build_folder_once(Path(root), "DEMO_VERSION", DEMO_VERSION, build)
    return demo_paths(Path(root))


def build_folder_once(root: Path, stamp_name: str, stamp: str, build) -> None:
    """Make `root` with `build(folder)` unless `root/stamp_name` already reads `stamp`.

    Built in a temporary sibling folder and renamed into place, so a crash mid-build leaves nothing half
    made (a half-written copy has no stamp and is rebuilt)."""
    marker = root / stamp_name
    if marker.is_file() and marker.read_text().strip() == stamp:
        return
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root.parent))
    try:
        build(tmp)
        (tmp / stamp_name).write_text(stamp)
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _randomise(module, seed: int) -> dict:
    """State dict of a module built on CPU, with any uninitialised (non-finite/huge) float tensor re-drawn."""
    import torch

    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, t in module.state_dict().items():
        t = t.detach().clone()
        if t.is_floating_point() and (not torch.isfinite(t).all() or t.abs().max() > 1e4):
            t = torch.randn(t.shape, generator=g) * 0.02
        state[key] = t
    return state


def _save(tensors: dict, path: Path, metadata: dict) -> None:
    import torch
    from safetensors.torch import save_file

    out = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    save_file(out, str(path), metadata=metadata)


def _component_tensors(spec, config: dict, seed: int) -> dict:
    import torch

    torch.manual_seed(seed)
    section = config if spec.config_key is None else config[spec.config_key]
    with torch.device("cpu"):
        module = spec.build(section)
    if spec.finish is not None:
        spec.finish(module)
    return {spec.prefix + spec.unrename(k): v for k, v in _randomise(module, seed).items()}


def _write_checkpoint(path: Path) -> None:
    from model_runtime.components import specs
    from model_runtime.text.gemma import GemmaDims
    from model_runtime.text.projection import with_gemma_dims

    # the text projection's input size follows the Gemma folder (not stored in the LTX config): build with
    # the demo Gemma's dims, embed the plain config as the official files do
    build_config = with_gemma_dims(DEMO_CONFIG, GemmaDims(GEMMA_TEXT["hidden_size"], GEMMA_TEXT["num_hidden_layers"]))
    tensors: dict = {}
    for i, spec in enumerate(specs("checkpoint")):
        for key, t in _component_tensors(spec, build_config, SEED + i).items():
            tensors.setdefault(key, t)  # encoder/decoder share the stored per-channel statistics
    _save(tensors, path, {"config": json.dumps(DEMO_CONFIG), "model_version": MODEL_VERSION,
                          "demo": "random weights, built by LTX Studio"})


def _write_upsampler(path: Path) -> None:
    from model_runtime.components import specs

    (spec,) = specs("upsampler")
    _save(_component_tensors(spec, UPSAMPLER_CONFIG, SEED + 100), path, {"config": json.dumps(UPSAMPLER_CONFIG)})


def _build_tokenizer():
    """A small byte-level BPE trained on a fixed corpus: deterministic, Gemma's special-token ids 0..10."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=GEMMA_TEXT["vocab_size"], special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([_CORPUS], trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A $B",
                                                       special_tokens=[("<bos>", 2)])
    return tok


def _write_gemma(folder: Path) -> None:
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, PreTrainedTokenizerFast

    folder.mkdir(parents=True)
    torch.manual_seed(SEED + 200)
    config = Gemma3Config(text_config=GEMMA_TEXT, vision_config=GEMMA_VISION, mm_tokens_per_image=4,
                          boi_token_index=8, eoi_token_index=9, image_token_index=10)
    model = Gemma3ForConditionalGeneration(config).to(torch.bfloat16).eval()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # library code reports through logging, never a terminal bar
    model.save_pretrained(str(folder), safe_serialization=True)
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=_build_tokenizer(), bos_token="<bos>", eos_token="<eos>",
                                     pad_token="<pad>", unk_token="<unk>", padding_side="left")
    hf_tok.save_pretrained(str(folder))
