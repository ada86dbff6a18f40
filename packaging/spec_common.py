"""What every platform's spec shares: the analysis (every data file, every module reached through
importlib) and the two executables (the app and the console CLI) in one onedir COLLECT.

A spec calls `build(globals(), **platform_options)`; PyInstaller's spec names (Analysis, PYZ, EXE,
COLLECT, SPECPATH) live in the spec's globals, so they are passed in rather than imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "ltx-studio"
#: package data that must be inside the bundle (checked by packaging/bundle.py after every build)
DATA_PACKAGES = ("ltx_studio", "model_runtime")
#: distributions whose metadata (and their dependencies', recursively) the bundle carries
METADATA_ROOTS = ("diffusers", "transformers", "torch", "huggingface_hub", "keyring", "safetensors", "av")


def build(g: dict, *, icon: str | None = None, windowed_console: bool = False) -> object:
    from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

    specpath = Path(g["SPECPATH"])
    root = specpath.parent
    sys.path.insert(0, str(root))
    from ltx_studio import __version__

    # format presets (ltx_studio/presets), export presets (model_runtime/media/presets), the model
    # catalogue and the planner's layout (model_runtime/hub): every non-Python file of both packages
    datas = [d for pkg in DATA_PACKAGES for d in collect_data_files(pkg)]
    # package metadata (dist-info) of every dependency: diffusers and transformers check their
    # requirements' versions with importlib.metadata at import time (a frozen app without it fails its
    # first job with "No package metadata was found for requests"; found by the bundle smoke test)
    for dist in METADATA_ROOTS:
        datas += copy_metadata(dist, recursive=True)
    # CLI subcommands, golden sections, pipelines, components and the memory executors are imported by
    # name at run time: PyInstaller's import scan cannot see them, so every submodule is listed
    hidden = [m for pkg in DATA_PACKAGES for m in collect_submodules(pkg)]
    # Ray (the optional `cluster` extra, hundreds of MB) stays out of the bundle even when the build venv
    # has it: a bundled app asked for a cluster says to install the extra (model_runtime.cluster.client)
    a = g["Analysis"]([str(specpath / "entry.py")], pathex=[str(root)], datas=datas, hiddenimports=hidden,
                      hookspath=[str(specpath / "hooks" / sys.platform)], excludes=["tkinter", "ray"])
    pyz = g["PYZ"](a.pure)
    exe = g["EXE"]
    app = exe(pyz, a.scripts, [], exclude_binaries=True, name=NAME, console=windowed_console, icon=icon)
    cli = exe(pyz, a.scripts, [], exclude_binaries=True, name=f"{NAME}-cli", console=True, icon=icon)
    return g["COLLECT"](app, cli, a.binaries, a.datas, name=f"{NAME}-{__version__}")
