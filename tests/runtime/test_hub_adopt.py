"""Adopting files the user already has: a real HF cache (filled by huggingface_hub from the local hub
server), a ComfyUI models tree and a named folder; used in place, verified, never copied or deleted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model_runtime.hub.adopt import adopt, scan_folder, scan_hf_cache
from model_runtime.hub.catalogue import load_catalogue
from model_runtime.hub.overview import overview, ready_paths
from model_runtime.hub.store import ModelStore
from model_runtime.hub.verify import verify_item
from tests.support.hub import CHECKPOINT, TOKEN, UPSCALER, HubServer, cli_env, make_repos

CAT = load_catalogue()


@pytest.fixture
def server(tmp_path, tiny_dir):
    s = HubServer(make_repos(tmp_path / "repos", tiny_dir), tmp_path / "server.log").start()
    yield s
    s.kill()


@pytest.fixture
def comfy(tmp_path, tiny_dir) -> Path:
    root = tmp_path / "ComfyUI" / "models"
    (root / "checkpoints").mkdir(parents=True)
    (root / "latent_upscale_models").mkdir()
    shutil.copyfile(tiny_dir / "checkpoint.safetensors", root / "checkpoints" / CHECKPOINT)
    shutil.copyfile(tiny_dir / "spatial_upscaler_x2.safetensors", root / "latent_upscale_models" / UPSCALER)
    shutil.copytree(tiny_dir / "text_encoder", root / "text_encoders" / "gemma-3-12b-it")
    return root


def test_hf_cache_is_found_with_the_hubs_scanner_and_verified_offline(tmp_path, server):
    from huggingface_hub import hf_hub_download

    cache = tmp_path / "hf-cache"
    hf_hub_download("Lightricks/LTX-2.3", CHECKPOINT, cache_dir=cache, endpoint=server.endpoint)
    found = scan_hf_cache(CAT, cache)
    assert [f.item_id for f in found] == ["ltx-2.3-distilled"]
    assert found[0].source == "hf-cache" and len(found[0].sha256) == 64  # the blob name: the LFS oid
    store = ModelStore(tmp_path / "models")
    inst = adopt(found[0], CAT, store)
    assert inst.path == found[0].path and not list(store.root.glob("*.safetensors"))  # pointed at, not copied
    server.kill()  # verification needs no network: the cache names the checksum
    r = verify_item(inst, CAT, store, online=False)
    assert r.ok and r.hashed_bytes == Path(inst.path).stat().st_size
    assert store.get("ltx-2.3-distilled").verified


def test_comfyui_tree_found_adopted_in_place_and_ready(tmp_path, comfy):
    found = {f.item_id: f for f in scan_folder(CAT, comfy.parent, "comfyui")}
    assert set(found) == {"ltx-2.3-distilled", "ltx-2.3-upscaler-x2", "gemma-3-12b-it"}
    store = ModelStore(tmp_path / "models")
    for f in found.values():
        adopt(f, CAT, store)
    rows = {r.item.id: r for r in overview(CAT, store)}
    assert rows["ltx-2.3-distilled"].state == "adopted (not verified yet)"
    assert rows["ltx-2.3-dev"].state == "missing"
    paths = ready_paths(list(rows.values()))
    assert paths == {"checkpoint": str(comfy / "checkpoints" / CHECKPOINT),
                     "upscaler": str(comfy / "latent_upscale_models" / UPSCALER),
                     "text_encoder": str(comfy / "text_encoders" / "gemma-3-12b-it")}


def test_hardlink_adoption_shares_the_inode(tmp_path, comfy):
    found = next(f for f in scan_folder(CAT, comfy) if f.item_id == "ltx-2.3-distilled")
    inst = adopt(found, CAT, ModelStore(tmp_path / "models"), link=True)
    assert Path(inst.path).parent == tmp_path / "models"
    assert os.stat(inst.path).st_ino == os.stat(found.path).st_ino


def test_adopted_file_checked_against_the_hub_and_a_bad_one_left_untouched(tmp_path, comfy, server):
    store = ModelStore(tmp_path / "models")
    for f in scan_folder(CAT, comfy):
        adopt(f, CAT, store)
    good = verify_item(store.get("gemma-3-12b-it"), CAT, store, token=TOKEN, endpoint=server.endpoint)
    assert good.ok, good.message
    ckpt = comfy / "checkpoints" / CHECKPOINT
    with open(ckpt, "r+b") as f:
        f.seek(4096)
        b = f.read(1)
        f.seek(4096)
        f.write(bytes([b[0] ^ 1]))
    r = verify_item(store.get("ltx-2.3-distilled"), CAT, store, endpoint=server.endpoint)
    assert not r.ok and "left where it is" in r.message
    assert ckpt.exists() and store.get("ltx-2.3-distilled") is None  # the user's file stays; we stop using it


def test_downloaded_file_corrupted_later_is_quarantined_by_verify(tmp_path, server):
    from model_runtime.hub.transfer import ItemDownload

    store = ModelStore(tmp_path / "models")
    inst = ItemDownload(CAT.get("ltx-2.3-distilled"), store, endpoint=server.endpoint).run()
    with open(inst.path, "r+b") as f:
        f.seek(123)
        f.write(b"\0\1\2")
    r = verify_item(store.get("ltx-2.3-distilled"), CAT, store, endpoint=server.endpoint)
    assert not r.ok and "moved to" in r.message
    assert not Path(inst.path).exists() and list(store.quarantine_dir.glob("*.corrupt"))


def test_cli_list_scan_verify_remove(tmp_path, comfy, server):
    env = cli_env(server.endpoint, tmp_path / "hf")
    models = tmp_path / "models"

    def cli(*args):
        r = subprocess.run([sys.executable, "-m", "model_runtime", "models", *args, "--models-dir", str(models)],
                           env=env, capture_output=True, text=True, timeout=120)
        return r

    r = cli("scan", str(comfy), "--adopt")
    assert r.returncode == 0 and r.stdout.count("used in place") == 3, r.stdout + r.stderr
    r = cli("list")
    assert "adopted (not verified yet)" in r.stdout and "recommended for this machine" in r.stdout
    r = cli("verify", "ltx-2.3-distilled")
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr
    r = cli("remove", "ltx-2.3-distilled")
    assert "left untouched" in r.stdout and (comfy / "checkpoints" / CHECKPOINT).exists()
    r = cli("download", "ltx-2.3-distilled")
    assert r.returncode == 0 and (models / CHECKPOINT).exists(), r.stderr
    r = cli("remove", "ltx-2.3-distilled")
    assert "deleted" in r.stdout and not (models / CHECKPOINT).exists()
    r = cli("download", "no-such-item")
    assert r.returncode == 2 and "no catalogue item 'no-such-item'" in r.stderr
