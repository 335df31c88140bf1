# syntax=docker/dockerfile:1
# The plugin-db image: the `plugin-db` command line, the Celery worker/beat, and Flower.
# Built by docker-compose.yml for the migrate, worker, beat and flower services.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged account owns nothing but the data directory.
RUN groupadd --system --gid 10001 plugin-db \
 && useradd --system --uid 10001 --gid plugin-db --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin plugin-db

WORKDIR /app

# Engine clients for snapshots and restores: pg_dump/pg_restore, mariadb-dump/mariadb.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client mariadb-client \
 && rm -rf /var/lib/apt/lists/*

# Dependencies and code first, examples last, so editing an example does not reinstall.
# README* may be absent: the wildcard keeps the build working either way.
COPY pyproject.toml README* ./
COPY worker/ worker/
COPY tasks/ tasks/
COPY providers/ providers/
RUN pip install . "flower>=2.0,<3" \
 && rm -rf build ./*.egg-info

COPY examples/ examples/

# /data holds SQLite plugin files (PLUGIN_DB_DATA_DIR); a fresh named volume mounted there
# inherits this ownership. /plugins is where plugin folders are mounted (PLUGIN_DB_PLUGINS_ROOT).
RUN mkdir -p /data /plugins \
 && chown plugin-db:plugin-db /data

ENV PLUGIN_DB_DATA_DIR=/data \
    PLUGIN_DB_PLUGINS_ROOT=/plugins

USER plugin-db:plugin-db

CMD ["plugin-db", "worker"]
