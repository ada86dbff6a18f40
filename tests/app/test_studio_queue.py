"""Job lifecycle and queue policy through the real worker thread, with a fake runtime behind the protocol."""

from __future__ import annotations

import pytest

from ltx_studio.jobs import JobSpec
from ltx_studio.runtime_api import ModelChoice
from ltx_studio.store import JobStore
from model_runtime.api import RequestSpec
from tests.app.fake_runtime import FakeFactory


def _spec(kind="draft", seed=1, **kw) -> JobSpec:
    parent_id = kw.pop("parent_id", None)
    base = dict(prompt="a fox in the snow", width=64, height=64, frames=9, fps=24.0)
    return JobSpec(RequestSpec(seed=seed, stage=kind, **{**base, **kw}), parent_id=parent_id)


@pytest.fixture
def make_queue(tmp_path):
    queues = []

    def make(**fake_kw):
        from ltx_studio.job_queue import JobQueue

        store = JobStore(tmp_path / "jobs.sqlite3")
        factory = FakeFactory(**fake_kw)
        q = JobQueue(store, factory, ModelChoice(demo=True), tmp_path / "cache", tmp_path / "out", threads=1)
        q.factory = factory
        queues.append(q)
        return q

    yield make
    for q in queues:
        q.shutdown()
        q.store.close()


def test_job_signal_order_and_outputs(qtbot, make_queue):
    q = make_queue(steps=3)
    q.set_paused(True)
    job = q.submit(_spec())
    assert job.state == "queued"
    seen = []
    job.started.connect(lambda: seen.append("started"))
    assert seen == []
    job.progress.connect(lambda p: seen.append("progress"))
    job.finished.connect(lambda o: seen.append("finished"))
    job.failed.connect(lambda m: seen.append("failed"))
    job.cancelled.connect(lambda m: seen.append("cancelled"))
    q.set_paused(False)
    qtbot.waitUntil(lambda: not job.is_active, timeout=20_000)
    assert job.state == "done", job.message
    assert seen.count("finished") == 1 and "failed" not in seen and "cancelled" not in seen
    assert seen[0] == "started" and seen[-1] == "finished" and seen.count("progress") >= 1
    out = job.output
    assert out.video.is_file() and out.thumbnail.is_file() and out.latents.is_file()
    row = q.store.get(job.id)
    assert row.state == "done" and row.video == str(out.video)


def test_signal_order_strict_with_waitsignals(qtbot, make_queue):
    q = make_queue(steps=2, step_s=0.05)
    q.set_paused(True)
    job = q.submit(_spec())
    seen: list[str] = []
    job.stateChanged.connect(lambda s: seen.append(f"state:{s}"))
    job.started.connect(lambda: seen.append("started"))
    job.progress.connect(lambda p: seen.append("progress") if seen[-1:] != ["progress"] else None)
    job.finished.connect(lambda out: seen.append("finished"))
    with qtbot.waitSignals([job.started, job.finished], order="strict", timeout=60_000):  # a cold torch import
        q.set_paused(False)
    # the whole life, in order: one state change before `started`, progress, one before `finished`
    assert seen == ["state:running", "started", "progress", "state:done", "finished"]


def test_cancelled_job_emits_no_finished_and_model_stays_loaded(qtbot, make_queue):
    q = make_queue(steps=50, step_s=0.05)
    job = q.submit(_spec())
    events = []
    job.finished.connect(lambda o: events.append("finished"))
    job.cancelled.connect(lambda m: events.append("cancelled"))
    qtbot.waitUntil(lambda: job.last_progress is not None and job.last_progress.stage == "stage1", timeout=20_000)
    q.cancel(job)
    qtbot.waitUntil(lambda: not job.is_active, timeout=20_000)
    assert events == ["cancelled"] and job.state == "cancelled"
    assert q.store.get(job.id).state == "cancelled"
    nxt = q.submit(_spec(seed=2))
    qtbot.waitUntil(lambda: not nxt.is_active, timeout=20_000)
    assert nxt.state == "done" and q.factory.opened == 1  # no reload after a cancel


def test_drafts_are_variants_by_default_every_click_runs(qtbot, make_queue):
    q = make_queue(steps=3, step_s=0.02)
    drafts = [q.submit(_spec(seed=s)) for s in (11, 12, 13)]
    assert not q.supersede_drafts
    qtbot.waitUntil(lambda: not any(j.is_active for j in drafts), timeout=30_000)
    assert [j.state for j in drafts] == ["done"] * 3  # none was superseded: three variants to compare
    assert [r.seed for r in q.factory.requests] == [11, 12, 13]


def test_new_draft_supersedes_pending_draft_when_asked_renders_keep_order(qtbot, make_queue):
    q = make_queue(steps=20, step_s=0.05)
    q.supersede_drafts = True  # the explicit option (Queue tab)
    running = q.submit(_spec(seed=1))
    r1 = q.submit(_spec("render", seed=1, prompt="render one"))
    d2 = q.submit(_spec(seed=2))
    r2 = q.submit(_spec("render", seed=3, prompt="render two"))
    d3 = q.submit(_spec(seed=4))
    assert running.state == "running"
    assert d2.state == "cancelled" and "superseded" in d2.message
    assert [j.id for j in q.pending] == [d3.id, r1.id, r2.id]  # the waiting draft first, renders in order
    q.cancel(running)
    qtbot.waitUntil(lambda: not any(j.is_active for j in (running, r1, d3, r2)), timeout=30_000)
    ran = [req.seed for req in q.factory.requests]
    assert ran == [1, 4, 1, 3]


def test_failure_is_reported_and_queue_keeps_working(qtbot, make_queue):
    q = make_queue(steps=2, fail_with=MemoryError("CUDA out of memory"))
    job = q.submit(_spec())
    qtbot.waitUntil(lambda: not job.is_active, timeout=20_000)
    assert job.state == "failed" and "Out of memory" in job.message
    assert q.store.get(job.id).state == "failed"
    assert not q.busy


def test_render_of_a_draft_gets_its_latents(qtbot, make_queue):
    q = make_queue(steps=1)
    d = q.submit(_spec())
    qtbot.waitUntil(lambda: not d.is_active, timeout=20_000)
    r = q.submit(_spec("render", width=128, height=128, parent_id=d.id, draft_latents=str(d.output.latents)))
    qtbot.waitUntil(lambda: not r.is_active, timeout=20_000)
    assert r.state == "done", r.message
    req = q.factory.requests[-1]
    assert req.stage == "render" and req.draft_latents == str(d.output.latents)
    from safetensors.torch import load_file

    assert tuple(load_file(req.draft_latents)["video"].shape) == (1, 128, 1, 2, 3)
