#!/usr/bin/env bash
# The main job on the embedded default: no server to install (SQLite files, a filesystem broker).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/plugin-db demo "$@"
