"""Downloads against a real hub-compatible server process (tests/support/hub_server.py), not a mock.

Each test serves the tiny fixture files under the catalogue's real repository and file names, points
huggingface_hub at the server, and interrupts it for real: the server process dies mid-stream, the
client process is killed with SIGKILL, a byte on disk is flipped, the disk is full, the folder read-only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from model_runtime.hub.catalogue import load_catalogue, parse_catalogue
from model_runtime.hub.errors import (
    AccessError,
    DiskSpaceError,
    DownloadCancelled,
    DownloadError,
    DownloadPaused,
    FolderNotWritableError,
    VerificationError,
)
from model_runtime.hub.store import ModelStore
from model_runtime.hub.transfer import DownloadControl, FileState, ItemDownload
from tests.support.hub import CHECKPOINT, TOKEN, HubServer, cli_env, make_repos

CAT = load_catalogue()


@pytest.fixture
def repos(tmp_path, tiny_dir) -> Path:
    return make_repos(tmp_path / "repos", tiny_dir)


@pytest.fixture
def server(tmp_path, repos):
    s = HubServer(repos, tmp_path / "server.log").start()
    yield s
    s.kill()


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _cli(args: list[str], env: dict, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model_runtime", *args], env=env, capture_output=True,
                          text=True, timeout=120, **kw)


def test_download_file_and_gated_folder_verified_then_nothing_refetched(tmp_path, server, repos):
    store = ModelStore(tmp_path / "models")
    states = []
    inst = ItemDownload(CAT.get("ltx-2.3-distilled"), store, endpoint=server.endpoint,
                        progress=lambda p: states.append(p.state)).run()
    src = repos / "Lightricks" / "LTX-2.3" / CHECKPOINT
    assert _sha(Path(inst.path)) == _sha(src) and inst.verified
    assert states[0] is FileState.DOWNLOADING and states[-1] is FileState.DONE
    gemma = ItemDownload(CAT.get("gemma-3-12b-it"), store, token=TOKEN, endpoint=server.endpoint).run()
    assert sorted(p.name for p in Path(gemma.path).iterdir()) == sorted(
        p.name for p in (repos / "google" / "gemma-3-12b-it").iterdir() if not p.name.startswith("."))
    assert gemma.verified and all(r.sha256 or r.git_sha1 for r in gemma.files.values())
    before = len(server.gets(CHECKPOINT))
    ItemDownload(CAT.get("ltx-2.3-distilled"), store, endpoint=server.endpoint).run()
    assert len(server.gets(CHECKPOINT)) == before == 1  # verified bytes are never fetched again
    assert not list(store.partial_dir.glob("*.part"))


def test_gated_repo_without_token_says_accept_licence_then_sign_in(tmp_path, server):
    with pytest.raises(AccessError) as e:
        ItemDownload(CAT.get("gemma-3-12b-it"), ModelStore(tmp_path / "m"), endpoint=server.endpoint).run()
    msg = str(e.value)
    assert "accept the licence at https://huggingface.co/google/gemma-3-12b-it, then sign in" in msg
    with pytest.raises(AccessError, match="refused your token"):
        ItemDownload(CAT.get("gemma-3-12b-it"), ModelStore(tmp_path / "m"), token="hf_wrong",
                     endpoint=server.endpoint).run()


def test_server_killed_halfway_resumes_from_the_bytes_on_disk(tmp_path, repos):
    from huggingface_hub import constants

    size = (repos / "Lightricks" / "LTX-2.3" / CHECKPOINT).stat().st_size
    half = size // 2
    srv = HubServer(repos, tmp_path / "server.log").start("--die-after", str(half))
    first = srv.proc

    def restart_when_dead():  # the server process exits mid-stream; bring it back on the same port
        first.wait()
        srv.start()

    t = threading.Thread(target=restart_when_dead, daemon=True)
    t.start()
    try:
        # huggingface_hub sees the connection drop, retries with a Range from what reached our file
        inst = ItemDownload(CAT.get("ltx-2.3-distilled"), ModelStore(tmp_path / "models"),
                            endpoint=srv.endpoint).run()
    finally:
        t.join(10)
        srv.kill()
    gets = srv.gets(CHECKPOINT)
    assert [g["event"] for g in gets] == ["die", "get"], gets
    assert gets[0]["start"] == 0 and gets[0]["sent"] == half
    resumed = gets[1]["start"]
    # bytes the client had received but huggingface_hub had not yet handed to the file (at most one of its
    # read chunks) are fetched again; nothing that reached the disk is
    assert 0 < resumed <= half and half - resumed < constants.DOWNLOAD_CHUNK_SIZE
    assert gets[1]["sent"] == size - resumed
    assert _sha(Path(inst.path)) == _sha(repos / "Lightricks" / "LTX-2.3" / CHECKPOINT)


def test_client_killed_halfway_resumes_without_refetching(tmp_path, repos):
    size = (repos / "Lightricks" / "LTX-2.3" / CHECKPOINT).stat().st_size
    srv = HubServer(repos, tmp_path / "server.log").start("--rate", str(size / 2.0))  # ~2 s for the file
    env = cli_env(srv.endpoint, tmp_path / "hf")
    models = tmp_path / "models"
    args = ["models", "download", "ltx-2.3-distilled", "--models-dir", str(models)]
    try:
        proc = subprocess.Popen([sys.executable, "-m", "model_runtime", *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        part = None
        while time.monotonic() < deadline:
            parts = list((models / ".partial").glob("*.part")) if (models / ".partial").is_dir() else []
            if parts and parts[0].stat().st_size >= size // 3:
                part = parts[0]
                break
            time.sleep(0.02)
        assert part is not None, "download never got going"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kept = part.stat().st_size
        assert 0 < kept < size
        srv.kill()
        srv.start()  # unthrottled now
        r = _cli(args, cli_env(srv.endpoint, tmp_path / "hf"))
        assert r.returncode == 0, r.stderr
    finally:
        srv.kill()
    gets = srv.gets(CHECKPOINT)
    assert gets[-1]["start"] == kept and gets[-1]["sent"] == size - kept, (kept, gets)
    assert "resuming at" in r.stderr
    assert _sha(models / CHECKPOINT) == _sha(repos / "Lightricks" / "LTX-2.3" / CHECKPOINT)


def test_corrupted_byte_in_partial_is_caught_and_quarantined(tmp_path, server, repos):
    store = ModelStore(tmp_path / "models")
    control = DownloadControl()
    size = (repos / "Lightricks" / "LTX-2.3" / CHECKPOINT).stat().st_size

    def pause_at_half(p):
        if p.done_bytes >= size // 2:
            control.pause()

    import model_runtime.hub.transfer as transfer
    interval, transfer.PROGRESS_INTERVAL_S = transfer.PROGRESS_INTERVAL_S, 0.0  # report every chunk
    try:
        with pytest.raises(DownloadPaused):
            ItemDownload(CAT.get("ltx-2.3-distilled"), store, endpoint=server.endpoint, control=control,
                         progress=pause_at_half).run()
    finally:
        transfer.PROGRESS_INTERVAL_S = interval
    part = next(store.partial_dir.glob("*.part"))
    assert 0 < part.stat().st_size < size
    with open(part, "r+b") as f:  # one flipped byte in the bytes already on disk
        f.seek(1000)
        b = f.read(1)
        f.seek(1000)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(VerificationError, match="corrupt.*moved to"):
        ItemDownload(CAT.get("ltx-2.3-distilled"), store, endpoint=server.endpoint).run()
    assert not (store.root / CHECKPOINT).exists()
    assert len(list(store.quarantine_dir.glob("*.corrupt"))) == 1
    assert store.get("ltx-2.3-distilled") is None
    # and the next run starts clean and ends verified
    inst = ItemDownload(CAT.get("ltx-2.3-distilled"), store, endpoint=server.endpoint).run()
    assert inst.verified


def test_cancel_deletes_the_partial(tmp_path, server):
    store = ModelStore(tmp_path / "models")
    control = DownloadControl()
    control.cancel()
    with pytest.raises(DownloadCancelled):
        ItemDownload(CAT.get("ltx-2.3-distilled"), store, endpoint=server.endpoint, control=control).run()
    assert not list(store.partial_dir.glob("*"))


def test_pinned_catalogue_entry_must_agree_with_the_hub(tmp_path, server, tiny_dir):
    sha = _sha(tiny_dir / "spatial_upscaler_x2.safetensors")
    text = (Path(__file__).parents[2] / "model_runtime" / "hub" / "catalogue.toml").read_text()
    commit = __import__("json").loads(subprocess.run(
        ["curl", "-s", f"{server.endpoint}/api/models/Lightricks/LTX-2.3/revision/main"],
        capture_output=True, text=True).stdout)["sha"] if shutil.which("curl") else None
    if commit is None:
        pytest.skip("curl missing: cannot ask the server for its commit")
    good = text.replace("76730e634e70a28f4e8d51f5e29c08e40e2d8e74", commit).replace(
        "5f416311fa8172b65af67530758964708d29a317b830d689a51143b7f91913ed", sha).replace(
        "size_bytes = 995743560", f"size_bytes = {(tiny_dir / 'spatial_upscaler_x2.safetensors').stat().st_size}")
    cat = parse_catalogue(good)
    inst = ItemDownload(cat.get("ltx-2.3-upscaler-x2"), ModelStore(tmp_path / "a"), endpoint=server.endpoint).run()
    assert inst.verified
    bad = parse_catalogue(good.replace(sha, "0" * 64))
    with pytest.raises(DownloadError, match="differs from the catalogue"):
        ItemDownload(bad.get("ltx-2.3-upscaler-x2"), ModelStore(tmp_path / "b"), endpoint=server.endpoint).run()


def _unshare_ok() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-rm", "true"], capture_output=True).returncode == 0


needs_unshare = pytest.mark.skipif(not _unshare_ok(), reason="needs `unshare -rm` (user + mount namespaces) to "
                                   "mount a tiny or read-only tmpfs without touching the host")


def _cli_in_tmpfs(tmp_path, endpoint: str, mount_opts: str) -> subprocess.CompletedProcess:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = (f"mount -t tmpfs -o {mount_opts} tmpfs {mnt} && exec {sys.executable} -m model_runtime models "
              f"download ltx-2.3-distilled --models-dir {mnt}/models")
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], env=cli_env(endpoint, tmp_path / "hf"),
                          capture_output=True, text=True, timeout=120)


@needs_unshare
def test_full_disk_is_refused_before_any_byte(tmp_path, server):
    r = _cli_in_tmpfs(tmp_path, server.endpoint, "size=2m")
    assert r.returncode == 2
    assert "not enough disk space" in r.stderr and "GB is free" in r.stderr
    assert not server.gets(CHECKPOINT)


@needs_unshare
def test_read_only_folder_is_refused_with_a_clear_message(tmp_path, server):
    r = _cli_in_tmpfs(tmp_path, server.endpoint, "ro,size=64m")
    assert r.returncode == 2
    assert "cannot write to the models folder" in r.stderr and "choose another folder" in r.stderr
    assert not server.gets(CHECKPOINT)


def test_disk_space_check_counts_only_missing_bytes(tmp_path, monkeypatch):
    import model_runtime.hub.transfer as transfer

    monkeypatch.setattr(transfer.shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(100, 0, 10))
    with pytest.raises(DiskSpaceError, match="needs 0.00 GB"):
        transfer.check_space(tmp_path, 1)
    with pytest.raises(FolderNotWritableError):
        transfer.check_writable(Path("/proc/ltx-no-such/models"))


def test_ctrl_c_in_the_cli_pauses_and_keeps_the_bytes(tmp_path, repos):
    size = (repos / "Lightricks" / "LTX-2.3" / CHECKPOINT).stat().st_size
    srv = HubServer(repos, tmp_path / "server.log").start("--rate", str(size / 2.0))
    models = tmp_path / "models"
    try:
        proc = subprocess.Popen([sys.executable, "-m", "model_runtime", "models", "download", "ltx-2.3-distilled",
                                 "--models-dir", str(models)], env=cli_env(srv.endpoint, tmp_path / "hf"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(models.glob(".partial/*.part")):
            time.sleep(0.02)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        srv.kill()
    assert proc.returncode == 130, err
    assert "download paused: the bytes so far are kept" in err
    part = next(models.glob(".partial/*.part"))
    assert 0 < part.stat().st_size < size and not (models / CHECKPOINT).exists()
