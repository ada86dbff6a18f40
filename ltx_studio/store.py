"""The queue and the history in one SQLite file: every job is a row from submission to its last state.

Why one table: a job's life (queued -> running -> done | failed | cancelled | interrupted) is one row
whose state changes, so the queue after a crash is simply "the rows still queued" and the history is
"the rows that ended". Each transition is its own committed transaction (WAL, synchronous=FULL), so a
kill -9 at any moment leaves the file consistent. On open, `recover()` turns a row left "running" into
"interrupted" and never lets a "done" row point at a missing file: outputs are written under temporary
names and renamed before the row says done (see worker.py), and a done row whose file vanished is
marked "missing" with its paths cleared. No Qt here.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

from ltx_studio.settings import move_aside

log = logging.getLogger(__name__)

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled", "interrupted", "missing")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,          -- draft | render
    state       TEXT NOT NULL,
    spec        TEXT NOT NULL,          -- JSON of JobSpec: everything needed to run it again
    parent_id   INTEGER,                -- the draft a render promotes
    created     REAL NOT NULL,
    started     REAL,
    ended       REAL,
    message     TEXT NOT NULL DEFAULT '',
    video       TEXT,                   -- final MP4 (absolute path)
    thumbnail   TEXT,                   -- PNG
    latents     TEXT,                   -- safetensors of the stage-1 latents (drafts: for promotion)
    settings    TEXT                    -- JSON the runtime returned (exact request, versions)
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS quarantine (  -- rows that could not be read: kept for the user, never run
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER,
    reason      TEXT NOT NULL,
    row_json    TEXT NOT NULL,
    moved       REAL NOT NULL
);
"""
_COLUMNS = {"id", "kind", "state", "spec", "parent_id", "created", "started", "ended", "message", "video",
            "thumbnail", "latents", "settings"}


@dataclass(frozen=True)
class JobRow:
    id: int
    kind: str
    state: str
    spec: dict
    parent_id: int | None
    created: float
    started: float | None
    ended: float | None
    message: str
    video: str | None
    thumbnail: str | None
    latents: str | None
    settings: dict | None

    @classmethod
    def from_sql(cls, r: sqlite3.Row) -> JobRow:
        return cls(r["id"], r["kind"], r["state"], json.loads(r["spec"]), r["parent_id"], r["created"],
                   r["started"], r["ended"], r["message"], r["video"], r["thumbnail"], r["latents"],
                   json.loads(r["settings"]) if r["settings"] else None)


def check_field_types(obj: object, where: str = "") -> None:
    """Raise TypeError when a dataclass instance (nested ones included) holds a value its annotations do
    not allow. A spec row edited by hand or written by an older version must fail here, at start-up, not
    in a panel that formats it. Annotations that are not plain classes (Literal, Any) are not checked."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):  # type: ignore[arg-type]
        name, value, hint = f"{where}{f.name}", getattr(obj, f.name), hints[f.name]
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        allowed = [typing.get_origin(a) or a for a in (typing.get_args(hint) if union else (hint,))]
        classes = tuple(a for a in allowed if isinstance(a, type))
        if len(classes) < len(allowed) or (value is None and type(None) in classes):
            continue
        if isinstance(value, bool) and bool not in classes:
            raise TypeError(f"{name} is {value!r}")
        if isinstance(value, int) and float in classes and int not in classes:
            continue
        if not isinstance(value, classes):
            raise TypeError(f"{name} is {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name} is {value!r}")
        if is_dataclass(value):
            check_field_types(value, f"{name}.")


def _row_problem(r: sqlite3.Row, check_spec: Callable[[dict], object] | None) -> str | None:
    """Why a row cannot be used, or None. Every column the app reads is checked for its type."""
    try:
        spec = json.loads(r["spec"]) if isinstance(r["spec"], str) else None
        if not isinstance(spec, dict):
            return "its spec is not a JSON object"
        if r["settings"] is not None and not isinstance(json.loads(r["settings"]), dict):
            return "its settings are not a JSON object"
    except (TypeError, ValueError, RecursionError) as exc:
        return f"unreadable JSON ({exc.__class__.__name__})"
    if r["state"] not in ACTIVE_STATES + FINAL_STATES or not isinstance(r["kind"], str):
        return f"unknown state {r['state']!r}"
    if not isinstance(r["created"], int | float):
        return "no creation time"
    if check_spec is not None:
        try:
            check_spec(spec)
        except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError, OverflowError) as exc:
            return f"its spec cannot be used ({exc.__class__.__name__}: {exc})"
    return None


def _move_database_aside(path: Path, exc: BaseException) -> str:
    """Rename a database SQLite cannot use (and its journal files) to `<name>.damaged-<timestamp>`."""
    try:
        kept = move_aside(path)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.replace(side, kept.with_name(kept.name + suffix))
    except OSError as err:
        raise sqlite3.DatabaseError(f"{path} is damaged ({exc}) and cannot be moved aside ({err})") from err
    message = (f"The history database was damaged ({exc}): moved aside to {kept.name}; "
               "starting with an empty history")
    log.warning(message)
    return message


class JobStore:
    """Thread-confined (GUI thread) access to the jobs database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None)  # autocommit; explicit transactions
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open_or_heal(cls, path: Path, check_spec: Callable[[dict], object] | None = None,
                     ) -> tuple[JobStore, list[str]]:
        """Open the database, healing what it can; returns the store and sentences for the user.

        A file SQLite cannot read (garbage, truncated, malformed pages, a foreign schema) is moved aside
        with a timestamp, together with its -wal/-shm files, and a fresh database is started: the app
        never hangs on "Starting…" because of its own history. Rows it can read but not use (a spec that
        is not JSON, a queued job missing fields) are quarantined one by one and the rest survives.
        `check_spec` raises (TypeError/ValueError/KeyError) for a spec the app cannot run."""
        notices: list[str] = []
        try:
            store = cls._open_checked(path)
        except sqlite3.DatabaseError as exc:
            notices.append(_move_database_aside(path, exc))
            store = cls(path)
        moved = store.quarantine_bad_rows(check_spec)
        if moved:
            notices.append(f"{moved} unreadable job(s) in the history were set aside (kept in the database's "
                           "quarantine table); the rest of the history is intact")
        return store, notices

    @classmethod
    def _open_checked(cls, path: Path) -> JobStore:
        """Check an existing file read-only first (nothing is written to a file that may be moved aside),
        then open it for use."""
        if path.exists():
            con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                con.row_factory = sqlite3.Row
                verdict = con.execute("PRAGMA quick_check").fetchone()[0]
                if verdict != "ok":
                    raise sqlite3.DatabaseError(f"integrity check failed: {verdict}")
                tables = {r["name"] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                columns = {r["name"] for r in con.execute("PRAGMA table_info(jobs)").fetchall()}
                if tables and "jobs" in tables and not _COLUMNS <= columns:
                    raise sqlite3.DatabaseError(f"the jobs table lacks {', '.join(sorted(_COLUMNS - columns))}")
                if tables and "jobs" not in tables:
                    raise sqlite3.DatabaseError("not an LTX Studio database (no jobs table)")
            finally:
                con.close()
        return cls(path)

    def quarantine_bad_rows(self, check_spec: Callable[[dict], object] | None = None) -> int:
        """Move every row that cannot be read into `quarantine`, one by one; return how many moved."""
        moved = 0
        for r in self._db.execute("SELECT * FROM jobs").fetchall():
            reason = _row_problem(r, check_spec)
            if reason is None:
                continue
            raw = json.dumps({k: r[k] for k in r.keys()}, default=str)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT INTO quarantine(job_id, reason, row_json, moved) VALUES (?, ?, ?, ?)",
                                 (r["id"], reason, raw, time.time()))
                self._db.execute("DELETE FROM jobs WHERE id=?", (r["id"],))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            log.warning("job %s quarantined: %s", r["id"], reason)
            moved += 1
        return moved

    def close(self) -> None:
        self._db.close()

    def _one(self, job_id: int) -> JobRow:
        r = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if r is None:
            raise KeyError(f"no job {job_id}")
        return JobRow.from_sql(r)

    def get(self, job_id: int) -> JobRow:
        return self._one(job_id)

    def add(self, kind: str, spec: dict, parent_id: int | None = None) -> int:
        cur = self._db.execute("INSERT INTO jobs(kind, state, spec, parent_id, created) VALUES (?, 'queued', ?, ?, ?)",
                               (kind, json.dumps(spec), parent_id, time.time()))
        return int(cur.lastrowid)

    def set_state(self, job_id: int, state: str, message: str = "") -> None:
        now = time.time()
        if state == "running":
            self._db.execute("UPDATE jobs SET state=?, started=?, message=? WHERE id=?", (state, now, message, job_id))
        else:
            ended = now if state in FINAL_STATES else None
            self._db.execute("UPDATE jobs SET state=?, ended=?, message=? WHERE id=?", (state, ended, message, job_id))

    def finish(self, job_id: int, video: Path, thumbnail: Path, latents: Path | None, settings: dict,
               message: str = "") -> None:
        """Mark done only once the files exist (the worker renamed them into place before reporting)."""
        missing = [str(p) for p in (video, thumbnail, latents) if p is not None and not Path(p).is_file()]
        if missing:
            raise FileNotFoundError(f"job {job_id}: outputs not on disk: {missing}")
        self._db.execute(
            "UPDATE jobs SET state='done', ended=?, message=?, video=?, thumbnail=?, latents=?, settings=? WHERE id=?",
            (time.time(), message, str(video), str(thumbnail), str(latents) if latents else None,
             json.dumps(settings, default=str), job_id))

    def pending(self) -> list[JobRow]:
        rows = self._db.execute("SELECT * FROM jobs WHERE state='queued' ORDER BY id").fetchall()
        return [JobRow.from_sql(r) for r in rows]

    def history(self, text: str = "", kind: str | None = None, states: tuple[str, ...] = FINAL_STATES,
                limit: int = 500) -> list[JobRow]:
        """Ended jobs, newest first, filtered by prompt text and kind."""
        q = f"SELECT * FROM jobs WHERE state IN ({','.join('?' * len(states))})"
        args: list = list(states)
        if text:
            q += " AND spec LIKE ?"
            args.append(f"%{text}%")
        if kind:
            q += " AND kind=?"
            args.append(kind)
        q += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return [JobRow.from_sql(r) for r in self._db.execute(q, args).fetchall()]

    def delete(self, job_id: int) -> None:
        """Remove a finished job's row first, then its files (a crash in between leaves orphans, never dangling rows)."""
        row = self._one(job_id)
        self._db.execute("DELETE FROM jobs WHERE id=?", (job_id,))
        for p in (row.video, row.thumbnail, row.latents):
            if p:
                Path(p).unlink(missing_ok=True)
                if p == row.video:  # its settings sidecar: `clip.mp4.json` (model_runtime.media.mux.sidecar_path)
                    Path(p).with_name(Path(p).name + ".json").unlink(missing_ok=True)

    def recover(self, outputs: Path) -> dict[str, int]:
        """After a crash: running -> interrupted, done rows without files -> missing, temp files removed."""
        counts = {"interrupted": 0, "missing": 0, "temp_removed": 0}
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cur = self._db.execute("UPDATE jobs SET state='interrupted', ended=?, message=? WHERE state='running'",
                                   (time.time(), "interrupted: the app stopped while this job ran"))
            counts["interrupted"] = cur.rowcount
            for r in self._db.execute("SELECT * FROM jobs WHERE state='done'").fetchall():
                row = JobRow.from_sql(r)
                if not all(Path(p).is_file() for p in (row.video, row.thumbnail) if p) or not row.video:
                    self._db.execute("UPDATE jobs SET state='missing', message=?, video=NULL, thumbnail=NULL, "
                                     "latents=NULL WHERE id=?", ("output file missing on disk", row.id))
                    counts["missing"] += 1
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        if outputs.is_dir():
            for p in outputs.iterdir():
                if ".partial" in p.name or p.name.startswith(".tmp-"):
                    p.unlink(missing_ok=True)
                    counts["temp_removed"] += 1
        if any(counts.values()):
            log.warning("recovered job store: %s", counts)
        return counts
