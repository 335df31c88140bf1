#!/usr/bin/env bash
# Install (when missing) and start throwaway Redis, PostgreSQL 15 and MariaDB servers on loopback
# ports of their own, or stop them again. Writes the connection settings to $SERVICES_DIR/env.
#   scripts/services.sh start [redis] [postgres] [mariadb]   (default: all three)
#   scripts/services.sh stop
set -euo pipefail

SERVICES_DIR=${PLUGIN_DB_SERVICES_DIR:-/tmp/plugin-db-services}
REDIS_PORT=${PLUGIN_DB_TEST_REDIS_PORT:-16379}
PG_PORT=${PLUGIN_DB_TEST_PG_PORT:-15432}
MYSQL_PORT=${PLUGIN_DB_TEST_MYSQL_PORT:-13306}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
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

start_postgres() {
  local dir=$SERVICES_DIR/pg
  if [ ! -x "$PG_BIN/initdb" ]; then apt_install postgresql-15; fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir" && chown postgres:postgres "$dir"
    su postgres -c "$PG_BIN/initdb -D $dir -A trust -U postgres" >/dev/null
    # the superuser is trusted on loopback; every other role must prove its password
    printf '%s\n' 'local all all trust' 'host all postgres 127.0.0.1/32 trust' \
      'host all all 127.0.0.1/32 scram-sha-256' >"$dir/pg_hba.conf"
  fi
  if ! "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT" >/dev/null 2>&1; then
    su postgres -c "$PG_BIN/pg_ctl -D $dir -l $dir/server.log -o '-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off' start" >/dev/null
    wait_for postgres "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT"
  fi
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT 'CREATE DATABASE tracking' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname='tracking')\gexec
SELECT 'CREATE DATABASE shared' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname='shared')\gexec
SELECT 'CREATE DATABASE plugins' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname='plugins')\gexec
SELECT 'CREATE ROLE plugin_admin LOGIN CREATEROLE PASSWORD ''admin-pw''' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname='plugin_admin')\gexec
SELECT 'CREATE DATABASE plugins_nonsuper OWNER plugin_admin' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname='plugins_nonsuper')\gexec
SQL
  {
    echo "PLUGIN_DB_TEST_PG_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
    echo "PLUGIN_DB_TEST_PG_ADMIN_URL=postgresql://postgres@127.0.0.1:$PG_PORT/plugins"
    echo "PLUGIN_DB_TEST_PG_NONSUPER_ADMIN_URL=postgresql://plugin_admin:admin-pw@127.0.0.1:$PG_PORT/plugins_nonsuper"
    echo "PLUGIN_DB_TEST_PG_TRACKING_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/tracking"
    echo "PLUGIN_DB_TEST_PG_SHARED_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/shared"
  } >>"$ENV_FILE"
}

start_mariadb() {
  local dir=$SERVICES_DIR/mariadb
  command -v mariadbd >/dev/null || apt_install mariadb-server
  mkdir -p "$dir" && chown mysql:mysql "$dir"
  if [ ! -d "$dir/data/mysql" ]; then
    mkdir -p "$dir/data" && chown mysql:mysql "$dir/data"
    mariadb-install-db --user=mysql --datadir="$dir/data" \
      --auth-root-authentication-method=normal --skip-test-db >/dev/null 2>&1
  fi
  if ! mariadb-admin --socket="$dir/my.sock" -uroot ping >/dev/null 2>&1; then
    (mariadbd --user=mysql --datadir="$dir/data" --port="$MYSQL_PORT" --bind-address=127.0.0.1 \
      --socket="$dir/my.sock" --pid-file="$dir/my.pid" --log-error="$dir/error.log" \
      --innodb-flush-log-at-trx-commit=0 --skip-name-resolve --max-connections=300 \
      >/dev/null 2>&1 &)
    wait_for mariadb mariadb-admin --socket="$dir/my.sock" -uroot ping
  fi
  mariadb --socket="$dir/my.sock" -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'admin'@'%' IDENTIFIED BY 'admin-pw';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS shared;
FLUSH PRIVILEGES;
SQL
  {
    echo "PLUGIN_DB_TEST_MYSQL_ADMIN_URL=mysql+pymysql://admin:admin-pw@127.0.0.1:$MYSQL_PORT/"
    echo "PLUGIN_DB_TEST_MYSQL_SHARED_URL=mysql+pymysql://admin:admin-pw@127.0.0.1:$MYSQL_PORT/shared"
  } >>"$ENV_FILE"
}

stop_all() {
  [ -f "$SERVICES_DIR/redis/redis.pid" ] && kill "$(cat "$SERVICES_DIR/redis/redis.pid")" 2>/dev/null || true
  [ -f "$SERVICES_DIR/pg/postmaster.pid" ] && su postgres -c "$PG_BIN/pg_ctl -D $SERVICES_DIR/pg -m immediate stop" >/dev/null 2>&1 || true
  [ -f "$SERVICES_DIR/mariadb/my.pid" ] && kill "$(cat "$SERVICES_DIR/mariadb/my.pid")" 2>/dev/null || true
  log "stopped"
}

case "${1:-}" in
  start)
    shift
    mkdir -p "$SERVICES_DIR/env.d"; chmod 755 "$SERVICES_DIR"
    [ $# -gt 0 ] || set -- redis postgres mariadb
    for service in "$@"; do
      ENV_FILE=$SERVICES_DIR/env.d/$service; : >"$ENV_FILE"
      "start_$service"; log "$service up"
    done
    cat "$SERVICES_DIR"/env.d/* >"$SERVICES_DIR/env"
    echo "$ENV_FILE"
    ;;
  stop) stop_all ;;
  *) echo "usage: $0 start [redis] [postgres] [mariadb] | stop" >&2; exit 2 ;;
esac
