"""Build the Linux bundle from a clean clone and prove it works: `./dev bundle` runs this.

1. `git clone` the checkout's HEAD into a temp folder (only committed files go in: a stray local file
   cannot make the build pass), then run PyInstaller on its spec with that clone first on the path.
2. Add the desktop entry, its icon and `install.sh`; pack `ltx-studio-<version>-linux-<arch>.tar.gz`.
3. Smoke-test the bundle: every data file of both packages is inside; the bundled CLI lists the export
   presets, the model catalogue and (with the fixtures) passes check-goldens; the bundled app passes
   `--self-test --screenshot` under Xvfb (a draft and a render through the real window and worker);
   the tar.gz, unpacked elsewhere, runs with an empty environment (no Python on PATH).

Usage: python packaging/bundle.py [--out DIR] [--keep-clone] [--no-smoke] [--fixtures DIR]
Exit status 0 only if every step passed.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

log = logging.getLogger("bundle")
REPO = Path(__file__).resolve().parents[1]
DATA_PACKAGES = ("ltx_studio", "model_runtime")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    log.info("$ %s", " ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], text=True, capture_output=True, **kw)


def clean_clone(dest: Path) -> Path:
    r = run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(dest)])
    if r.returncode:
        raise SystemExit(f"git clone failed: {r.stderr.strip()}")
    dirty = run(["git", "-C", str(REPO), "status", "--porcelain"]).stdout.strip()
    if dirty:
        log.warning("the checkout has uncommitted changes: they are NOT in the bundle (built from HEAD)")
    return dest


def build(src: Path, out: Path) -> Path:
    env = dict(os.environ, PYTHONPATH=str(src))
    t0 = time.perf_counter()
    r = run([sys.executable, "-m", "PyInstaller", src / "packaging" / "ltx_studio.spec", "--noconfirm",
             "--log-level", "WARN", "--distpath", out / "dist", "--workpath", out / "build"], env=env, cwd=src)
    if r.returncode:
        sys.stderr.write(r.stdout[-4000:] + r.stderr[-8000:])
        raise SystemExit("PyInstaller failed")
    version = run([sys.executable, "-c", "import ltx_studio; print(ltx_studio.__version__)"], env=env).stdout.strip()
    bundle = out / "dist" / f"ltx-studio-{version}"
    log.info("built %s in %.0f s", bundle, time.perf_counter() - t0)
    for name in ("ltx-studio.desktop.in", "ltx-studio.svg", "install.sh"):
        shutil.copy2(src / "packaging" / "linux" / name, bundle / name)
    return bundle


def pack(bundle: Path) -> Path:
    tar = bundle.parent / f"{bundle.name}-linux-{platform.machine()}.tar.gz"
    with tarfile.open(tar, "w:gz", compresslevel=3) as tf:
        tf.add(bundle, arcname=bundle.name)
    return tar


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())


class Smoke:
    def __init__(self, bundle: Path, src: Path, fixtures: Path | None) -> None:
        self.bundle, self.src, self.fixtures = bundle, src, fixtures
        self.failures: list[str] = []

    def check(self, ok: bool, what: str, detail: str = "") -> None:
        log.info("%s %s", "PASS" if ok else "FAIL", what)
        if not ok:
            self.failures.append(f"{what}: {detail.strip()[-2000:]}")

    def data_files(self) -> None:
        tracked = run(["git", "-C", str(self.src), "ls-files", *DATA_PACKAGES]).stdout.split()
        data = [p for p in tracked if not p.endswith(".py")]
        internal = self.bundle / "_internal"
        missing = [p for p in data if not (internal / p).is_file()]
        self.check(bool(data) and not missing, f"{len(data)} data files inside the bundle", f"missing: {missing}")

    def cli(self, env: dict, tmp: Path) -> None:
        exe = self.bundle / "ltx-studio-cli"
        r = run([exe, "presets"], env=env, timeout=300)
        names = [p.stem for p in (self.src / "model_runtime" / "media" / "presets").glob("*.toml")]
        self.check(r.returncode == 0 and all(n.replace("_", "-") in r.stdout or n in r.stdout for n in names),
                   "bundled `ltx-studio-cli presets` lists every export preset", r.stdout + r.stderr)
        r = run([exe, "models", "list", "--models-dir", tmp / "models"], env=env, timeout=300)
        self.check(r.returncode == 0 and "gemma-3-12b-it" in r.stdout,
                   "bundled `ltx-studio-cli models list` reads the catalogue and plans", r.stdout + r.stderr)
        if self.fixtures and (self.fixtures / "ltx23_tiny").is_dir():
            r = run([exe, "check-goldens", self.fixtures / "ltx23_tiny"], env=env, timeout=1800)
            self.check(r.returncode == 0 and "FAIL" not in r.stdout,
                       "bundled `ltx-studio-cli check-goldens` passes", r.stdout[-3000:] + r.stderr[-3000:])
        else:
            log.warning("SKIP check-goldens: no fixtures (pass --fixtures DIR)")

    def app(self, env: dict, tmp: Path) -> None:
        shot = tmp / "self-test.png"
        cmd = [self.bundle / "ltx-studio", "--self-test", "--screenshot", shot, "--profile", tmp / "profile"]
        if shutil.which("xvfb-run") and not env.get("DISPLAY"):
            cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", *cmd]
        r = run(cmd, env=env, timeout=1800)
        self.check(r.returncode == 0 and shot.is_file() and shot.stat().st_size > 0,
                   "bundled `ltx-studio --self-test --screenshot` under Xvfb", r.stdout[-3000:] + r.stderr[-3000:])

    def tarball(self, tar: Path, tmp: Path) -> None:
        dest = tmp / "unpacked"
        dest.mkdir()
        with tarfile.open(tar) as tf:
            tf.extractall(dest, filter="tar")
        exe = dest / self.bundle.name / "ltx-studio-cli"
        r = run([exe, "--version"], env={"PATH": "/nonexistent", "HOME": str(tmp)}, timeout=300)
        self.check(r.returncode == 0 and "ltx-studio-cli" in r.stdout,
                   "tar.gz unpacked elsewhere runs with no Python on PATH", r.stdout + r.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path.home() / ".cache" / "ltx-studio-dev" / "bundle")
    ap.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    ap.add_argument("--keep-clone", action="store_true")
    ap.add_argument("--no-smoke", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[bundle] %(message)s", stream=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ltx-bundle-", dir=args.out))
    try:
        src = clean_clone(work / "src")
        shutil.rmtree(args.out / "dist", ignore_errors=True)
        bundle = build(src, args.out)
        tar = pack(bundle)
        log.info("bundle %s: %.2f GB on disk; %s: %.2f GB", bundle.name, dir_size(bundle) / 1e9, tar.name,
                 tar.stat().st_size / 1e9)
        if args.no_smoke:
            return 0
        smoke = Smoke(bundle, src, args.fixtures if args.fixtures.is_dir() else None)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env["QT_QPA_PLATFORM"] = env.get("QT_QPA_PLATFORM", "xcb")
        smoke.data_files()
        smoke.cli(env, work)
        smoke.app(env, work)
        smoke.tarball(tar, work)
        if smoke.failures:
            sys.stderr.write("bundle smoke test FAILED:\n" + "\n".join(f"  - {f}" for f in smoke.failures) + "\n")
            return 1
        log.info("bundle smoke test passed: %s", bundle)
        return 0
    finally:
        if not args.keep_clone:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
