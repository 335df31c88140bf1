"""Reference pages generated from the code, so the documentation cannot drift from it.

Each ``*_page()`` returns Markdown; ``tools/mkdocs_hooks.py`` adds them to the site.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from worker.metrics_catalogue import SERIES
from worker.states import DS_TRANSITIONS, OP_TRANSITIONS, DsStatus, OpState
from worker.tracking.models import Base

ROOT = Path(__file__).resolve().parent.parent


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A Markdown table; cells have ``|`` and newlines escaped."""
    head = list(header)

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# -- state machines -------------------------------------------------------------------------


def _mermaid(transitions: Mapping[Any, frozenset[Any]], start: Iterable[Any]) -> str:
    lines = ["```mermaid", "stateDiagram-v2"]
    lines += [f"    [*] --> {state.value}" for state in start]
    for source, targets in transitions.items():
        if source is None:
            continue
        for target in sorted(targets, key=lambda s: s.value):
            lines.append(f"    {source.value} --> {target.value}")
    return "\n".join([*lines, "```"]) + "\n"


def states_page() -> str:
    """The operation and datasource state machines, drawn from ``worker/states.py``."""
    ds_start = DS_TRANSITIONS[None]
    rows = [
        (f"`{s.value}`", ", ".join(f"`{t.value}`" for t in sorted(ts, key=lambda x: x.value)))
        for s, ts in OP_TRANSITIONS.items()
    ]
    ds_rows = [
        (
            f"`{s.value}`" if s else "(no row)",
            ", ".join(f"`{t.value}`" for t in sorted(ts, key=lambda x: x.value)),
        )
        for s, ts in DS_TRANSITIONS.items()
    ]
    return "\n".join(
        [
            "# State machines\n",
            "Drawn at build time from the transition tables in `worker/states.py` "
            "(`OP_TRANSITIONS`, `DS_TRANSITIONS`): a move not drawn here raises "
            "`InvalidTransition`.\n",
            "## Operations (`lifecycle_operations.state`)\n",
            _mermaid(OP_TRANSITIONS, [OpState.PENDING, OpState.REJECTED]),
            table(["from", "may move to"], rows),
            "## Datasources (`plugin_datasources.status`)\n",
            _mermaid(DS_TRANSITIONS, sorted(ds_start, key=lambda s: s.value)),
            table(["from", "may move to"], ds_rows),
            f"Statuses: {', '.join(f'`{s.value}`' for s in DsStatus)}.\n",
        ]
    )


# -- tracking tables ------------------------------------------------------------------------


def tables_page() -> str:
    """Every tracking table from the SQLAlchemy models: columns, keys, indexes."""
    docs = {m.class_.__tablename__: (m.class_.__doc__ or "") for m in Base.registry.mappers}
    out = [
        "# Tracking tables\n",
        "Generated from `worker/tracking/models.py` (Alembic revisions in "
        "`worker/alembic/versions/` create them; `plugin-db db upgrade` applies them).\n",
    ]
    for tbl in sorted(Base.metadata.sorted_tables, key=lambda t: t.name):
        out.append(f"## `{tbl.name}`\n\n{' '.join(docs.get(tbl.name, '').split())}\n")
        rows = []
        for col in tbl.columns:
            notes = []
            if col.primary_key:
                notes.append("primary key")
            if col.unique:
                notes.append("unique")
            notes += [f"→ `{fk.target_fullname}`" for fk in col.foreign_keys]
            rows.append(
                (f"`{col.name}`", col.type, "yes" if col.nullable else "no", ", ".join(notes))
            )
        out.append(table(["column", "type", "null", "notes"], rows))
        indexes = sorted(tbl.indexes, key=lambda i: i.name or "")
        if indexes:
            cols = [(f"`{i.name}`", ", ".join(c.name for c in i.columns)) for i in indexes]
            out.append("\n" + table(["index", "columns"], cols))
    return "\n".join(out)


# -- pydantic models (manifest, declarative schema) -----------------------------------------


def _type_of(prop: Mapping[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in prop:
        kinds = [_type_of(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(kinds) + " (optional)"
    if prop.get("type") == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    return str(prop.get("type", "any"))


def _constraints(prop: Mapping[str, Any]) -> str:
    keys = ("minimum", "maximum", "minLength", "maxLength", "pattern", "maxItems", "minItems")
    found = {k: v for k, v in prop.items() if k in keys}
    for option in prop.get("anyOf", []):
        found.update({k: v for k, v in option.items() if k in keys})
    return ", ".join(f"{k} `{v}`" for k, v in found.items())


def model_page(title: str, intro: str, schema: Mapping[str, Any]) -> str:
    """A reference page for a pydantic model's JSON Schema (root first, then each $def)."""
    defs = dict(schema.get("$defs", {}))
    root = {k: v for k, v in schema.items() if k != "$defs"}
    out = [f"# {title}\n", intro + "\n"]
    for name, model in [(root.get("title", "root"), root), *sorted(defs.items())]:
        out.append(f"## {name}\n\n{' '.join(str(model.get('description', '')).split())}\n")
        if "enum" in model:
            out.append("One of: " + ", ".join(f"`{v}`" for v in model["enum"]) + "\n")
            continue
        required = set(model.get("required", []))
        rows = [
            (
                f"`{key}`",
                _type_of(prop),
                "yes" if key in required else "no",
                f"`{json.dumps(prop['default'])}`" if "default" in prop else "",
                _constraints(prop),
            )
            for key, prop in model.get("properties", {}).items()
        ]
        out.append(table(["key", "type", "required", "default", "constraints"], rows))
    return "\n".join(out)


def manifest_page() -> str:
    """``plugin.json``: generated from ``worker.manifest.Manifest``."""
    from worker.manifest import Manifest

    return model_page(
        "Manifest reference",
        "Every key of `plugin.json` the worker reads, generated from the pydantic model "
        "`worker.manifest.Manifest` (`plugin-db schema json-schema` prints the JSON Schema of "
        "the declarative schema; unknown keys inside `sovereign.database` are refused).",
        Manifest.model_json_schema(by_alias=True),
    )


def declarative_page() -> str:
    """``ExtensionDatabaseSchema``: generated from ``worker.schema.model``."""
    from worker.schema.model import ExtensionDatabaseSchema

    return model_page(
        "Declarative schema reference",
        "The `ExtensionDatabaseSchema` document (`seeds/003`), generated from "
        "`worker.schema.model.ExtensionDatabaseSchema`.",
        ExtensionDatabaseSchema.model_json_schema(by_alias=True),
    )


# -- metrics and alerts ---------------------------------------------------------------------


def alerts() -> list[dict[str, Any]]:
    """The alerting rules of ``deploy/prometheus/alerts.yml``."""
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def metrics_page() -> str:
    """The catalogue of series and the alert rules."""
    rows = [
        (f"`{s.name}`", s.type, ", ".join(f"`{x}`" for x in s.labels), s.help, s.source)
        for s in SERIES
    ]
    alert_rows = [
        (
            f"[`{a['alert']}`](runbooks.md#{a['alert'].lower()})",
            f"`{' '.join(a['expr'].split())}`",
            a.get("for", "at once"),
            a["labels"]["severity"],
        )
        for a in alerts()
    ]
    return "\n".join(
        [
            "# Metrics and alerts\n",
            "## Series\n",
            "Generated from `worker/metrics_catalogue.py`.\n",
            table(["series", "type", "labels", "meaning", "source"], rows),
            "## Alerts\n",
            "Generated from `deploy/prometheus/alerts.yml`; each is unit-tested with "
            "`promtool test rules` and has a runbook.\n",
            table(["alert", "expression", "for", "severity"], alert_rows),
        ]
    )


def headings(markdown: str) -> Iterator[str]:
    """Second-level headings of a page, as written."""
    for line in markdown.splitlines():
        if line.startswith("## "):
            yield line[3:].strip()
