"""Which check runs for each section of a golden set, and running them all (`ltx-studio-cli check-goldens`).

Why a module of its own: the lists are the section functions themselves, imported by plain import
statements (the import linter and PyInstaller see every module the checker can run; a name that is not
here cannot be dispatched to). The section modules import `goldens` for `GoldenContext`, so the lists
cannot live in the package's `__init__` without an import cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from model_runtime.goldens import (
    Comparison,
    GoldenContext,
    a2v,
    audio,
    duration,
    e2e,
    golden_files,
    guided,
    images,
    lora,
    retake,
    schedules,
    text,
    transformer,
    upsampler,
    video_vae,
)

log = logging.getLogger(__name__)

Section = Callable[[GoldenContext], list[Comparison]]
PrefixSection = Callable[[GoldenContext, str, "GoldenContext | None"], list[Comparison]]

#: the sections of `golden.safetensors`, in run order
SECTIONS: dict[str, Section] = {
    "schedules": schedules.run, "text": text.run, "transformer": transformer.run, "video_vae": video_vae.run,
    "upsampler": upsampler.run, "audio": audio.run, "duration": duration.run, "e2e": e2e.run,
    "guided": guided.run, "lora": lora.run,
}

#: sections of the other golden files (`golden_*.safetensors`): their `settings` metadata has one entry per
#: tensor prefix; each prefix is checked by `run_prefix(ctx, prefix, plain)` of its module
PREFIX_SECTIONS: dict[str, PrefixSection] = {
    "i2v": images.run_prefix, "kf": images.run_prefix, "retake": retake.run_prefix, "a2v": a2v.run_prefix,
}
#: prefixes a plain-pass section reads from the other file itself (the `lora` section reads the LoRA cases
#: of golden_conditioning.safetensors): not dispatched per prefix, so checked once, never twice
PLAIN_PASS_PREFIXES = frozenset({"lora", "lora2"})


def file_sections(ctx: GoldenContext) -> tuple[str, ...]:
    """The sections of one golden file: SECTIONS for golden.safetensors, else its settings' prefixes (less
    those a plain-pass section checks itself)."""
    if ctx.file == "golden.safetensors":
        return tuple(SECTIONS)
    return tuple(k for k in ctx.settings if k != "set" and k not in PLAIN_PASS_PREFIXES)


def all_sections(root: str | Path) -> tuple[str, ...]:
    names: list[str] = []
    for file in golden_files(root):
        ctx = GoldenContext.open(root, file=file) if file != "golden.safetensors" else None
        names.extend(SECTIONS if ctx is None else file_sections(ctx))
    return tuple(dict.fromkeys(names))


def run_section(ctx: GoldenContext, section: str, plain: GoldenContext | None) -> list[Comparison]:
    """One section of one file. A prefix without a check is a failure (one row, never silently dropped)."""
    if ctx.file == "golden.safetensors":
        return SECTIONS[section](ctx)
    if section in PLAIN_PASS_PREFIXES:  # the plain pass's section reads this file's tensors itself
        return []
    check = PREFIX_SECTIONS.get(section)
    if check is None:
        return [Comparison(f"{section}.* ({ctx.file})", float("inf"), "-", False, "no runtime section checks it")]
    return check(ctx, section, plain)


def run_all(root: str | Path, sections: tuple[str, ...] | None = None, *, catch: bool = False) -> list[Comparison]:
    """Every section of every `golden*.safetensors` in `root` (or only `sections`). `catch`: a section that
    raises becomes one FAIL row instead of ending the run (one broken section must not hide the others)."""
    results: list[Comparison] = []
    plain: GoldenContext | None = None
    for file in golden_files(root):
        ctx = GoldenContext.open(root, file=file, share=plain)
        plain = plain or ctx
        for section in file_sections(ctx):
            if sections is not None and section not in sections:
                continue
            try:
                results.extend(run_section(ctx, section, plain))
            except Exception as exc:
                if not catch:
                    raise
                log.exception("golden section %s failed", section)
                results.append(Comparison(f"{section} (section error)", float("inf"), "-", False,
                                          f"{exc.__class__.__name__}: {exc}".splitlines()[0]))
    return results
