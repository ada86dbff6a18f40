"""`ltx-studio-cli models list|scan|verify|download|remove|token`: the Models page from a terminal.

`download` prints one line per file state change and a progress line (percent, speed, ETA) on stderr;
Ctrl-C pauses (the bytes so far stay in the models folder's .partial/ and the next run resumes).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI's modules import only the standard library at their top (fast `--help`)
    from model_runtime.hub.catalogue import Catalogue
    from model_runtime.hub.store import ModelStore
    from model_runtime.hub.transfer import FileProgress

log = logging.getLogger(__name__)


def _store(args: argparse.Namespace) -> ModelStore:
    from model_runtime.hub.store import ModelStore, default_models_dir

    return ModelStore(args.models_dir or default_models_dir())


def _catalogue(args: argparse.Namespace) -> Catalogue:
    from model_runtime.hub.catalogue import load_catalogue

    return load_catalogue(args.catalogue)


def _recommendation(cat: Catalogue, variant: str = "distilled"):
    from model_runtime.hub.recommend import recommend
    from model_runtime.memory.machine import detect

    return recommend(cat, detect(use_torch=False).capacity(), variant)


def _list(args: argparse.Namespace) -> int:
    from model_runtime.hub.overview import overview

    cat, store = _catalogue(args), _store(args)
    rec = _recommendation(cat, args.variant)
    rows = overview(cat, store, rec)
    if args.json:
        sys.stdout.write(json.dumps({
            "models_dir": str(store.root), "recommended_weights": rec.weights, "plan": rec.plan_summary,
            "notes": list(rec.notes),
            "items": [{"id": r.item.id, "role": r.item.role, "title": r.item.title, "purpose": r.item.purpose,
                       "size_bytes": r.item.size_bytes, "state": r.state, "path": r.path, "source": r.source,
                       "recommended": r.recommended, "partial_bytes": r.partial_bytes, "gated": r.item.gated}
                      for r in rows]}, indent=2) + "\n")
        return 0
    out = [f"models folder: {store.root}", f"this machine: {rec.weights} weights recommended ({rec.plan_summary})"]
    out += [f"note: {n}" for n in rec.notes]
    out.append(f"{'':2}{'id':<24}{'role':<14}{'size':>18}  {'state':<28}purpose")
    for r in rows:
        mark = "*" if r.recommended else " "
        state = r.state + (f" ({r.partial_bytes / 1e9:.2f} GB here)" if r.partial_bytes else "")
        out.append(f"{mark} {r.item.id:<24}{r.item.role:<14}{r.size_label:>18}  {state:<28}{r.item.purpose}")
        if r.path:
            out.append(f"{'':40}at {r.path} ({r.source})")
    out.append("* recommended for this machine: `ltx-studio-cli models download --recommended`")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _scan(args: argparse.Namespace) -> int:
    from model_runtime.hub.adopt import adopt, scan_everywhere

    cat, store = _catalogue(args), _store(args)
    found = scan_everywhere(cat, args.folders)
    if not found:
        sys.stdout.write("nothing from the catalogue found (HF cache, ComfyUI, LTX-Desktop"
                         + (", " + ", ".join(args.folders) if args.folders else "") + ")\n")
        return 0
    for f in found:
        line = f"{f.item_id:<24}{f.size / 1e9:>8.2f} GB  {f.source:<12}{f.path}"
        if args.adopt:
            inst = adopt(f, cat, store, link=args.hardlink)
            line += f"  -> adopted ({'hard link' if inst.path != f.path else 'used in place'})"
        sys.stdout.write(line + "\n")
    if not args.adopt:
        sys.stdout.write("add --adopt to use these in place (nothing is copied)\n")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from model_runtime.hub.auth import find_token
    from model_runtime.hub.verify import verify_item

    cat, store = _catalogue(args), _store(args)
    installed = store.load()
    ids = args.ids or sorted(installed)
    bad = 0
    for item_id in ids:
        cat.get(item_id)
        inst = installed.get(item_id)
        if inst is None:
            sys.stdout.write(f"{item_id:<24}not installed\n")
            bad += 1
            continue
        r = verify_item(inst, cat, store, full=args.full, token=find_token().token, online=not args.offline)
        sys.stdout.write(f"{item_id:<24}{'OK  ' if r.ok else 'FAIL'} {r.message}\n")
        bad += not r.ok
    return 1 if bad else 0


class _Printer:
    """Prints each state change as a line and a throttled progress line for the running file."""

    def __init__(self) -> None:
        self._last: dict[str, object] = {}
        self._t = 0.0

    def __call__(self, p: FileProgress) -> None:
        from model_runtime.hub.transfer import FileState

        key = f"{p.item_id}/{p.path}"
        pct = 100.0 * p.done_bytes / p.total_bytes if p.total_bytes else 100.0
        if self._last.get(key) != p.state:
            self._last[key] = p.state
            sys.stderr.write(f"[{p.state.value}] {key} {pct:.0f}% {p.message}\n")
        elif p.state is FileState.DOWNLOADING and time.monotonic() - self._t > 1.0:
            self._t = time.monotonic()
            eta = f"{p.eta_s:.0f} s" if p.eta_s is not None else "?"
            sys.stderr.write(f"    {key} {pct:5.1f}% {p.done_bytes / 1e9:.2f}/{p.total_bytes / 1e9:.2f} GB "
                             f"{p.speed_bps / 1e6:.1f} MB/s ETA {eta}\n")


def _download(args: argparse.Namespace) -> int:
    from model_runtime.hub.auth import find_token
    from model_runtime.hub.errors import DownloadPaused
    from model_runtime.hub.transfer import DownloadControl, ItemDownload

    cat, store = _catalogue(args), _store(args)
    if args.recommended:
        items = list(_recommendation(cat, args.variant).items)
    elif args.ids:
        items = [cat.get(i) for i in args.ids]
    else:
        sys.stderr.write("error: name catalogue ids or give --recommended (see `ltx-studio-cli models list`)\n")
        return 2
    token = find_token()
    control = DownloadControl()

    def on_sigint(*_):  # first Ctrl-C pauses at the next chunk (bytes kept); a second one stops at once
        if control.stopping:
            raise KeyboardInterrupt
        control.pause()
        sys.stderr.write("pausing… (Ctrl-C again to stop now; the bytes so far are kept either way)\n")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        for item in items:
            inst = ItemDownload(item, store, token=token.token, control=control, progress=_Printer()).run()
            sys.stdout.write(f"{item.id}: verified at {inst.path}\n")
    except DownloadPaused as exc:
        sys.stderr.write(f"{exc}\n")
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


def _remove(args: argparse.Namespace) -> int:
    cat, store = _catalogue(args), _store(args)
    for item_id in args.ids:
        cat.get(item_id)
        inst = store.drop(item_id)
        if inst is None:
            sys.stdout.write(f"{item_id}: not installed\n")
        elif inst.adopted:
            sys.stdout.write(f"{item_id}: forgotten; your file at {inst.path} was left untouched\n")
        else:
            target = inst.file_path("")
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
            sys.stdout.write(f"{item_id}: deleted {target}\n")
    return 0


def _token(args: argparse.Namespace) -> int:
    from model_runtime.hub.auth import find_token, forget_token, store_token

    if args.action == "set":
        store_token(sys.stdin.readline())
        sys.stdout.write("token stored in the OS keyring\n")
    elif args.action == "forget":
        forget_token()
        sys.stdout.write("token removed from the OS keyring (an `hf auth login` token is not touched)\n")
    else:
        info = find_token()
        sys.stdout.write(f"token: {'present' if info.present else 'none'} (from {info.source})\n")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list, find, verify, download and remove model files")
    sub = p.add_subparsers(dest="models_command", required=True)

    def common(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--models-dir", help="models folder (default: ltx-studio/models in the platform's data folder)")
        sp.add_argument("--catalogue", help="catalogue TOML (default: the one shipped with LTX Studio)")
        return sp

    ls = common(sub.add_parser("list", help="catalogue items, their state and what fits this machine"))
    ls.add_argument("--variant", choices=("distilled", "dev"), default="distilled")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    sc = common(sub.add_parser("scan", help="find files you already have (HF cache, ComfyUI, LTX-Desktop, folders)"))
    sc.add_argument("folders", nargs="*", help="more folders to search")
    sc.add_argument("--adopt", action="store_true", help="use what was found in place")
    sc.add_argument("--hardlink", action="store_true", help="hard-link found files into the models folder")
    sc.set_defaults(func=_scan)
    ve = common(sub.add_parser("verify", help="check installed files' checksums"))
    ve.add_argument("ids", nargs="*")
    ve.add_argument("--full", action="store_true", help="hash even files unchanged since their last check")
    ve.add_argument("--offline", action="store_true", help="do not ask the hub for checksums")
    ve.set_defaults(func=_verify)
    dl = common(sub.add_parser("download", help="download (or resume) catalogue items, verified"))
    dl.add_argument("ids", nargs="*")
    dl.add_argument("--recommended", action="store_true", help="the set that fits this machine")
    dl.add_argument("--variant", choices=("distilled", "dev"), default="distilled")
    dl.set_defaults(func=_download)
    rm = common(sub.add_parser("remove", help="delete a download, or forget an adopted file (never deleted)"))
    rm.add_argument("ids", nargs="+")
    rm.set_defaults(func=_remove)
    tk = sub.add_parser("token", help="the Hugging Face token: status, set (read from stdin), forget")
    tk.add_argument("action", choices=("status", "set", "forget"))
    tk.set_defaults(func=_token)
