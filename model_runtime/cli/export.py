"""`ltx-studio-cli export IN --preset NAME --out OUT [--in S --out-point S]` and `ltx-studio-cli presets`."""

from __future__ import annotations

import argparse
import sys
import time


def _presets(args: argparse.Namespace) -> int:
    from model_runtime.media.export_presets import list_presets

    for p in list_presets(args.preset_dir or ()):
        size = f"{p.width}x{p.height}" if p.width else "source size"
        limit = f"max {p.max_duration_s:g} s" if p.max_duration_s else "no limit"
        sys.stdout.write(f"{p.name:<20} {p.suffix:<5} {size:<12} {limit:<11} {p.description}\n")
    return 0


class _ProgressLine:
    """A one-line progress readout on stderr, redrawn at most ten times a second."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, ev) -> None:
        now = time.monotonic()
        if ev.step != ev.total and now - self._last < 0.1:
            return
        self._last = now
        eta = f"ETA {ev.eta_s:5.1f} s" if ev.eta_s is not None else "ETA   ..."
        sys.stderr.write(f"\r{ev.stage:<5} {ev.step:>6}/{ev.total:<6} {ev.fraction:6.1%}  {eta}")
        if ev.stage == "video" and ev.step == ev.total:
            sys.stderr.write("\n")


def _export(args: argparse.Namespace) -> int:
    from model_runtime.media.export import export
    from model_runtime.media.export_presets import get_preset

    preset = get_preset(args.preset, args.preset_dir or ())
    result = export(args.input, preset, args.out, in_s=args.in_point, out_s=args.out_point, fit=args.fit,
                    progress=None if args.quiet else _ProgressLine())
    sys.stdout.write(f"{result.path}  {result.width}x{result.height} @ {float(result.fps):g} fps  "
                     f"{result.frames} frames  {result.duration_s:.3f} s\n")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("presets", help="list the export presets")
    p.add_argument("--preset-dir", action="append", help="also read *.toml presets from this folder")
    p.set_defaults(func=_presets)

    e = subparsers.add_parser("export", help="export a clip with a preset (Shorts, Reels, TikTok, masters)")
    e.add_argument("input", help="the clip to export (a muxed MP4)")
    e.add_argument("--preset", required=True, help="preset name (see `ltx-studio-cli presets`)")
    e.add_argument("--out", required=True, help="output file (.mp4, or .mov for the ProRes master)")
    e.add_argument("--in", dest="in_point", type=float, metavar="SECONDS", help="in point (default: start)")
    e.add_argument("--out-point", dest="out_point", type=float, metavar="SECONDS",
                   help="out point (default: end)")
    e.add_argument("--fit", choices=("crop", "pad"), help="crop to fill (default) or pad with bars")
    e.add_argument("--preset-dir", action="append", help="also read *.toml presets from this folder")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    e.set_defaults(func=_export)
