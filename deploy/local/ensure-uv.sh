#!/usr/bin/env bash
# Sourced by the other scripts: makes `uv` available (installed from PyPI when missing).
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv >&2 || {
    echo "ordreflyt: could not install uv from PyPI (python3 -m pip install uv)" >&2; exit 1; }
  export PATH="$HOME/.local/bin:$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
fi
