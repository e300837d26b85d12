#!/usr/bin/env bash
# Type-check every source and test file: mypy --strict, settings in pyproject.toml.
# `uv run mypy` covers the sources and the test folders whose paths are Python module paths.
# mypy cannot name the files of a test folder under a hyphenated package (libs/sandbox-fortnox):
# they become top-level modules named by file name (`conftest`, `test_service`), which clash
# between packages, so each such folder gets a run of its own, where its files import their own
# `conftest` as pytest lets them. The runs share one cache (a warm run takes a second or so).
set -uo pipefail
cd "$(dirname "$0")/../.."
shopt -s nullglob

status=0
uv run mypy || status=1
for tests in libs/*/tests services/*/tests; do
  case "$tests" in
    *-*/tests) uv run mypy "$tests" || status=1 ;;
    *)
      # A package without a hyphen: its tests belong in the one run.
      if ! grep -q "\"$tests\"" pyproject.toml; then
        echo "typecheck: $tests is not checked: add it to [tool.mypy] files in pyproject.toml"
        status=1
      fi
      ;;
  esac
done
exit "$status"
