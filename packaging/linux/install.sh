#!/bin/sh
# Install LTX Studio for this user from the unpacked folder: a menu entry and `ltx-studio-cli` on PATH.
# Nothing is copied: the entry and the link point at this folder (move it first if you want it elsewhere).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
apps=${XDG_DATA_HOME:-$HOME/.local/share}/applications
mkdir -p "$apps" "$HOME/.local/bin"
sed "s|@BUNDLE@|$here|g" "$here/ltx-studio.desktop.in" > "$apps/ltx-studio.desktop"
ln -sf "$here/ltx-studio-cli" "$HOME/.local/bin/ltx-studio-cli"
echo "installed: $apps/ltx-studio.desktop and ~/.local/bin/ltx-studio-cli -> $here"
