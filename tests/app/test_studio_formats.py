"""Snapping rules, presets as data, prompt format words, the fit check: no Qt, no torch."""

from __future__ import annotations

import pytest

from ltx_studio.formats import (
    FormatChoice,
    can_promote,
    detect_format,
    fit_advice,
    load_presets,
    render_target,
    resolve,
    snap_frames,
    snap_size,
)
from model_runtime.api import Machine

P = load_presets()


@pytest.mark.parametrize("aspect", [a.name for a in P.aspects])
@pytest.mark.parametrize("tier", [t.name for t in P.tiers])
@pytest.mark.parametrize("fps", P.limits.fps)
def test_every_preset_snaps_to_the_model_grid(aspect, tier, fps):
    for seconds in (P.limits.min_seconds, 5, 7.3, P.limits.max_seconds):
        f = resolve(FormatChoice(aspect, tier, fps, seconds), P)
        m = 32 if f.stage == "draft" else 64
        assert f.width % m == 0 and f.height % m == 0, f
        assert (f.frames - 1) % 8 == 0 and f.frames >= 9
        assert abs(f.seconds - seconds) <= 4 / fps + 1e-9  # within half a latent frame of the ask
        rw, rh = P.aspect(aspect).ratio
        assert abs(f.width / f.height - rw / rh) < 0.06 * rw / rh
        assert (f.width >= f.height) == (rw >= rh)  # portrait stays portrait


def test_known_sizes():
    assert resolve(FormatChoice("16:9", "720p", 24, 5)).describe() == "1280×704 · 121 frames @ 24 fps · 5.04 s"
    assert (resolve(FormatChoice("9:16", "1080p", 30, 10)).width, resolve(FormatChoice("9:16", "1080p", 30, 10)).height) == (1088, 1920)
    d = resolve(FormatChoice("9:16", "Draft", 24, 5))
    assert (d.width, d.height, d.stage) == (352, 640, "draft")
    assert snap_size(720, 64) == 704 and snap_size(1080, 64) == 1088 and snap_size(10, 32) == 32
    assert snap_frames(5, 24) == 121 and snap_frames(1, 24) == 25 and snap_frames(0.1, 24) == 9


@pytest.mark.parametrize("aspect", [a.name for a in P.aspects])
def test_draft_promotes_to_720p_with_its_latents(aspect):
    d = resolve(FormatChoice(aspect, "Draft", 24, 5))
    r = render_target(FormatChoice(aspect, "720p", 24, 5))
    assert can_promote((d.width, d.height), (r.width, r.height))
    assert d.frames == r.frames
    assert render_target(FormatChoice(aspect, "Draft", 24, 5)).stage == "render"


@pytest.mark.parametrize("prompt, expect", [
    ("a vertical video of a dancer", {"aspect": "9:16"}),
    ("Portrait shot, 9:16, 10 seconds", {"aspect": "9:16", "seconds": 10.0}),
    ("a square loop", {"aspect": "1:1"}),
    ("city at night in 4K", {"tier": "4K"}),
    ("a 1080p 21:9 vista at 30 fps", {"aspect": "21:9", "tier": "1080p", "fps": 30.0}),
    ("a fox at 7.5 sec", {"seconds": 7.5}),
    ("a fox for 90 seconds", {}),          # outside 1-20 s: not applied
    ("squared away; 12:30 meeting", {}),   # no whole-word match
])
def test_prompt_format_words(prompt, expect):
    found = {k: v for k, v in detect_format(prompt).items() if not k.endswith("_why")}
    assert found == expect


def test_fit_check_explains_instead_of_gating():
    big = resolve(FormatChoice("16:9", "4K", 24, 20), stage="render")
    msg = fit_advice(big, Machine(48, 64, "cuda"), demo=False)
    assert msg and "latent tokens" in msg and "lower tier" in msg and "CUDA (48 GB)" in msg
    assert fit_advice(resolve(FormatChoice("16:9", "720p", 24, 5)), Machine(80, 128, "cuda"), demo=False) is None
    assert "out-of-memory" in fit_advice(big, Machine(12, 128, "cuda"), demo=False)  # the card's VRAM, not RAM
    assert "CPU has 8 GB" in fit_advice(big, Machine(80, 8, "cpu"), demo=False)  # the CPU's RAM, not "VRAM"
    assert fit_advice(resolve(FormatChoice("16:9", "Draft", 24, 2)), Machine(8, 8, "cpu"), demo=True) is None
