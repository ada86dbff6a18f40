"""LoRAs in the studio: the library page, chips with strength sliders, provenance in history and MP4 tags,
and a re-queue that brings them back (fake runtime: the runtime's own LoRA tests prove the numbers)."""

from __future__ import annotations

import shutil

import pytest

from tests.app.test_studio_window import window  # noqa: F401 - pytest fixture


@pytest.fixture
def lora_folder(tiny_dir, tmp_path):
    folder = tmp_path / "loras"
    folder.mkdir()
    shutil.copy(tiny_dir / "lora_a.safetensors", folder / "style.safetensors")
    (folder / "old.ckpt").write_bytes(b"\x80\x04junk")
    return folder


def test_library_chips_provenance_and_requeue(window, qtbot, lora_folder):  # noqa: F811
    from ltx_studio.ui.queue_panel import _provenance
    from model_runtime.api import read_request

    window.ensure_built()
    window.open_lora_library()
    page = window.lora_library
    page.folder.setText(str(lora_folder))
    page.folderChosen.emit(str(lora_folder))
    rows = {page.table.item(r, 0).text(): [page.table.item(r, c).text() for c in range(6)]
            for r in range(page.table.rowCount())}
    assert rows["style.safetensors"][2:5] == ["4", "56", "40.0 kB"] and rows["style.safetensors"][5] == "usable"
    assert ".safetensors files only" in rows["old.ckpt"][5]
    assert window.ctx.settings.lora_folder == str(lora_folder)  # remembered for next time

    page.table.selectRow(sorted(rows).index("style.safetensors"))
    page.add.click()
    chips = window.prompt_panel.loras
    chips._chips[0].slider.setValue(70)  # the slider drives the strength (0.01 per step)
    assert [(s.path.name, s.strength) for s in chips.specs()] == [("style.safetensors", 0.7)]

    window.prompt_panel.prompt.setPlainText("A fox in a snowy forest, painted style")
    window.presets_panel.seconds.setValue(1.0)
    job = window.draft()
    assert [(s.path.name, s.strength) for s in job.spec.request.loras] == [("style.safetensors", 0.7)]
    qtbot.waitUntil(lambda: not job.is_active, timeout=60_000)
    assert job.state == "done", job.message
    row = window.store.get(job.id)
    assert _provenance(row) == f"style.safetensors @ 0.7 · sha256 {'f' * 64}"  # history keeps file + sha256
    request = read_request(job.output.video)  # the MP4's tags: the LoRA pinned to the sha256 it ran with
    assert [(s.path, s.strength, s.sha256) for s in request.loras] == [(lora_folder / "style.safetensors", 0.7,
                                                                      "f" * 64)]
    chips.set_specs(())
    again = window.requeue(job.id)
    assert again.spec.request.loras == job.spec.request.loras
    assert [(s.path.name, s.strength) for s in chips.specs()] == [("style.safetensors", 0.7)]  # back in the panel
    qtbot.waitUntil(lambda: not again.is_active, timeout=60_000)


def test_the_distilled_lora_setting_reaches_the_runtime_paths(tmp_path, tiny_dir):
    """Settings -> Models keeps the distilled LoRA; the runtime factory hands it to ModelPaths (the dev
    render's stage 2 refines with it)."""
    from ltx_studio.context import AppContext
    from ltx_studio.paths import AppPaths
    from ltx_studio.ui.main_window import model_choice

    ctx = AppContext.create(AppPaths.for_root(tmp_path))
    ctx.save_settings(ctx.settings.with_changes(use_demo_model=False, checkpoint=str(tiny_dir / "checkpoint.safetensors"),
                                                text_encoder=str(tiny_dir / "text_encoder"),
                                                distilled_lora=str(tiny_dir / "lora_b.safetensors")))
    choice = model_choice(AppContext.create(AppPaths.for_root(tmp_path)))  # read back from disk
    assert choice.distilled_lora == str(tiny_dir / "lora_b.safetensors")
    from ltx_studio.runtime_api import RuntimeOpener

    runtime = RuntimeOpener()(choice, tmp_path / "cache")  # headers only: nothing is loaded
    assert runtime.engine.distilled_lora.path == tiny_dir / "lora_b.safetensors"
