"""A small hub-compatible HTTP server over local folders, for download tests and benchmarks.

Why not olah (the PyPI hub mirror)? Tried first: its local-mirror mode serves git repositories but
ignores Range (no resume possible), has no gated-repo answer, and it cannot be installed next to this
project (fastapi-utils, an olah dependency, pins psutil<6; we pin psutil==7.2.2). So this is the next
best real server: a separate process speaking the part of the hub's HTTP API huggingface_hub uses to
download (HEAD/GET resolve with ETag/X-Repo-Commit/Range, the tree and revision APIs, 401 GatedRepo).
It is a real socket server, killed for real in tests; nothing inside huggingface_hub is mocked.

    python tests/support/hub_server.py --root REPOS [--rate B/s] [--die-after BYTES] [--token T] [--log F]

REPOS/<org>/<name>/... are repositories; a `.gated` file in one makes it answer 401 without the token.
Files over 1 KiB (and every *.safetensors) are "LFS": their ETag is their sha256, like the hub's.
Prints `PORT <n>` once listening. --die-after exits the process (os._exit) mid-stream after that many
content bytes, which is what a crashed or killed server looks like to the client.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_MIN = 1024
CHUNK = 64 * 1024


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def _git_sha1(p: Path) -> str:
    data = p.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324


class Repo:
    def __init__(self, root: Path, repo_id: str) -> None:
        self.id, self.dir = repo_id, root / repo_id
        self.gated = (self.dir / ".gated").exists()
        self.files = sorted(str(p.relative_to(self.dir)) for p in self.dir.rglob("*")
                            if p.is_file() and not p.name.startswith("."))
        self.commit = hashlib.sha1(repr((repo_id, self.files)).encode()).hexdigest()  # noqa: S324
        self._meta: dict[str, dict] = {}

    def meta(self, path: str) -> dict:
        if path not in self._meta:
            p = self.dir / path
            size = p.stat().st_size
            lfs = size >= LFS_MIN or path.endswith(".safetensors")
            self._meta[path] = {"size": size, "lfs": lfs, "oid": _git_sha1(p),
                                "sha256": _sha256(p) if lfs else ""}
        return self._meta[path]


class State:
    def __init__(self, args: argparse.Namespace) -> None:
        self.root, self.rate, self.die_after, self.token = Path(args.root), args.rate, args.die_after, args.token
        self.log_path = Path(args.log) if args.log else None
        self.sent = 0
        self.lock = threading.Lock()

    def repo(self, repo_id: str) -> Repo | None:
        return Repo(self.root, repo_id) if (self.root / repo_id).is_dir() else None

    def log(self, **rec) -> None:
        if self.log_path:
            with self.lock, open(self.log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")


class Handler(BaseHTTPRequestHandler):
    server_version = "tiny-hub/1"
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, *_args) -> None:  # quiet: the JSON log is the record
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, code: int = 200) -> None:
        self._send(code, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    def _error(self, code: int, error_code: str, message: str) -> None:
        self._send(code, json.dumps({"error": message}).encode(),
                   {"Content-Type": "application/json", "X-Error-Code": error_code, "X-Error-Message": message})

    def _allowed(self, repo: Repo) -> bool:
        if not repo.gated:
            return True
        if self.headers.get("Authorization", "") == f"Bearer {self.state.token}" and self.state.token:
            return True
        self._error(401, "GatedRepo", f"Access to model {repo.id} is restricted. You must have access to it "
                                      "and be authenticated to access it. Please log in.")
        return False

    def do_HEAD(self) -> None:  # noqa: N802
        self._route()

    def do_GET(self) -> None:  # noqa: N802
        self._route()

    def _route(self) -> None:
        parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
        if len(parts) >= 5 and parts[0] == "api" and parts[1] == "models":
            return self._api(parts[2] + "/" + parts[3], parts[4:])
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(parts[0] + "/" + parts[1], parts[3], "/".join(parts[4:]))
        self._error(404, "EntryNotFound", "no such route")

    def _api(self, repo_id: str, rest: list[str]) -> None:
        repo = self.state.repo(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
        if not self._allowed(repo):
            return None
        if rest[0] == "revision":
            return self._json({"id": repo.id, "modelId": repo.id, "sha": repo.commit, "private": False,
                               "gated": "manual" if repo.gated else False,
                               "siblings": [{"rfilename": f} for f in repo.files]})
        if rest[0] == "tree":
            sub = "/".join(rest[2:])
            out = []
            for f in repo.files:
                if sub and not f.startswith(sub + "/"):
                    continue
                m = repo.meta(f)
                entry = {"type": "file", "oid": m["oid"], "size": m["size"], "path": f}
                if m["lfs"]:
                    entry["lfs"] = {"oid": m["sha256"], "size": m["size"], "pointerSize": 134}
                out.append(entry)
            return self._json(out)
        return self._error(404, "EntryNotFound", "no such api route")

    def _resolve(self, repo_id: str, revision: str, path: str) -> None:
        repo = self.state.repo(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
        if not self._allowed(repo):
            return None
        if revision not in ("main", repo.commit):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        if path not in repo.files:
            return self._error(404, "EntryNotFound", f"{path} does not exist in {repo_id}")
        m = repo.meta(path)
        etag = m["sha256"] if m["lfs"] else m["oid"]
        size = m["size"]
        start = 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
        code = 206 if start else 200
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes",
                   "Content-Length": size - start, "Content-Type": "application/octet-stream"}
        if m["lfs"]:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = size
        if start:
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command == "HEAD":
            return None
        self._stream(repo.dir / path, start, path)
        return None

    def _stream(self, file: Path, start: int, path: str) -> None:
        st = self.state
        sent = 0
        t0 = time.monotonic()
        try:
            with open(file, "rb") as f:
                f.seek(start)
                while chunk := f.read(CHUNK):
                    if st.die_after is not None:
                        with st.lock:
                            left = st.die_after - st.sent
                        if left <= 0:
                            st.log(event="die", path=path, start=start, sent=sent)
                            os._exit(3)
                        chunk = chunk[:left]
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    with st.lock:
                        st.sent += len(chunk)
                    if st.rate:
                        ahead = sent / st.rate - (time.monotonic() - t0)
                        if ahead > 0:
                            time.sleep(ahead)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            st.log(event="get", path=path, start=start, sent=sent)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.0, help="bytes per second per response (0: unlimited)")
    ap.add_argument("--die-after", type=int, default=None, help="exit after sending this many content bytes")
    ap.add_argument("--token", default="", help="the token gated repositories accept")
    ap.add_argument("--log", default="")
    args = ap.parse_args(argv)
    Handler.state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    sys.stdout.write(f"PORT {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
