"""What the planner needs to know about a model, read from key names and shapes only (no weights).

Two sources give the same `ModelLayout`: the full-size layout fixture (`ltx23_layout_full.json.gz`, used in
tests and by `ltx-studio-cli plan --layout`) and a real checkpoint's safetensors header (at run time,
through `checkpoints.read_header`). Everything is counted from the tensors themselves; dimensions that
shape activations (hidden widths, FFN width, modulation rows, head counts) are read from weight shapes
and the embedded config, never assumed.

LTX-2.5 ships one file per component: `from_split` merges their key -> shape maps (the transformer file,
the conv VAE, the audio VAE, the text projection of the packed Gemma-4 file) into the same single-file
view, counts the Gemma-4 language model from its own tensors, and keeps the diffusion decoder's config
and size as `diffusion_decoder` / `components["video_diffusion_decoder"]`.

The Gemma-3 text encoder is not in the LTX-2.3 file. `TextEncoderDims` models it from the published
Gemma-3-12B dimensions (hidden 3840, 48 layers, 16 query / 8 KV heads of 256, MLP 15360, vocabulary
262144, SigLIP vision tower ~0.42 B): that gives ~11.8 B language-model parameters, ~12.2 B with the
vision tower. Text encoding never runs the vision tower, so the planner leaves it on disk.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from model_runtime.checkpoints import DTYPE_SIZES, read_header

_JSON_DTYPE_SIZES = {"bfloat16": 2, "float16": 2, "float32": 4, "float64": 8, "float8_e4m3fn": 1,
                     "float8_e5m2": 1, "int64": 8, "int32": 4, "uint8": 1, "bool": 1}

_BLOCK_RE = re.compile(r"^model\.diffusion_model\.transformer_blocks\.(\d+)\.")
_CONNECTOR_PREFIXES = ("model.diffusion_model.video_embeddings_connector.",
                       "model.diffusion_model.audio_embeddings_connector.")

#: planner component -> key prefixes in the official single file (first match wins, connectors first)
_COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("connectors", _CONNECTOR_PREFIXES),
    ("transformer", ("model.diffusion_model.",)),
    ("text_projection", ("text_embedding_projection.",)),
    ("video_vae_encoder", ("vae.encoder.",)),
    ("video_vae_decoder", ("vae.",)),  # decoder + the shared per-channel statistics
    ("audio_vae_encoder", ("audio_vae.encoder.",)),
    ("audio_decoder", ("audio_vae.", "vocoder.")),  # audio VAE decoder + vocoder with BWE
)

#: config names of the video decoder's upsampling blocks -> (temporal, spatial) factor
_UPSAMPLERS = {"compress_all": (2, 2), "compress_time": (2, 1), "compress_space": (1, 2)}


@dataclass(frozen=True)
class TensorStats:
    """Parameter counts of a group of tensors; `linear` = 2-D `.weight` tensors (what fp8 storage shrinks)."""

    params: int = 0
    linear_params: int = 0
    linear_rows: int = 0  # output rows of those weights: one fp32 scale each in fp8 storage
    file_bytes: int = 0

    def __add__(self, other: TensorStats) -> TensorStats:
        return TensorStats(self.params + other.params, self.linear_params + other.linear_params,
                           self.linear_rows + other.linear_rows, self.file_bytes + other.file_bytes)

    def bytes_as(self, fmt: str) -> int:
        """Storage bytes in `bf16` (2 B/param) or `fp8` (linear weights 1 B + a fp32 scale per row)."""
        if fmt == "fp8":
            return self.linear_params + 4 * self.linear_rows + 2 * (self.params - self.linear_params)
        if fmt == "fp32":
            return 4 * self.params
        return 2 * self.params


@dataclass(frozen=True)
class TransformerDims:
    """Activation-shaping widths of the audio-video DiT, read from weight shapes."""

    num_layers: int
    video_dim: int
    audio_dim: int
    video_ffn: int
    audio_ffn: int
    video_heads: int
    mod_rows: int  # AdaLN modulation vectors per token (9 in 2.3: shift/scale/gate x msa, mlp, text-CA)


@dataclass(frozen=True)
class DecoderStage:
    """One stage of the video VAE decoder: `channels` wide at its resolution; `up` = (t, s) factor applied
    by a depth-to-space conv whose output has `conv_out` channels before the shuffle, else a residual stage."""

    channels: int
    up: tuple[int, int] | None = None
    conv_out: int = 0


@dataclass(frozen=True)
class TextEncoderDims:
    """Gemma-3 dimensions (defaults: Gemma-3-12B, which ltx-core 1.0.0 hard-codes for LTX-2.3)."""

    hidden: int = 3840
    layers: int = 48
    heads: int = 16
    kv_heads: int = 8
    head_dim: int = 256
    mlp: int = 15360
    vocab: int = 262144
    vision_params: int = 417_000_000

    @property
    def layer_params(self) -> int:
        attn = self.hidden * self.head_dim * (self.heads + 2 * self.kv_heads) + self.heads * self.head_dim * self.hidden
        return attn + 3 * self.hidden * self.mlp

    @property
    def language_params(self) -> int:
        return self.layers * self.layer_params + self.vocab * self.hidden

    @property
    def total_params(self) -> int:
        return self.language_params + self.vision_params

    def stats(self) -> TensorStats:
        """The language model as tensors: embedding kept bf16 (a lookup table), layer linears fp8-able."""
        lin = self.layers * self.layer_params
        rows = self.layers * (self.head_dim * (self.heads + 2 * self.kv_heads) + self.hidden + 2 * self.mlp + self.hidden)
        return TensorStats(self.language_params, lin, rows, 2 * self.language_params)

    @classmethod
    def from_gemma4_config(cls, cfg: Mapping) -> TextEncoderDims:
        """From LTX-2.5's packed `gemma_config` (Gemma-4 text settings under `text_config`); sizes are then
        counted from the file's own tensors (its full-attention layers are wider: `global_head_dim`)."""
        t = cfg.get("text_config", cfg)
        return cls(t["hidden_size"], t["num_hidden_layers"], t.get("num_attention_heads", 16),
                   t.get("num_key_value_heads", 8), t.get("head_dim", 256), t.get("intermediate_size", 15360),
                   t.get("vocab_size", 262144), 0)

    @classmethod
    def from_hf_config(cls, cfg: Mapping) -> TextEncoderDims:
        """From a Gemma3ForConditionalGeneration `config.json` (text settings under `text_config`)."""
        t = cfg.get("text_config", cfg)
        return cls(t["hidden_size"], t["num_hidden_layers"], t["num_attention_heads"],
                   t.get("num_key_value_heads", t["num_attention_heads"]), t.get("head_dim", 256),
                   t["intermediate_size"], t.get("vocab_size", 262144), 0)


@dataclass(frozen=True)
class ModelLayout:
    """Sizes and widths of every component the pipeline moves around, from one file's key -> shape map."""

    source: str
    components: Mapping[str, TensorStats]
    blocks: tuple[TensorStats, ...]  # per transformer block, in order
    transformer_dims: TransformerDims
    decoder: tuple[DecoderStage, ...]
    decoder_patch: int
    vocoder_widths: tuple[tuple[int, int], ...]  # (channels, samples per second) per vocoder stage
    text_encoder: TextEncoderDims
    config: Mapping
    upsampler_mid: int = 1024  # the x2 latent upsampler's working width (its own config)
    family: str = "2.3"
    diffusion_decoder: Mapping | None = None  # LTX-2.5: the diffusion VAE's `vae` config section

    @property
    def transformer_non_block(self) -> TensorStats:
        total = self.components["transformer"]
        blocks = sum(self.blocks, TensorStats())
        return TensorStats(total.params - blocks.params, total.linear_params - blocks.linear_params,
                           total.linear_rows - blocks.linear_rows, total.file_bytes - blocks.file_bytes)

    @property
    def file_params(self) -> int:
        return sum(s.params for n, s in self.components.items() if n not in ("upsampler", "text_encoder"))

    # -- constructors --------------------------------------------------------------------------------

    @classmethod
    def from_layout_json(cls, path: str | Path, text_encoder: TextEncoderDims | None = None) -> ModelLayout:
        """From the full-size layout fixture (`{"checkpoint": {"tensors": {key: {shape, dtype}}}, ...}`)."""
        with gzip.open(path, "rt", encoding="utf-8") if str(path).endswith(".gz") else open(path) as fh:
            doc = json.load(fh)
        if "files" in doc:  # the LTX-2.5 split layout
            roles = {"spatial_upscaler": "upsampler"}
            parts = {}
            for name, entry in doc["files"].items():
                meta = entry["metadata"]
                cfg = meta["gemma_config"] if name == "text_encoder" else meta["config"]
                shapes = {k: (tuple(v["shape"]), _JSON_DTYPE_SIZES[v["dtype"]]) for k, v in entry["tensors"].items()
                          if all(isinstance(n, int) for n in v["shape"])}
                parts[roles.get(name, name)] = (shapes, cfg)
            return cls.from_split(parts, str(path))
        shapes = {k: (tuple(v["shape"]), _JSON_DTYPE_SIZES[v["dtype"]]) for k, v in doc["checkpoint"]["tensors"].items()}
        ups = doc.get("spatial_upscaler_x2", {}).get("tensors", {})
        upsampler = _stats((tuple(v["shape"]), _JSON_DTYPE_SIZES[v["dtype"]]) for v in ups.values())
        mid = int(doc.get("spatial_upscaler_x2", {}).get("config", {}).get("mid_channels", 1024))
        return cls.from_shapes(shapes, doc["config"], str(path), upsampler, text_encoder, mid)

    @classmethod
    def from_split(cls, files: Mapping[str, tuple[Mapping[str, tuple[tuple[int, ...], int]], Mapping]],
                   source: str) -> ModelLayout:
        """LTX-2.5 split files: role -> (key -> (shape, bytes per element), that file's config/metadata).

        Roles: transformer, text_encoder (config = `gemma_config`), video_vae (diffusion), video_vae_conv,
        audio_vae, upsampler, duration_head (too small to matter: counted with the transformer file's
        other weights is not right either, so it is left out)."""
        shapes: dict[str, tuple[tuple[int, ...], int]] = {}
        config: dict = dict(files["transformer"][1])
        for role in ("transformer", "video_vae_conv", "audio_vae"):
            if role in files:
                shapes.update(files[role][0])
                if role != "transformer":
                    config.update(files[role][1])
        te_dims, te_stats = None, None
        if "text_encoder" in files:
            te_shapes, gcfg = files["text_encoder"]
            shapes.update({k: v for k, v in te_shapes.items() if k.startswith("text_embedding_projection.")})
            te_dims = TextEncoderDims.from_gemma4_config(gcfg)
            te_stats = _stats([v for k, v in te_shapes.items() if k.startswith("model.")])  # the language model
        upsampler, mid = TensorStats(), 1024
        if "upsampler" in files:
            upsampler = _stats(files["upsampler"][0].values())
            mid = int(files["upsampler"][1].get("mid_channels", mid))
        if "video_vae_conv" not in files:  # no conv decoder: the planner can only use the diffusion one
            config.setdefault("vae", {"decoder_blocks": [], "patch_size": 4})
        layout = cls.from_shapes(shapes, config, source, upsampler, te_dims, mid)
        comps = dict(layout.components)
        if te_stats is not None:
            comps["text_encoder"] = te_stats
        diffusion = None
        if "video_vae" in files:
            diff_shapes, diff_cfg = files["video_vae"]
            diffusion = diff_cfg["vae"]
            comps["video_diffusion_decoder"] = _stats([v for k, v in diff_shapes.items() if k.startswith("vae.decoder.")])
        return replace(layout, components=comps, family="2.5", diffusion_decoder=diffusion)

    @classmethod
    def from_model_files(cls, files) -> ModelLayout:
        """From a `families.ModelFiles` (headers only); an LTX-2.3 set goes through `from_checkpoint`."""
        if not files.is_split:
            up = files.files.get("upsampler")
            te = None
            if files.gemma3_dir is not None and (files.gemma3_dir / "config.json").is_file():
                te = TextEncoderDims.from_hf_config(json.loads((files.gemma3_dir / "config.json").read_text()))
            return cls.from_checkpoint(files.main.path, up.path if up else None, te)
        parts = {}
        for role, f in files.files.items():
            shapes = {k: (t.shape, DTYPE_SIZES[t.dtype]) for k, t in f.header.tensors.items()}
            cfg = f.config["gemma_config"] if role == "text_encoder" else f.config
            parts[role] = (shapes, cfg)
        return cls.from_split(parts, str(files.main.path))

    @classmethod
    def from_checkpoint(cls, path: str | Path, upsampler_path: str | Path | None = None,
                        text_encoder: TextEncoderDims | None = None) -> ModelLayout:
        """From a real single file's header (and optionally the upsampler file's): no weight is read."""
        header = read_header(path)
        shapes = {k: (t.shape, DTYPE_SIZES[t.dtype]) for k, t in header.tensors.items()}
        upsampler, mid = TensorStats(), 1024
        if upsampler_path is not None:
            up = read_header(upsampler_path)
            upsampler = _stats((t.shape, DTYPE_SIZES[t.dtype]) for t in up.tensors.values())
            mid = int(json.loads(up.metadata.get("config", "{}")).get("mid_channels", mid))
        return cls.from_shapes(shapes, json.loads(header.metadata["config"]), str(path), upsampler, text_encoder, mid)

    @classmethod
    def from_shapes(cls, shapes: Mapping[str, tuple[tuple[int, ...], int]], config: Mapping, source: str,
                    upsampler: TensorStats = TensorStats(), text_encoder: TextEncoderDims | None = None,
                    upsampler_mid: int = 1024) -> ModelLayout:
        groups: dict[str, TensorStats] = {}
        blocks: dict[int, TensorStats] = {}
        for key, (shape, size) in shapes.items():
            stat = _stats([(shape, size)], key)
            name = next((n for n, prefixes in _COMPONENTS if key.startswith(prefixes)), "other")
            groups[name] = groups.get(name, TensorStats()) + stat
            m = _BLOCK_RE.match(key)
            if m and name == "transformer":
                i = int(m.group(1))
                blocks[i] = blocks.get(i, TensorStats()) + stat
        te = text_encoder or TextEncoderDims()
        groups["upsampler"] = upsampler
        groups["text_encoder"] = te.stats()
        return cls(source, groups, tuple(blocks[i] for i in sorted(blocks)), transformer_dims_from_shapes(shapes, config),
                   decoder_stages_from_shapes(shapes, config), int(config["vae"].get("patch_size", 4)),
                   _vocoder_widths(config), te, config, upsampler_mid)


def _stats(entries: Iterable[tuple[tuple[int, ...], int]], key: str = ".weight") -> TensorStats:
    total = TensorStats()
    for shape, size in entries:
        n = 1
        for s in shape:
            n *= s
        linear = len(shape) == 2 and key.endswith(".weight")
        total = total + TensorStats(n, n if linear else 0, shape[0] if linear else 0, n * size)
    return total


def _shape(shapes: Mapping, key: str) -> tuple[int, ...]:
    return tuple(shapes[key][0])


def transformer_dims_from_shapes(shapes: Mapping, config: Mapping) -> TransformerDims:
    p = "model.diffusion_model."
    tcfg = config["transformer"]
    d = _shape(shapes, p + "patchify_proj.weight")[0]
    da = _shape(shapes, p + "audio_patchify_proj.weight")[0]
    ffn = _shape(shapes, p + "transformer_blocks.0.ff.net.0.proj.weight")[0]
    affn = _shape(shapes, p + "transformer_blocks.0.audio_ff.net.0.proj.weight")[0]
    mod_rows = _shape(shapes, p + "adaln_single.linear.weight")[0] // d
    return TransformerDims(int(tcfg["num_layers"]), d, da, ffn, affn, int(tcfg["num_attention_heads"]), mod_rows)


def decoder_stages_from_shapes(shapes: Mapping, config: Mapping) -> tuple[DecoderStage, ...]:
    """Widths per decoder stage from the `up_blocks.i` conv shapes, factors from the config's block list
    (the decoder runs `decoder_blocks` in reverse order)."""
    names = [b[0] for b in reversed(config["vae"]["decoder_blocks"])]
    if "vae.decoder.conv_in.conv.weight" not in shapes:
        return ()  # no conv decoder in these files (an LTX-2.5 set with the diffusion VAE only)
    stages = [DecoderStage(_shape(shapes, "vae.decoder.conv_in.conv.weight")[0])]
    for i, name in enumerate(names):
        base = f"vae.decoder.up_blocks.{i}."
        if name in _UPSAMPLERS:
            c_out = _shape(shapes, base + "conv.conv.weight")[0]
            t, s = _UPSAMPLERS[name]
            stages.append(DecoderStage(c_out // (t * s * s), (t, s), c_out))
        else:
            stages.append(DecoderStage(_shape(shapes, base + "res_blocks.0.conv1.conv.weight")[0]))
    return tuple(stages)


def _vocoder_widths(config: Mapping) -> tuple[tuple[int, int], ...]:
    """(channels, samples per second) after each upsampling stage of the vocoder and of its BWE part.

    The vocoder ends at the audio VAE's 16 kHz, the BWE generator at its `output_sampling_rate` (48 kHz);
    each stage halves the channels and multiplies the rate by its upsample factor."""
    out: list[tuple[int, int]] = []
    voc = config.get("vocoder", {})
    for part, default_rate in (("vocoder", 16000), ("bwe", 48000)):
        c = voc.get(part)
        if not c:
            continue
        rates = [int(r) for r in c["upsample_rates"]]
        total = 1
        for r in rates:
            total *= r
        ch, per_s = int(c["upsample_initial_channel"]), int(c.get("output_sampling_rate", default_rate)) // total
        out.append((ch, per_s))
        for r in rates:
            ch, per_s = max(1, ch // 2), per_s * r
            out.append((ch, per_s))
    return tuple(out)
