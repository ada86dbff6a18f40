"""The queue and history survive kill -9: run the app in a subprocess, kill it mid-job, start it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.conftest import REPO_ROOT


def _kill_mid_job(profile) -> tuple[int, int]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.app.crash_driver", str(profile)], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:  # blocks until the draft reports progress from its sampling stage
            if line.startswith("RUNNING") and line.split()[3] == "stage1":
                draft_id, render_id = int(line.split()[1]), int(line.split()[2])
                break
        else:
            raise AssertionError(f"the app exited before the job ran (rc {proc.wait()})")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    return draft_id, render_id


def test_restart_after_kill_recovers_queue_and_history(qtbot, tmp_path):
    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.store import JobStore
    from ltx_studio.ui.main_window import MainWindow
    from tests.app.fake_runtime import FakeFactory

    profile = tmp_path / "profile"
    draft_id, render_id = _kill_mid_job(profile)
    paths = AppPaths.for_root(profile)
    # a half-written output and a done row whose file vanished: neither may survive the restart
    (paths.outputs / ".tmp-123-000009-draft-1.png").write_bytes(b"half")
    store = JobStore(paths.database)
    ghost = store.add("draft", {"prompt": "gone", "seed": 1, "width": 64, "height": 64, "frames": 9, "fps": 24.0})
    store._db.execute("UPDATE jobs SET state='done', video=?, thumbnail=? WHERE id=?",
                      (str(paths.outputs / "nope.mp4"), str(paths.outputs / "nope.png"), ghost))
    assert store.get(draft_id).state == "running" and store.get(render_id).state == "queued"
    store.close()

    factory = FakeFactory(steps=1, step_s=0.01)
    w = MainWindow(AppContext.create(paths), factory)
    qtbot.addWidget(w)
    try:
        assert w.store.get(draft_id).state == "interrupted"
        assert w.store.get(ghost).state == "missing" and w.store.get(ghost).video is None
        assert not any(p.name.startswith(".tmp-") for p in paths.outputs.iterdir())
        assert [j.id for j in w.queue.pending] == [render_id] and w.queue.paused
        assert w.queue_panel.resume_button.isVisibleTo(w)
        assert factory.opened == 0  # nothing ran on its own after the crash
        w.queue.set_paused(False)
        job = w.queue.jobs[render_id]
        qtbot.waitUntil(lambda: not job.is_active, timeout=20_000)
        assert job.state == "done" and w.store.get(render_id).state == "done"
        for row in w.store.history():
            assert row.video is None or os.path.isfile(row.video)
    finally:
        w.shutdown()
