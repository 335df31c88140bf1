"""The README's five-line curl install flow, run as written against a real API process."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.support.api import Api
from tests.support.stack import ROOT, write_plugin

README = Path(ROOT) / "README.md"


def install_flow() -> str:
    """The ``sh`` block that follows "five lines of `curl`"."""
    text = README.read_text()
    start = text.index("five lines of `curl`")
    block = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert block is not None
    return block.group(1)


def test_the_readme_install_flow_provisions_and_prints_the_url(api: Api) -> None:
    script = install_flow()
    assert len(re.findall(r"\bcurl\b", script)) == 5
    write_plugin(api.stack.plugins_root, "notes", "exclusive-sqlite")
    scopes = ("connections:read", "plugins:read", "plugins:write")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**os.environ, "TOKEN": api.token(*scopes), "API": api.url},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("file:/")
