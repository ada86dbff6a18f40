"""Self-healing state: a damaged settings.json or studio.sqlite3 never stops the app, and nothing is lost.

Damaged files are moved aside with a timestamp (never deleted), unusable rows are quarantined one by one,
the rest of the history survives, and the user is told in a banner and the log.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

SPEC = {"prompt": "a fox", "seed": 1, "width": 64, "height": 64, "frames": 9, "fps": 24.0}


def _aside(folder, name):
    return sorted(p for p in folder.iterdir() if p.name.startswith(name + ".damaged-"))


# --- settings.json --------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"[]", b"\xff\xfe garbage", b"{not json", b'"text"', b"[" * 100_000],
                         ids=["list", "bytes", "broken", "string", "deep"])
def test_damaged_settings_are_moved_aside(tmp_path, caplog, content):
    from ltx_studio.settings import Settings

    f = tmp_path / "settings.json"
    f.write_bytes(content)
    settings, notice = Settings.load_or_heal(f)
    assert settings == Settings()
    aside = _aside(tmp_path, "settings.json")
    assert len(aside) == 1 and aside[0].read_bytes() == content, "the user's file must be kept"
    assert not f.exists()
    assert "\n" not in notice and "moved aside to settings.json.damaged-" in notice
    assert "starting with default settings" in notice and notice in caplog.text


@pytest.mark.parametrize("field, value", [("default_fps", "fast"), ("default_fps", 1e308), ("checkpoint", 5),
                                          ("use_demo_model", "yes")])
def test_one_bad_value_keeps_the_rest(tmp_path, field, value):
    from ltx_studio.settings import Settings

    f = tmp_path / "settings.json"
    f.write_text(json.dumps({"checkpoint": "/m/ltx.safetensors", "output_dir": "/out", field: value}))
    before = f.read_bytes()
    settings, notice = Settings.load_or_heal(f)
    assert getattr(settings, field) == getattr(Settings(), field)
    assert settings.output_dir == "/out"
    if field != "checkpoint":
        assert settings.checkpoint == "/m/ltx.safetensors"
    assert f"{field} in" in notice and "went back to the default; check them under Settings" in notice
    assert f.read_bytes() == before, "nothing is rewritten until the user saves"


# --- studio.sqlite3 -------------------------------------------------------------------------------------

def _store_with_rows(path, n=3):
    from ltx_studio.store import JobStore

    store = JobStore(path)
    ids = [store.add("draft", SPEC | {"prompt": f"take {i}"}) for i in range(n)]
    store.close()
    return ids


def _check_spec(d):
    from ltx_studio.jobs import JobSpec
    from ltx_studio.store import check_field_types

    check_field_types(JobSpec.from_dict(d))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zero-page", "foreign-schema"])
def test_damaged_database_is_moved_aside(tmp_path, caplog, damage):
    from ltx_studio.store import JobStore

    db = tmp_path / "studio.sqlite3"
    _store_with_rows(db)
    raw = db.read_bytes()
    if damage == "garbage":
        db.write_bytes(b"\x13\x37" * 5000)
    elif damage == "truncated":
        db.write_bytes(raw[:100])
    elif damage == "zero-page":
        db.write_bytes(raw[:4096] + b"\0" * (len(raw) - 4096))
    else:
        db.unlink()
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT)")
        con.commit()
        con.close()
    damaged = db.read_bytes()
    store, notices = JobStore.open_or_heal(db, _check_spec)
    try:
        assert store.pending() == [] and store.add("draft", SPEC) >= 1, "a fresh, working database"
    finally:
        store.close()
    aside = _aside(tmp_path, "studio.sqlite3")
    assert aside and aside[0].read_bytes() == damaged, "the damaged file is kept for the user"
    assert len(notices) == 1 and "moved aside to studio.sqlite3.damaged-" in notices[0]
    assert "starting with an empty history" in notices[0] and notices[0] in caplog.text


@pytest.mark.parametrize("sql, reason", [
    ("UPDATE jobs SET spec='{not json' WHERE id=?", "unreadable JSON"),
    ("UPDATE jobs SET spec='[1,2]' WHERE id=?", "not a JSON object"),
    ("UPDATE jobs SET spec='{\"prompt\": \"x\"}' WHERE id=?", "missing"),
    ("UPDATE jobs SET spec=json_set(spec, '$.width', 'abc') WHERE id=?", "width is 'abc'"),
    ("UPDATE jobs SET spec=json_set(spec, '$.fps', 'x') WHERE id=?", "fps is 'x'"),
    ("UPDATE jobs SET state='exploded' WHERE id=?", "unknown state"),
    ("UPDATE jobs SET settings='{oops' WHERE id=?", "unreadable JSON"),
], ids=["spec-not-json", "spec-list", "spec-missing-fields", "width-str", "fps-str", "state", "settings"])
def test_bad_rows_are_quarantined_one_by_one(tmp_path, sql, reason):
    from ltx_studio.store import JobStore

    db = tmp_path / "studio.sqlite3"
    ids = _store_with_rows(db)
    con = sqlite3.connect(db)
    con.execute(sql, (ids[1],))
    con.commit()
    con.close()
    store, notices = JobStore.open_or_heal(db, _check_spec)
    try:
        assert [r.id for r in store.pending()] == [ids[0], ids[2]], "the rest of the history survives"
        kept = store._db.execute("SELECT job_id, reason FROM quarantine").fetchall()
        assert [k["job_id"] for k in kept] == [ids[1]] and reason in kept[0]["reason"]
    finally:
        store.close()
    assert notices == ["1 unreadable job(s) in the history were set aside (kept in the database's quarantine "
                       "table); the rest of the history is intact"]
