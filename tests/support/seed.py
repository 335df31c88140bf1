"""The schema document of the schema extension plan, as its authors write it.

``examples/platform-node/custom-reports.schema.json``: PascalCase tables and enum, camelCase
fields, no prefixes, declared ``id`` fields (a String and an Int), a relationship and an index.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SEED = Path(__file__).resolve().parents[2] / "examples/platform-node/custom-reports.schema.json"


def seed_doc(plugin_id: str = "custom-reports") -> dict[str, Any]:
    """The document for ``plugin_id`` (its id and namespace filled in, nothing else changed)."""
    data: dict[str, Any] = json.loads(SEED.read_text())
    ns = plugin_id.replace("-", "_")
    data["pluginId"] = plugin_id
    data["metadata"]["namespace"] = ns
    for table in data["tables"]:
        table["namespace"] = ns
    return data
