"""`ltx-studio --self-test`: the whole creator flow through the real window, queue, worker and demo model.

Draft -> render of that draft (promotion) -> open in the player -> screenshot -> exit code. Driven by
the jobs' signals (no processEvents loop, no sleeps); every step logs what it checked, and the first
failure ends the run with exit code 1.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

from ltx_studio.jobs import GenerationJob

log = logging.getLogger(__name__)

PROMPT = ("A red fox trots across a snowy forest clearing at dawn while birds chirp softly, "
          "vertical 9:16, 1 second")


class SelfTest(QObject):
    def __init__(self, window, screenshot: Path | None, timeout_s: float = 600.0) -> None:
        super().__init__(window)
        self.window = window
        self.screenshot = screenshot
        self.code = 1
        self._finished = False
        self.steps: list[str] = []
        QTimer.singleShot(int(timeout_s * 1000), lambda: self.fail(f"timed out after {timeout_s:.0f} s"))

    def start(self) -> None:
        w = self.window
        w.prompt_panel.prompt.setPlainText(PROMPT)
        w.presets_panel.apply_prompt(PROMPT)  # the prompt names its format: 9:16, 1 s
        c = w.presets_panel.choice()
        if (c.aspect, c.seconds) != ("9:16", 1.0):
            return self.fail(f"prompt format detection gave {c}")
        self.ok(f"format from prompt: {c.aspect}, {c.seconds:g} s, render tier {c.tier}")
        job = w.draft()
        if job is None:
            return self.fail("the draft was not queued")
        self._watch(job, self._draft_done)

    def _watch(self, job: GenerationJob, then) -> None:
        job.finished.connect(lambda out: then(job))
        job.failed.connect(lambda msg: self.fail(f"job {job.id} ({job.spec.kind}) failed: {msg}"))
        job.cancelled.connect(lambda msg: self.fail(f"job {job.id} ({job.spec.kind}) cancelled: {msg}"))

    def _check_output(self, job: GenerationJob) -> bool:
        from model_runtime.api import read_metadata

        out = job.output
        if not (out.video.is_file() and out.thumbnail.is_file()):
            self.fail(f"job {job.id}: output files missing")
            return False
        meta = read_metadata(out.video)
        if meta.get("request", {}).get("seed") != job.spec.request.seed:
            self.fail(f"job {job.id}: MP4 settings tag does not carry the seed ({meta})")
            return False
        self.ok(f"{job.spec.kind} #{job.id}: {out.video.name} ({out.video.stat().st_size} bytes) "
                f"{job.spec.request.width}x{job.spec.request.height} {job.spec.request.frames} frames in "
                f"{job.elapsed():.1f} s")
        return True

    def _draft_done(self, job: GenerationJob) -> None:
        if not self._check_output(job):
            return
        render = self.window.render_draft(job.id)
        if render is None:
            return self.fail("the render of the draft was not queued")
        if render.spec.request.draft_latents is None:
            return self.fail("the render did not reuse the draft's latents")
        self._watch(render, self._render_done)

    def _render_done(self, job: GenerationJob) -> None:
        if self._check_output(job):
            QTimer.singleShot(0, lambda: self._check_player(job))  # after the window has shown the result

    def _check_player(self, job: GenerationJob) -> None:
        self.window.play(job.id)  # what a user does from the history; a clip already shown is not reloaded
        player = self.window.preview.player
        if Path(getattr(player, "path", "") or "") != job.output.video and not hasattr(player, "source"):
            return self.fail("the player did not open the render")
        self.ok(f"opened in the player ({type(player).__name__})")
        # screenshot once the player has built its timeline (thumbnails + waveform), or after 10 s at most
        if hasattr(player, "loaded"):
            player.loaded.connect(lambda _p: QTimer.singleShot(300, self._finish))
            QTimer.singleShot(10_000, self._finish)
        else:
            QTimer.singleShot(500, self._finish)

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.screenshot is not None:
            self.screenshot.parent.mkdir(parents=True, exist_ok=True)
            if not self.window.grab().save(str(self.screenshot)):
                return self.fail(f"could not save the screenshot {self.screenshot}")
            self.ok(f"screenshot {self.screenshot}")
        self.code = 0
        log.info("self-test PASSED: %s", "; ".join(self.steps))
        QApplication.instance().quit()

    def ok(self, what: str) -> None:
        self.steps.append(what)
        log.info("self-test: %s", what)
        sys.stdout.write(f"self-test: ok: {what}\n")  # the command's user-facing output
        sys.stdout.flush()

    def fail(self, why: str) -> None:
        if self.code == 0:
            return
        log.error("self-test FAILED: %s", why)
        sys.stdout.write(f"self-test: FAILED: {why}\n")
        sys.stdout.flush()
        self.code = 1
        QApplication.instance().quit()
