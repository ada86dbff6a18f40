"""(g) the distilled two-stage render end to end against the reference, with the stored noise injected."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_e2e_goldens(golden_ctx):
    from model_runtime.goldens import e2e

    results = e2e.run(golden_ctx)
    names = {r.name for r in results}
    expected = {n for n in golden_ctx.names("e2e.") if not n.startswith("e2e.noise.")}
    assert expected <= names, f"not compared: {sorted(expected - names)}"
    assert sum(r.name.endswith("(seeded draw)") for r in results) == 4
    assert any(r.name.startswith("e2e.frames") for r in results)
    for r in results:
        print(f"{r.name}: max abs error {r.max_abs_error:.3e} (tol {r.tolerance}) {r.detail}")
    assert [r for r in results if not r.passed] == []
