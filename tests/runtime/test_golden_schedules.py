"""(f) sigma schedules: the distilled lists and the token-shifted dev schedule match the reference."""

from __future__ import annotations

import pytest
import torch

from model_runtime.sampling.schedules import distilled_sigmas, latent_token_count, shifted_sigmas


def test_schedule_goldens(golden_ctx):
    from model_runtime.goldens import schedules

    results = schedules.run(golden_ctx)
    assert {r.name for r in results} == set(golden_ctx.names("schedule."))
    assert len(results) >= 7
    for r in results:
        print(f"{r.name}: max abs error {r.max_abs_error:.3e} (tol {r.tolerance})")
    assert [r for r in results if not r.passed] == []


def test_shifted_schedule_shape_and_ends():
    s = shifted_sigmas(30)
    assert s.dtype == torch.float32 and s.shape == (31,)
    assert s[-1] == 0 and abs(s[-2].item() - 0.1) < 1e-6  # stretched to the terminal value
    assert bool((s[:-1] > s[1:]).all())  # strictly decreasing


def test_more_tokens_shift_towards_noise():
    """A larger latent keeps sigmas high for longer (the token-count shift)."""
    small, large = shifted_sigmas(20, 1024), shifted_sigmas(20, 6144)
    assert bool((large[1:-2] > small[1:-2]).all())


def test_default_tokens_is_4096():
    assert torch.equal(shifted_sigmas(12), shifted_sigmas(12, 4096))
    assert latent_token_count((1, 128, 16, 16, 24)) == 6144


def test_distilled_stage_lists():
    one, two = distilled_sigmas(1), distilled_sigmas(2)
    assert one.shape == (9,) and two.shape == (4,)
    assert torch.equal(one[-4:], two)  # stage 2 is the tail of stage 1
    with pytest.raises(ValueError):
        distilled_sigmas(3)
