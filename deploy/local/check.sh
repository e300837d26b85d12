#!/usr/bin/env bash
# The checks CI runs before the tests: format, lint (ruff, settings in pyproject.toml) and types
# (deploy/local/typecheck.sh). Installs like test.sh; runs every check, fails if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
source deploy/local/ensure-uv.sh
uv sync --frozen --quiet || exit 1

status=0
uv run ruff format --check . || status=1
uv run ruff check . || status=1
deploy/local/typecheck.sh || status=1
exit "$status"
