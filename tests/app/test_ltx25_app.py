"""LTX-2.5 in the app: the Models page recognises the split files (family, components, one sentence per wrong
file), the Format panel's "Auto" duration, the Sharp / Fast decoder choice, and a draft promoted to a render
by the real runtime on the tiny 2.5 files, both played in the player."""

from __future__ import annotations

import re
from dataclasses import asdict

import pytest

from tests.app.test_studio_window import window  # noqa: F401 - pytest fixture

SPLIT_OK = 7  # transformer, text encoder, two video VAEs, audio VAE, duration head, upscaler


def _dialog(qtbot, settings=None):
    from ltx_studio.settings import Settings
    from ltx_studio.ui.models_page import ModelsDialog

    dlg = ModelsDialog(settings or Settings())
    qtbot.addWidget(dlg)
    return dlg


def test_models_page_finds_the_split_files_and_shows_the_family(tiny25_dir, qtbot, tmp_path):
    from ltx_studio.settings import Settings

    dlg = _dialog(qtbot)
    assert dlg.current_family() == "2.3" and not dlg.split_box.isVisibleTo(dlg)
    dlg.apply_scan(str(tiny25_dir))
    assert dlg.current_family() == "2.5"  # only LTX-2.5 files there: the page switches family
    assert dlg.split_box.isVisibleTo(dlg) and not dlg.single_box.isVisibleTo(dlg)
    assert [s.ok for s in dlg.statuses] == [True] * SPLIT_OK, dlg.report.text()
    text = dlg.report.text()
    assert "Family: LTX-2.5" in text and "missing or wrong: none" in text
    assert ("present: transformer, text encoder, video VAE (Sharp), video VAE (Fast), audio VAE, duration head, "
            "upsampler") in text
    assert "diffusion video VAE" in text and "conv video VAE" in text and "version 2.5.0" in text
    assert dlg.split["duration_head"].text().endswith("ltx-2.5-duration-head-bf16.safetensors")
    dlg.demo.setChecked(False)
    dlg.accept()
    assert dlg.result() == 1, dlg.refusal.text()
    saved = dlg.result_settings()
    assert saved.family == "2.5" and saved.transformer.endswith("transformer-bf16.safetensors")
    assert saved.upsampler_25.endswith("upscaler-x2-bf16-1.0.safetensors") and saved.checkpoint == ""
    saved.save(tmp_path / "settings.json")
    assert Settings.load(tmp_path / "settings.json") == saved  # the split paths persist


def test_models_page_wrong_files_get_one_sentence_each(tiny25_dir, tiny_dir, qtbot):
    dlg = _dialog(qtbot)
    dlg.apply_scan(str(tiny25_dir))
    dlg.demo.setChecked(False)
    dlg.split["video_vae"].setText(str(tiny_dir / "checkpoint.safetensors"))  # an LTX-2.3 file as the 2.5 VAE
    dlg.split["text_encoder_file"].setText(str(tiny_dir / "text_encoder"))  # the Gemma-3 folder for 2.5
    dlg.split["duration_head"].setText("")
    dlg.refresh()
    by_role = {s.role: s for s in dlg.statuses}
    vae, te, head = by_role["video_vae"], by_role["text_encoder_file"], by_role["duration_head"]
    assert not vae.ok and "LTX-2.3" in vae.message and "2.3 and 2.5 components do not mix" in vae.message
    assert not te.ok and "Gemma-3" in te.message and "gemma4-12b-with-proj-ltx-2.5" in te.message
    assert not head.ok and not head.required and "Auto" in head.message  # optional: says what it costs
    text = dlg.report.text()
    assert "✘ video VAE (Sharp)" in text and "✘ text encoder" in text
    assert "missing or wrong: text encoder, video VAE (Sharp), duration head" in text
    dlg.accept()  # wrong files are never saved
    assert dlg.result() == 0 and "do not mix" in dlg.refusal.text() and "Gemma-3" in dlg.refusal.text()
    # a 2.5 file where the 2.3 checkpoint goes gets its sentence too
    dlg.family.setCurrentIndex(dlg.family.findData("2.3"))
    dlg.checkpoint.setText(dlg.split["transformer"].text())
    dlg.refresh()
    assert "LTX-2.5" in dlg.statuses[0].message and "split files" in dlg.statuses[0].message


def test_auto_and_the_decoder_choice_are_not_offered_on_ltx23(window):  # noqa: F811 - the fixture
    pp = window.presets_panel
    assert not pp.auto.isEnabled() and "LTX-2.5" in pp.auto.toolTip() and not pp.auto_on()
    assert not window.prompt_panel.decoder_offered
    assert window.prompt_panel.advanced_values()["decoder"] == "auto"


@pytest.fixture
def small_tiers(monkeypatch):
    """The presets with the tiers' short sides divided by 5.625 (Draft 64 px, 720p 128 px): the tiny model's
    sharp decoder on the CPU takes minutes at a real 720p (measured > 4 min), seconds at 256x128."""
    from dataclasses import replace

    import ltx_studio.formats as formats

    real = formats.load_presets()
    small = {"Draft": 64, "720p": 128, "1080p": 192, "4K": 384}
    presets = replace(real, tiers=tuple(replace(t, short_side=small[t.name]) for t in real.tiers))
    monkeypatch.setattr(formats, "load_presets", lambda: presets)
    return presets


@pytest.fixture
def window25(qtbot, tmp_path, tiny25_dir, small_tiers):
    """The app on the tiny LTX-2.5 files, with default settings otherwise and the production runtime."""
    from ltx_studio.context import AppContext
    from ltx_studio.model_setup import scan_folder
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow

    ctx = AppContext.create(AppPaths.for_root(tmp_path))
    found = {k: v for k, v in asdict(scan_folder(tiny25_dir)).items() if k != "upsampler" and v}
    ctx.save_settings(ctx.settings.with_changes(family="2.5", use_demo_model=False, **found))
    w = MainWindow(ctx)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.shutdown()


@pytest.mark.slow
def test_ltx25_auto_draft_then_sharp_render_play(window25, qtbot, tiny25_dir):
    """Auto predicts the golden length before any job; the draft decodes Fast, its promotion Sharp; both MP4s
    have the predicted length and load in the player."""
    from PySide6.QtMultimedia import QMediaPlayer
    from safetensors import safe_open

    from model_runtime.api import probe

    w = window25
    pp, panel = w.presets_panel, w.prompt_panel
    assert w.model_facts.family == "2.5" and pp.auto.isEnabled()
    assert panel.decoder_offered and panel.decoder.currentData() == "auto"  # Fast drafts, Sharp renders
    with safe_open(str(tiny25_dir / "golden.safetensors"), "pt") as g:
        prompt = g.metadata()["prompt"]
        golden_frames = int(g.get_tensor("duration.num_frames"))
        g_tokens = int(g.get_tensor("text.attention_mask").sum())  # the reference's count, <bos> included
    panel.prompt.setPlainText(prompt)
    qtbot.waitUntil(lambda: w._settled, timeout=10_000)  # the exact token counter comes after the first paint
    panel.refresh_count()
    assert "/ 1024 tokens" in panel.count_label.text() and "~" not in panel.count_label.text()
    assert f" {g_tokens} / 1024" in panel.count_label.text()  # the packed Gemma-4 tokenizer, + <bos>
    pp.auto.setChecked(True)
    assert pp.auto_on() and not pp.seconds.isEnabled() and "s predicted" not in pp.auto_label.text()
    assert w.draft() is None  # clicked before the length is known: it waits for the prediction
    assert "predicting the clip length" in w.statusBar().currentMessage() and not w.queue.jobs
    qtbot.waitUntil(lambda: "s predicted →" in pp.auto_label.text(), timeout=120_000)
    assert f"→ {golden_frames} frames" in pp.auto_label.text()  # the reference's DurationPredictor, 24 fps
    assert pp.draft_format().frames == pp.render_format().frames == golden_frames
    assert f"{golden_frames} frames" in pp.exact.text()  # shown before the job runs
    labels = [panel.decoder.itemText(i) for i in range(panel.decoder.count())]  # each choice with its time
    assert re.fullmatch(r"Default: Fast for drafts \((<1|~\d+) s\), Sharp for renders \((<1|~\d+) s\)", labels[0])
    assert re.fullmatch(r"Fast \(conv decoder\): draft (<1|~\d+) s, render (<1|~\d+) s", labels[1])
    assert re.fullmatch(r"Sharp \(diffusion decoder\): draft (<1|~\d+) s, render (<1|~\d+) s", labels[2])

    qtbot.waitUntil(lambda: len(w.queue.jobs) == 1, timeout=5_000)  # the waiting draft, queued now
    (draft,) = w.queue.jobs.values()
    assert draft.spec.kind == "draft" and draft.spec.request.frames == golden_frames
    qtbot.waitUntil(lambda: not draft.is_active, timeout=240_000)
    assert draft.state == "done", draft.message
    assert draft.output.settings["runtime"]["decoder"] == "conv"
    render = w.render_draft(draft.id)
    assert render.spec.request.draft_latents == str(draft.output.latents)
    qtbot.waitUntil(lambda: not render.is_active, timeout=240_000)
    assert render.state == "done", render.message
    assert render.output.settings["runtime"]["decoder"] == "diffusion"
    for job in (draft, render):
        info = probe(job.output.video)
        assert info.frames == golden_frames and (info.width, info.height) == (job.spec.request.width,
                                                                               job.spec.request.height)
    player = w.preview.player
    assert player.path == render.output.video
    qtbot.waitUntil(lambda: player.player.mediaStatus() in (QMediaPlayer.MediaStatus.LoadedMedia,
                                                            QMediaPlayer.MediaStatus.BufferedMedia), timeout=15_000)
    assert abs(player.player.duration() - 1000 * golden_frames / 24.0) < 100
    w.play(draft.id)
    assert player.path == draft.output.video
    qtbot.waitUntil(lambda: player.player.duration() > 0, timeout=15_000)


def test_incomplete_split_files_are_not_saved_and_a_bad_family_heals(tiny25_dir, tmp_path):
    import json

    from ltx_studio.model_setup import check_split, save_refusal
    from ltx_studio.settings import Settings

    only = check_split({"transformer": str(next((tiny25_dir / "diffusion_models").glob("*.safetensors")))})
    reason = save_refusal(only, use_demo=False)
    assert reason == ("the real model needs the text encoder and the video VAE (Sharp) and the audio VAE: set them, "
                      "or keep the demo model on")  # one video VAE is enough; duration head, upscaler optional
    assert save_refusal(only, use_demo=True) is None
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"family": "3.0", "transformer": "/m/t.safetensors"}), "utf-8")
    settings, notice = Settings.load_or_heal(path)
    assert settings.family == "2.3" and settings.transformer == "/m/t.safetensors" and "family" in notice


@pytest.fixture
def window25_fake(qtbot, tmp_path, tiny25_dir):
    """The app with the tiny LTX-2.5 files chosen (so Auto and the decoder choice are offered, from their
    headers) and the fake runtime (instant jobs and predictions)."""
    from ltx_studio.context import AppContext
    from ltx_studio.model_setup import scan_folder
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import MainWindow
    from tests.app.fake_runtime import FakeFactory

    ctx = AppContext.create(AppPaths.for_root(tmp_path))
    found = {k: v for k, v in asdict(scan_folder(tiny25_dir)).items() if k != "upsampler" and v}
    ctx.save_settings(ctx.settings.with_changes(family="2.5", use_demo_model=False, **found))
    factory = FakeFactory(steps=1, step_s=0.0)
    w = MainWindow(ctx, factory)
    w.factory = factory
    qtbot.addWidget(w)
    w.show()
    yield w
    w.shutdown()


def test_auto_follows_the_prompt_and_every_job_waits_for_its_length(window25_fake, qtbot):
    w = window25_fake
    pp, panel = w.presets_panel, w.prompt_panel
    pp.auto.setChecked(True)
    assert "write a prompt" in pp.auto_label.text()
    panel.prompt.setPlainText("one two three four")  # would be 1 s, but the user types on before a pause
    panel.prompt.setPlainText("one two three four five six seven eight")  # typed on: 2 s = 48 -> 41 frames
    assert "stop typing" in pp.auto_label.text() and "length from the prompt (Auto)" in pp.exact.text()
    jobs = w.draft_variants(2)
    assert jobs == [] and "predicting" in pp.auto_label.text()
    qtbot.waitUntil(lambda: len(w.queue.jobs) == 2, timeout=10_000)
    assert "2.00 s predicted → 41 frames" in pp.auto_label.text()  # the pipeline floors to the 8k+1 grid
    assert {j.spec.request.frames for j in w.queue.jobs.values()} == {41}
    asked = [r for r in w.factory.requests if isinstance(r, tuple)]
    assert asked == [("predict_duration", "one two three four five six seven eight", 24.0)]  # one prediction
    render = w.render_prompt()  # known now: queued at once, with the same length
    assert render is not None and render.spec.request.frames == 41 and render.spec.seconds == 41 / 24
    pp.fps.setCurrentIndex(pp.fps.findData(30.0))  # another frame rate: predicted again
    qtbot.waitUntil(lambda: "at 30 fps" in pp.auto_label.text(), timeout=10_000)
    assert pp.draft_format().frames == 57 and pp.draft_format().fps == 30.0  # round(2 s x 30) -> 8k+1 floor
    pp.auto.setChecked(False)  # back to the duration box
    from ltx_studio.formats import snap_frames

    assert pp.seconds.isEnabled() and pp.draft_format().frames == snap_frames(pp.seconds.value(), 30.0)


def test_decoder_default_and_promotion_uses_sharp(window25_fake, qtbot):
    w = window25_fake
    panel = w.prompt_panel
    assert panel.decoder_offered and panel.decoder_value() == "auto"  # the runtime: Fast drafts, Sharp renders
    panel.decoder.setCurrentIndex(panel.decoder.findData("conv"))  # a Fast draft ...
    panel.prompt.setPlainText("A lighthouse in a storm")
    draft = w.draft()
    assert draft.spec.request.decoder == "conv"
    qtbot.waitUntil(lambda: not draft.is_active, timeout=20_000)
    panel.decoder.setCurrentIndex(panel.decoder.findData("auto"))
    render = w.render_draft(draft.id)  # ... promoted with the render default: Sharp
    assert render.spec.request.decoder == "auto" and render.spec.request.draft_latents
    from model_runtime.memory.plan import RequestShape

    r = render.spec.request
    assert RequestShape(r.width, r.height, r.frames, r.fps, stage="render").decoder_for(True) == "diffusion"
