"""The cost before the click: the window shows the memory plan of a draft and of a render for the current
format, model files and machine (strategy, predicted RAM, predicted time), updates it when the format
changes, and each queued job's card keeps the plan it was queued with."""

from __future__ import annotations

from dataclasses import replace

from tests.app.fake_runtime import FakeFactory


def test_plan_line_before_a_job_follows_the_format_and_stays_on_the_card(qtbot, tmp_path, tiny_dir):
    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow

    ctx = AppContext.create(AppPaths.for_root(tmp_path))
    ctx.settings = replace(ctx.settings, use_demo_model=False, checkpoint=str(tiny_dir / "checkpoint.safetensors"),
                           upsampler=str(tiny_dir / "spatial_upscaler_x2.safetensors"),
                           text_encoder=str(tiny_dir / "text_encoder"))
    # a job long enough to see its card; the runtime reports an out-of-memory retry, as the real one does
    notice = "Ran out of memory with A. Retrying once with B."
    w = MainWindow(ctx, FakeFactory(steps=100, step_s=0.05, notice=notice))
    qtbot.addWidget(w)
    w.show()
    try:
        plan = w.presets_panel.plan
        qtbot.waitUntil(lambda: "GB RAM" in plan.text(), timeout=30_000)
        draft_line, render_line = plan.text().split("\n")
        assert draft_line.startswith("Draft plan: bf16") and render_line.startswith("Render plan: bf16")
        assert draft_line.rstrip().endswith(" s") or draft_line.rstrip().endswith(" min")  # predicted time
        before = plan.text()
        w.presets_panel.seconds.setValue(w.presets_panel.seconds.value() + 5)
        assert plan.text() != before  # a longer clip: more memory and time predicted
        w.prompt_panel.prompt.setPlainText("A lighthouse in a storm, waves crashing")
        job = w.draft()
        assert "\nplan: bf16" in w.queue_panel.card_text(job.id)
        # the notice comes from the worker thread through the queue, as in the app (not emitted from here)
        qtbot.waitUntil(lambda: w.queue_panel.card_text(job.id).endswith("\n" + notice), timeout=20_000)
        assert "\nplan: bf16" in w.queue_panel.card_text(job.id)
        w.queue.cancel(job)  # as the Cancel button does
    finally:
        w.shutdown()
