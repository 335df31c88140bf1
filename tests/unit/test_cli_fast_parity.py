"""The early parser of the reads (``worker/cli/fast.py``) knows each command as Typer does:
the same options, flags as flags, and the same number of arguments."""

from __future__ import annotations

import pytest
import typer
from typer._click.core import Command, Context  # Typer's own click
from typer.core import TyperArgument, TyperGroup, TyperOption

from worker.cli import fast
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
    count, options = fast.SPECS[name]
    params = _command(name).params
    typer_options = {opt: p for p in params if isinstance(p, TyperOption) for opt in p.opts}
    for option, read in options.items():
        assert option in typer_options, f"{name} {option}: Typer has no such option"
        assert typer_options[option].is_flag == (read is None), f"{name} {option}"
    arguments = [p for p in params if isinstance(p, TyperArgument)]
    required = [p for p in arguments if p.required]
    assert len(required) <= count <= len(arguments), name
