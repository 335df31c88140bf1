"""Shared mode's platform tables, their DDL, the feature-flag row and prefix ownership."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

import psycopg
import pymysql

from providers.base import PluginSpec
from providers.errormap import PSYCOPG_RULES, PYMYSQL_RULES, SQLITE_RULES, ErrorMap

REGISTRY, ARCHIVE_MAP, FLAGS = "plugin_namespaces", "plugin_archived_tables", "feature_flags"
PLATFORM_TABLES = frozenset({REGISTRY, ARCHIVE_MAP, FLAGS})
PLATFORM_OWNER = "platform"  # a reserved plugin id: the owner reported for platform tables
ARCHIVE_PREFIX = "_archived_"
CONNECT_TIMEOUT = 5
DB_ERRORS = (sqlite3.Error, psycopg.Error, pymysql.err.MySQLError)
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError, pymysql.err.IntegrityError)
_KIND_SQL = {
    "table": "TABLE",
    "view": "VIEW",
    "matview": "MATERIALIZED VIEW",
    "sequence": "SEQUENCE",
}
_DDL = {
    REGISTRY: "(plugin_id VARCHAR(64) PRIMARY KEY, prefix VARCHAR(64) NOT NULL,"
    " state VARCHAR(16) NOT NULL, feature_flag VARCHAR(255), created_at VARCHAR(40) NOT NULL)",
    ARCHIVE_MAP: "(archived_name VARCHAR(128) PRIMARY KEY, plugin_id VARCHAR(64) NOT NULL,"
    " kind VARCHAR(16) NOT NULL, name VARCHAR(128) NOT NULL)",
    FLAGS: "(id VARCHAR(255) PRIMARY KEY, name VARCHAR(255) NOT NULL, description TEXT,"
    " enabled_by_default BOOLEAN NOT NULL DEFAULT FALSE, category VARCHAR(64) NOT NULL)",
}


def feature_flag_id(spec: PluginSpec) -> str:
    """The plugin's feature flag: the manifest's, else ``ff-plugin-<id>-enabled``."""
    return spec.feature_flag or f"ff-plugin-{spec.plugin_id}-enabled"


def _flag_row(spec: PluginSpec) -> dict[str, object]:
    """The ``feature_flags`` row of a plugin, as in seeds/000: disabled, category 'plugin'."""
    return {
        "id": feature_flag_id(spec),
        "name": f"Plugin: {spec.plugin_id}",
        "description": f"Enable {spec.plugin_id} features",
        "enabled_by_default": False,
        "category": "plugin",
    }


def longest_owner(name: str, prefixes: Mapping[str, str]) -> str | None:
    """The value of the longest key of ``prefixes`` that ``name`` starts with."""
    matches = [p for p in prefixes if name.startswith(p)]
    return prefixes[max(matches, key=len)] if matches else None


ERRORS = ErrorMap(
    (*SQLITE_RULES, *PSYCOPG_RULES[1:], *PYMYSQL_RULES),
    lambda exc, backend: f"shared database ({backend}): {exc}",
)
"""Errors of the three client libraries a shared database may use."""
