#!/usr/bin/env bash
# Install (when missing) the Debian tools the tests drive: promtool (package prometheus) for the
# alert rules, docker-compose to validate docker-compose.yml (no Docker engine is needed), and
# chromium for the console's browser tests (Playwright drives it; its own download is unreachable),
# curl and jq for the README's install flow.
set -euo pipefail
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v chromium >/dev/null || missing+=(chromium)
command -v curl >/dev/null || missing+=(curl)  # the README's install flow, run by tests/api
command -v jq >/dev/null || missing+=(jq)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[tools] installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3 4 5 6; do  # apt's lock may be held for a while by another install
  if apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    exit 0
  fi
  echo "[tools] apt-get failed (attempt $attempt); retrying" >&2
  sleep 10
done
exit 1
