"""The Models page's catalogue against the real local hub server: rows with purpose/size/state, a
download with progress that fills the path fields, pause → partial → resume, cancel, adoption, token."""

from __future__ import annotations

import shutil

import pytest

from tests.support.hub import CHECKPOINT, HubServer, make_repos


@pytest.fixture
def server(tmp_path, tiny_dir):
    s = HubServer(make_repos(tmp_path / "repos", tiny_dir), tmp_path / "server.log")
    yield s
    s.kill()


@pytest.fixture
def panel_factory(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no developer token, no developer cache
    monkeypatch.delenv("HF_TOKEN", raising=False)
    made = []

    def make(endpoint):
        from ltx_studio.ui.catalogue_panel import CataloguePanel

        p = CataloguePanel(str(tmp_path / "models"), endpoint=endpoint)
        qtbot.addWidget(p)
        made.append(p)
        return p

    yield make
    for p in made:
        p.shutdown()


def _row(panel, item_id):
    from PySide6.QtCore import Qt

    for r in range(panel.table.rowCount()):
        if panel.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == item_id:
            return [panel.table.item(r, c).text() for c in range(panel.table.columnCount())]
    raise AssertionError(item_id)


def test_rows_show_purpose_size_state_and_recommendation(panel_factory, qtbot, server):
    panel = panel_factory(server.start().endpoint)
    assert panel.table.rowCount() == len(panel.catalogue.items)
    star, title, purpose, size, state, _ = _row(panel, "ltx-2.3-upscaler-x2")
    assert "upscaler" in title.lower() and "render" in purpose and size == "1.0 GB" and state == "missing"
    qtbot.waitUntil(lambda: panel.recommendation is not None, timeout=20_000)
    assert _row(panel, "gemma-3-12b-it")[0] == "★" and "weights" in panel.machine.text()


def test_download_pause_resume_fills_the_paths(panel_factory, qtbot, server, tmp_path):
    size = (server.root / "Lightricks" / "LTX-2.3" / CHECKPOINT).stat().st_size
    panel = panel_factory(server.start("--rate", str(size / 1.5)).endpoint)
    seen = []
    panel.downloads.progress.connect(seen.append)
    with qtbot.waitSignal(panel.downloads.paused, timeout=30_000):
        assert panel.start(["ltx-2.3-distilled"])
        qtbot.waitUntil(lambda: any(p.done_bytes > 0 for p in seen), timeout=20_000)
        panel.pause_button.click()
    qtbot.waitUntil(lambda: not panel.downloads.running, timeout=10_000)
    assert _row(panel, "ltx-2.3-distilled")[4].startswith("partial")
    assert panel.resume_button.isEnabled() and "Resume continues" in panel.message.text()
    with qtbot.waitSignal(panel.paths_ready, timeout=60_000) as ready:
        panel.resume_button.click()
    assert ready.args[0]["checkpoint"] == str(tmp_path / "models" / CHECKPOINT)
    assert _row(panel, "ltx-2.3-distilled")[4].startswith("verified")
    assert "verified" in _row(panel, "ltx-2.3-distilled")[5]
    resumed = [g for g in server.gets(CHECKPOINT) if g["start"] > 0]
    assert resumed, "the resume must continue from the bytes kept, not start over"


def test_cancel_and_gated_failure_are_said(panel_factory, qtbot, server, tmp_path):
    size = (server.root / "Lightricks" / "LTX-2.3" / CHECKPOINT).stat().st_size
    panel = panel_factory(server.start("--rate", str(size / 1.5)).endpoint)
    seen = []
    panel.downloads.progress.connect(seen.append)
    with qtbot.waitSignal(panel.downloads.cancelled, timeout=30_000):
        panel.start(["ltx-2.3-distilled"])
        qtbot.waitUntil(lambda: any(p.done_bytes > 0 for p in seen), timeout=20_000)
        panel.cancel_button.click()
    qtbot.waitUntil(lambda: panel.download_recommended.isEnabled(), timeout=10_000)
    assert not list((tmp_path / "models" / ".partial").glob("*.part"))
    assert _row(panel, "ltx-2.3-distilled")[4] == "missing" and "cancelled" in panel.message.text()
    with qtbot.waitSignal(panel.downloads.failed, timeout=30_000) as failed:
        panel.start(["gemma-3-12b-it"])
    assert "accept the licence at" in failed.args[1] and "then sign in" in panel.message.text()


def test_models_dialog_adopts_existing_files_and_token_needs_a_keyring(qtbot, tmp_path, tiny_dir, monkeypatch):
    from ltx_studio.settings import Settings
    from ltx_studio.ui.models_page import ModelsDialog

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    comfy = tmp_path / "ComfyUI" / "models" / "checkpoints"
    comfy.mkdir(parents=True)
    shutil.copyfile(tiny_dir / "checkpoint.safetensors", comfy / CHECKPOINT)
    dlg = ModelsDialog(Settings(models_dir=str(tmp_path / "models")))
    qtbot.addWidget(dlg)
    with qtbot.waitSignal(dlg.catalogue.paths_ready, timeout=20_000):
        dlg.catalogue.find_existing([str(comfy.parent)])
    assert dlg.checkpoint.text() == str(comfy / CHECKPOINT)  # used in place
    assert "adopted" in _row(dlg.catalogue, "ltx-2.3-distilled")[4]
    assert dlg.result_settings().models_dir == str(tmp_path / "models")
    import keyring

    if type(keyring.get_keyring()).__name__ == "Keyring" and "fail" in type(keyring.get_keyring()).__module__:
        dlg.catalogue.token.setText("hf_abc")
        dlg.catalogue._save_token()
        assert "no OS keyring" in dlg.catalogue.message.text() and "hf auth login" in dlg.catalogue.message.text()
    dlg.reject()
