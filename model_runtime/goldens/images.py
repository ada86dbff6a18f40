"""Golden sections `i2v` and `kf` (golden_conditioning.safetensors): image-to-video and keyframes.

The runtime's own distilled render runs with the section's images (read from the set's PNG files, each
through the H.264 re-encode) and the stored noise; a recording engine keeps what the reference recorded:
the preprocessed pixels and latent of every image at each stage, each stage's states before and after
noising (initial tokens, clean latent, denoise masks, positions incl. guide tokens), every step's x0, the
final latents, the upsampled latent, the frames and the waveform. The re-encode itself is checked against
the stored `crf_uint8` inputs (exact: same libx264). `kf.attn` is the attention-strength component case:
one transformer call with a guide appended under a 0.5 attention mask.
Images, frames, strengths, sizes and seed come from the section's settings; tolerances from the metadata.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from model_runtime.conditioning.image import h264_roundtrip, read_image
from model_runtime.conditioning.items import Conditioning, ImageKeyframe
from model_runtime.goldens import Comparison, GoldenContext
from model_runtime.goldens.e2e import RecordingEngine, golden_engine, run_render


def section_conditioning(root: Path, settings: dict) -> Conditioning:
    """The section's `images` entries ([file, frame, strength, crf]) as typed conditioning."""
    return Conditioning(images=tuple(ImageKeyframe(root / f, int(k), float(s), int(crf))
                                     for f, k, s, crf in settings["images"]))


def recorded(prefix: str, ctx: GoldenContext, rec: RecordingEngine, result, n_images: int,
             stage1_calls: int | None = None) -> dict[str, torch.Tensor]:
    """Map a recording onto the reference's tensor names (shared by every conditioned render).
    `stage1_calls`: transformer calls of stage 1 (default: one per stored stage-1 step)."""
    out: dict[str, torch.Tensor] = {}
    for i, (pixels, latent) in enumerate(rec.encoded if n_images else ()):
        stage = "stage1" if i < n_images else "stage2"
        out[f"{prefix}.{stage}.image{i % n_images}.pixels"] = pixels
        out[f"{prefix}.{stage}.image{i % n_images}.latent"] = latent
    n1 = stage1_calls
    if n1 is None:
        steps = f"{prefix}.stage1.denoised_video_steps"
        n1 = ctx.tensor(steps).shape[0] if ctx.has(steps) else len(rec.calls)
    calls = {"stage1": rec.calls[:n1], "stage2": rec.calls[n1:]}
    for stage in ("stage1", "stage2"):
        if (stage, "noised") not in rec.states:
            continue
        initial, noised = rec.states[(stage, "initial")], rec.states[(stage, "noised")]
        out |= {
            f"{prefix}.{stage}.initial_video_tokens": initial.video.latent,
            f"{prefix}.{stage}.initial_audio_tokens": initial.audio.latent,
            f"{prefix}.{stage}.clean_video_tokens": noised.video.clean,
            f"{prefix}.{stage}.noised_video_tokens": noised.video.latent,
            f"{prefix}.{stage}.noised_audio_tokens": noised.audio.latent,
            f"{prefix}.{stage}.video_denoise_mask": noised.video.mask,
            f"{prefix}.{stage}.audio_denoise_mask": noised.audio.mask,
            f"{prefix}.{stage}.video_positions": noised.video.positions,
            f"{prefix}.{stage}.denoised_video_steps": torch.stack([c.video_x0 for c in calls[stage]]),
            f"{prefix}.{stage}.denoised_audio_steps": torch.stack([c.audio_x0 for c in calls[stage]]),
        }
        if stage in result.latents:
            out[f"{prefix}.{stage}.video_latent"] = result.latents[stage].video
            out[f"{prefix}.{stage}.audio_latent"] = result.latents[stage].audio
    if rec.upsampled:
        out[f"{prefix}.upsampled_video_latent"] = rec.upsampled[0]
    out[f"{prefix}.frames_uint8"] = result.frames
    out[f"{prefix}.audio_waveform"] = result.waveform
    out[f"{prefix}.audio_sampling_rate"] = torch.tensor(result.sample_rate, dtype=torch.int64)
    return out


def _reencode_checks(ctx: GoldenContext, prefix: str, conditioning: Conditioning) -> list[Comparison]:
    """Our libx264 round trip against the reference's stored result (exact when the libraries match)."""
    out = []
    for i, image in enumerate(conditioning.images):
        name = f"{prefix}.image{i}.crf_uint8"
        if not ctx.has(name):
            continue
        ours = torch.from_numpy(h264_roundtrip(read_image(image.path), image.crf))
        ref = ctx.tensor(name)
        err = float((ours.int() - ref.int()).abs().max()) if ours.shape == ref.shape else float("inf")
        out.append(Comparison(f"{name} (H.264 re-encode)", err, "exact", err == 0.0))
    return out


def _attention_case(ctx: GoldenContext, plain: GoldenContext | None) -> dict[str, torch.Tensor]:
    """kf.attn: one X0 call on the plain golden's transformer inputs with the last keyframe's stage-2 latent
    appended at frame num_frames-1 (strength 1) under attention strength 0.5."""
    from model_runtime.conditioning.state import TokenState, append_guide
    from model_runtime.models.denoiser import ModalityInput
    from model_runtime.models.positions import guide_positions
    from model_runtime.pipelines.geometry import geometry

    if plain is None or not ctx.has("kf.attn.video_x0"):
        return {}
    s = ctx.settings["kf"]
    case = s["attention_case"]
    fps = float(plain.tensor("transformer.fps"))
    geom = geometry(ctx.config, int(s["width"]), int(s["height"]), int(s["num_frames"]), fps)
    video = TokenState.initial(geom.video_tokens(plain.tensor("transformer.video_latent")), geom.video_positions())
    # the case is described as code: "...KeyframeIndex(<latent name>, frame_idx=num_frames-1, strength=S),
    # attention_mask=A)"; read every value from it
    text = case["conditioning"]
    guide = ctx.tensor(re.search(r"\((kf\.[\w.]+\.latent)", text).group(1))
    frame_expr = re.search(r"frame_idx=([\w+-]+)", text).group(1)
    frame = int(s["num_frames"]) - 1 if frame_expr == "num_frames-1" else int(frame_expr)
    strength = float(re.search(r"strength=([0-9.]+)", text).group(1))
    attention = float(re.search(r"attention_mask=([0-9.]+)", text).group(1))
    positions = guide_positions(guide.shape[2], guide.shape[3], guide.shape[4], frame, fps)
    video = append_guide(video, geom.video_tokens(guide), positions, strength, attention=attention)
    sigma = (plain.tensor("transformer.masked.sigma") if plain.has("transformer.masked.sigma")
             else torch.tensor(case["sigma"], dtype=torch.float32))
    denoiser = golden_engine(ctx)._transformer()
    audio_tokens = geom.audio_tokens(plain.tensor("transformer.audio_latent"))
    token_sigma = (video.mask * sigma)[..., 0]
    out = denoiser(ModalityInput(video.latent, sigma, plain.tensor("text.video_context"), video.positions,
                                 token_sigma, video.attention),
                   ModalityInput(audio_tokens, sigma, plain.tensor("text.audio_context"), geom.audio_positions()))
    return {"kf.attn.attention_mask": video.attention, "kf.attn.denoise_mask": video.mask,
            "kf.attn.positions": video.positions, "kf.attn.video_x0": out.video.x0, "kf.attn.audio_x0": out.audio.x0}


def run_prefix(ctx: GoldenContext, prefix: str, plain: GoldenContext | None = None) -> list[Comparison]:
    settings = ctx.settings[prefix]
    conditioning = section_conditioning(ctx.root, settings)
    result, rec = run_render(ctx, prefix, settings, conditioning)
    computed = recorded(prefix, ctx, rec, result, len(conditioning.images))
    if prefix == "kf":
        computed |= _attention_case(ctx, plain)
    return [*_reencode_checks(ctx, prefix, conditioning), *ctx.compare_all(f"{prefix}.", computed)]
