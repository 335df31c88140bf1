#!/usr/bin/env bash
# Install the Node.js packages the tests use (node/package.json + package-lock.json: Prisma 7,
# its driver adapters, tsx) into .cache/node/<hash of both files>, once; link ./node_modules to
# them and print that folder.
# better-sqlite3's native module is built from source (npm runs no install scripts itself); if
# it does not build, the folder records it in sqlite-adapter.failed and the rest still works.
# Exits 1 with a clear message when Node.js or npm is missing or the registry is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "scripts/node-deps.sh: $*" >&2; exit 1; }
command -v node >/dev/null || fail "node is not installed (Node.js 20+ is needed for the Prisma tests)"
command -v npm >/dev/null || fail "npm is not installed (it comes with Node.js)"
key=$(cat node/package.json node/package-lock.json | sha256sum | cut -c1-16)
dir=${PLUGIN_DB_NODE_CACHE:-$PWD/.cache/node}/$key
if [ ! -f "$dir/.ready" ]; then
  mkdir -p "$dir"
  cp node/package.json node/package-lock.json "$dir/"
  export PRISMA_SCHEMA_ENGINE_BINARY=/bin/true PRISMA_QUERY_ENGINE_LIBRARY=/bin/true CHECKPOINT_DISABLE=1
  if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >"$dir/npm.log" 2>&1); then
    tail -5 "$dir/npm.log" >&2
    fail "npm ci failed (is the npm registry $(npm config get registry) reachable?); see $dir/npm.log"
  fi
  rm -f "$dir/sqlite-adapter.failed"
  if ! (cd "$dir" && npm rebuild better-sqlite3 >"$dir/rebuild.log" 2>&1 \
        && node -e "new (require('better-sqlite3'))(':memory:')" >>"$dir/rebuild.log" 2>&1); then
    echo "better-sqlite3 did not build; see rebuild.log" >"$dir/sqlite-adapter.failed"
  fi
  touch "$dir/.ready"
fi
# Scripts in the repository (examples/, tests/) resolve their imports from ./node_modules.
ln -sfn "$dir/node_modules" node_modules
echo "$dir"
