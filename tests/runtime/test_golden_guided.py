"""(h) two dev-model guided Euler steps (cond / uncond / STG / isolated passes, guidance, rescale)."""

from __future__ import annotations

import torch

from model_runtime.sampling.guidance import GuidanceParams, guide


def test_guided_goldens(golden_ctx):
    from model_runtime.goldens import guided

    results = guided.run(golden_ctx)
    names = {r.name for r in results}
    expected = set(golden_ctx.names("guided."))
    assert expected <= names, f"not compared: {sorted(expected - names)}"
    for r in results:
        print(f"{r.name}: max abs error {r.max_abs_error:.3e} (tol {r.tolerance})")
    assert [r for r in results if not r.passed] == []


def test_guidance_maths_on_stored_passes(golden_ctx):
    """`guide` alone, on the reference's own four passes, reproduces its guided x0 exactly."""
    block = (int(golden_ctx.settings["stg_block"]),)
    params = {"video": GuidanceParams(3.0, 1.0, 3.0, 0.7, block), "audio": GuidanceParams(7.0, 1.0, 3.0, 0.7, block)}
    for k in (0, 1):
        for m, p in params.items():
            t = {n: golden_ctx.tensor(f"guided.step{k}.{m}_{n}")
                 for n in ("cond", "uncond", "perturbed", "isolated", "guided")}
            out = guide(p, t["cond"], t["uncond"], t["perturbed"], t["isolated"])
            assert torch.equal(out, t["guided"]), (k, m, (out - t["guided"]).abs().max())


def test_neutral_guidance_is_cond():
    cond = torch.randn(1, 5, 8)
    assert torch.equal(guide(GuidanceParams(), cond), cond)


def test_rescale_uses_unbiased_std_of_whole_tensor():
    cond, uncond = torch.randn(1, 6, 4), torch.randn(1, 6, 4)
    p = GuidanceParams(cfg=2.0, rescale=1.0)
    out = guide(p, cond, uncond)
    assert torch.allclose(out.std(), cond.std(), atol=1e-6)  # full rescale restores cond's spread
    assert torch.allclose(out, (2 * cond - uncond) * cond.std() / (2 * cond - uncond).std())


def test_missing_pass_is_an_error():
    import pytest

    with pytest.raises(ValueError, match="uncond"):
        guide(GuidanceParams(cfg=3.0), torch.zeros(1, 2, 2))
