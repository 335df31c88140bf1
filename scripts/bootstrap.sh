#!/usr/bin/env bash
# Create .venv (if missing) and install the project with its development extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# A venv left half-made by an interrupted run (no pip yet) is made again.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  "$PYTHON" -m venv --clear .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e '.[dev]' >&2
  touch "$stamp"
fi
# The example third-party driver (examples/driver-example), registered through its entry
# point: the test suite provisions a plugin through a target that names it.
if ! .venv/bin/python -c "import plugin_db_example_driver" 2>/dev/null; then
  .venv/bin/python -m pip install -q --no-deps -e examples/driver-example >&2
fi
