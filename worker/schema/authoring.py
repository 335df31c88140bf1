"""Schemas as people write them, mapped to the stored form before validation.

Authors write Prisma's naming (``CustomReport``, ``ReportStatus``, ``createdAt``) or snake_case,
with or without the plugin prefix. The mapping is deterministic and idempotent:

* every name is snake_cased (``CustomReport`` → ``custom_report``, ``createdAt`` →
  ``created_at``, ``URLPath`` → ``url_path``);
* table, enum, index and constraint names are composed with the plugin prefix unless they
  already carry it (``custom_report`` → ``my_plugin_custom_report``), in every mode. In shared
  mode that keeps plugins apart in one database; in an exclusive database it keeps the
  declarative tables apart from the ones migration files and the ledger create. The prefix
  is never required from the author, so the ownership guard always holds;
* fields typed with an enum and relationships naming a table of the same document follow
  their target's mapping (a ``source`` is always mapped); a relationship target that is not
  declared in the document (a core table, another plugin's table) is kept as written;
* ``namespace`` values are snake_cased, so ``customReports`` names ``custom_reports``.

Only strings that look like identifiers (letters, digits, '_', starting with a letter) are
mapped; anything else is left for validation to refuse, with the mapped form as suggestion.
The Prisma export maps the stored names back (``@@map`` / ``@map``), so a client reads
``prisma.customReport``.
"""

from __future__ import annotations

import re
from typing import Any

from worker.naming import namespace

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(name: str) -> str:
    """``CustomReport`` → ``custom_report``; snake_case is returned unchanged."""
    return _BOUNDARY.sub("_", name).lower()


def suggestion(name: str) -> str:
    """The identifier closest to ``name``, shown when it cannot be mapped."""
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    cleaned = re.sub(r"^[^A-Za-z]+", "", cleaned)
    return snake(cleaned)[:63] or "items"


def owned(name: str, plugin_id: str) -> str:
    """The stored name of a table or enum: snake_case under the plugin prefix."""
    if not _IDENT.fullmatch(name):
        return name
    prefix = namespace(plugin_id) + "_"
    mapped = snake(name)
    return mapped if mapped.startswith(prefix) else prefix + mapped


def column(name: object) -> object:
    """The stored name of a field (snake_case); non-identifiers are left to validation."""
    return snake(name) if isinstance(name, str) and _IDENT.fullmatch(name) else name


def normalize(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a decoded document with every name in its stored form."""
    plugin_id = data.get("pluginId")
    if not isinstance(plugin_id, str) or not plugin_id:
        return data
    out = dict(data)
    tables = _items(data.get("tables"))
    enums = _items(data.get("enums"))
    table_names = _renames(tables, plugin_id)
    enum_names = _renames(enums, plugin_id)
    if isinstance(data.get("tables"), list):
        out["tables"] = [_table(t, plugin_id, enum_names) for t in data["tables"]]
    if isinstance(data.get("enums"), list):
        out["enums"] = [_renamed(e, "name", enum_names) for e in data["enums"]]
    if isinstance(data.get("relationships"), list):
        out["relationships"] = [
            _relationship(r, table_names, plugin_id) for r in data["relationships"]
        ]
    if isinstance(data.get("metadata"), dict):
        out["metadata"] = _namespaced(data["metadata"])
    return out


def _items(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _renames(items: list[dict[str, Any]], plugin_id: str) -> dict[str, str]:
    """Written name (and stored name) → stored name, for the names declared in ``items``."""
    found: dict[str, str] = {}
    for item in items:
        name = item.get("name")
        if isinstance(name, str):
            found[name] = found[owned(name, plugin_id)] = owned(name, plugin_id)
    return found


def _renamed(item: object, key: str, renames: dict[str, str]) -> object:
    if not isinstance(item, dict) or not isinstance(item.get(key), str):
        return item
    return {**item, key: renames.get(item[key], item[key])}


def _namespaced(item: dict[str, Any]) -> dict[str, Any]:
    value = item.get("namespace")
    return {**item, "namespace": column(value)} if "namespace" in item else item


def _table(table: object, plugin_id: str, enums: dict[str, str]) -> object:
    if not isinstance(table, dict):
        return table
    out = _namespaced(dict(table))
    if isinstance(out.get("name"), str):
        out["name"] = owned(out["name"], plugin_id)
    if isinstance(out.get("fields"), list):
        out["fields"] = [_field(f, enums) for f in out["fields"]]
    for key in ("indexes", "uniqueConstraints"):
        if isinstance(out.get(key), list):
            out[key] = [_key(k, plugin_id) for k in out[key]]
    return out


def _field(field: object, enums: dict[str, str]) -> object:
    if not isinstance(field, dict):
        return field
    out = dict(field)
    if "name" in out:
        out["name"] = column(out["name"])
    kind = out.get("type")
    if isinstance(kind, str) and kind in enums:
        out["type"] = enums[kind]
    return out


def _key(key: object, plugin_id: str) -> object:
    if not isinstance(key, dict):
        return key
    out = dict(key)
    if isinstance(out.get("name"), str):
        out["name"] = owned(out["name"], plugin_id)
    if isinstance(out.get("fields"), list):
        out["fields"] = [column(f) for f in out["fields"]]
    return out


def _relationship(rel: object, tables: dict[str, str], plugin_id: str) -> object:
    if not isinstance(rel, dict):
        return rel
    out = dict(rel)
    if isinstance(out.get("source"), str):  # always a table of this document
        out["source"] = tables.get(out["source"], owned(out["source"], plugin_id))
    if isinstance(out.get("target"), str):
        out["target"] = tables.get(out["target"], out["target"])
    for key in ("sourceField", "targetField"):
        if key in out:
            out[key] = column(out[key])
    return out
