"""The early parser (``worker/cli/fast.py``) knows each command as Typer does: the same
options, flags as flags, and the same number of arguments; an enqueue parsed early sends the
request Typer's command sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer._click.core import Command, Context  # Typer's own click
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.testing import CliRunner

from worker.cli import enqueue, fast, output
from worker.cli.root import app


def _command(name: str) -> Command:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    with Context(group) as ctx:
        command = group.get_command(ctx, name)
    assert command is not None, name
    return command


@pytest.mark.parametrize("name", sorted(fast.SPECS))
def test_early_parser_matches_the_typer_command(name: str) -> None:
    """Given a command parsed early, every option it reads is Typer's, flags alike."""
    counts, options = fast.SPECS[name]
    params = _command(name).params
    typer_options = {opt: p for p in params if isinstance(p, TyperOption) for opt in p.opts}
    for option, read in options.items():
        assert option in typer_options, f"{name} {option}: Typer has no such option"
        assert typer_options[option].is_flag == (read is None), f"{name} {option}"
    arguments = [p for p in params if isinstance(p, TyperArgument)]
    required = [p for p in arguments if p.required]
    assert all(len(required) <= count <= len(arguments) for count in counts), name


ENQUEUES = [
    ["teardown", "p", "--json"],
    ["teardown", "p", "--purge", "--no-snapshot", "--wait"],
    ["rotate", "p"],
    ["restore", "p", "--json"],
    ["relocate", "p", "--mode", "shared-postgres", "--target=t2"],
    ["migrate", "p", "--target", "002", "--dry-run", "--force", "--json"],
    ["migrate", "p"],
    ["provision", "PLUGINS/p", "--target", "t1", "--wait"],
]


@pytest.mark.parametrize("argv", ENQUEUES, ids=" ".join)
def test_an_enqueue_parsed_early_sends_what_typer_sends(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given an enqueue's plain form, the early path and Typer's command hand the same kind,
    request, wait and output choice to the enqueue (caught there: nothing is recorded)."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "plugin.json").write_text(
        '{"id": "p", "name": "P", "version": "1.0.0", "sovereign": {"schemaVersion": 2, '
        '"database": {"mode": "exclusive-sqlite"}}}'
    )
    monkeypatch.setenv("PLUGIN_DB_PLUGINS_ROOT", str(tmp_path))
    output.settings.cache_clear()
    argv = [word.replace("PLUGINS", str(tmp_path)) for word in argv]
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(enqueue, "enqueue", lambda *call: sent.append(call))
    try:
        with pytest.raises(SystemExit) as early:
            fast.dispatch(argv)
        assert early.value.code == 0
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, result.output
    finally:
        output.settings.cache_clear()
    assert len(sent) == 2 and sent[0] == sent[1], sent
