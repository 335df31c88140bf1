"""Targets: the TOML file, the default targets, and which target serves a mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.targets import Targets, default_targets, load_targets
from worker.errors import RequestRejected, TargetError, UnknownTarget
from worker.settings import Settings

TOML = """
[targets.pg-main]
driver = "postgresql"
admin_url = "postgresql://admin:secret@db1:5432/plugins"
labels = { region = "eu" }
capacity = 500

[targets.pg-two]
driver = "postgresql"
admin_url = "postgresql://admin:secret@db2:5432/plugins"

[targets.files]
driver = "sqlite"
admin_url = "/srv/plugin-files"
"""


def _targets(tmp_path: Path, text: str = TOML) -> Targets:
    path = tmp_path / "targets.toml"
    path.write_text(text)
    settings = Settings.from_env({"PLUGIN_DB_TARGETS": str(path)})
    assert settings.targets_file == path.resolve()
    return Targets.from_settings(settings)


def test_the_file_defines_targets_in_order_with_their_placement_fields(tmp_path: Path) -> None:
    targets = _targets(tmp_path)
    assert list(targets.targets) == ["pg-main", "pg-two", "files"]
    main = targets.get("pg-main")
    assert (main.driver, dict(main.capacity), dict(main.labels)) == (
        "postgresql",
        {"plugins": 500},
        {"region": "eu"},
    )
    assert "secret" not in repr(main)  # the admin URL never shows in a repr


def test_a_mode_is_served_by_the_targets_whose_driver_declares_it(tmp_path: Path) -> None:
    targets = _targets(tmp_path)
    assert [t.name for t in targets.serving("exclusive-postgres")] == ["pg-main", "pg-two"]
    assert targets.choose("exclusive-postgres").name == "pg-main"
    assert targets.choose("exclusive-postgres", "pg-two").name == "pg-two"
    assert targets.choose("exclusive-sqlite").name == "files"


def test_a_target_that_cannot_serve_the_mode_is_a_rejected_request(tmp_path: Path) -> None:
    targets = _targets(tmp_path)
    with pytest.raises(UnknownTarget, match="does not serve mode") as refused:
        targets.choose("exclusive-postgres", "files")
    assert isinstance(refused.value, RequestRejected)
    with pytest.raises(UnknownTarget, match="is not one of"):
        targets.choose("exclusive-postgres", "nowhere")
    with pytest.raises(UnknownTarget, match="no target serves"):
        targets.choose("exclusive-mysql")


def test_without_a_file_the_historical_variables_define_one_target_per_driver() -> None:
    settings = Settings(postgres_admin_url="postgresql://u@h/db", data_dir=Path("/tmp/x"))
    found = default_targets(settings)
    assert {n: t.driver for n, t in found.items()} == {
        "shared": "shared",
        "sqlite": "sqlite",
        "postgresql": "postgresql",
    }  # no MySQL admin URL: no MySQL target
    assert found["postgresql"].admin_url == "postgresql://u@h/db"
    assert Targets(found, settings).choose("shared").name == "shared"
    with pytest.raises(UnknownTarget, match="PLUGIN_DB_TARGETS"):
        Targets(found, settings).choose("exclusive-mysql")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "at least one"),
        ("[targets.a]\nadmin_url = 'x'\n", "driver: is required"),
        ("[targets.a]\ndriver = 'sqlite'\ncolour = 'red'\n", "unknown keys"),
        ("[targets.a]\ndriver = 'sqlite'\ncapacity = 0\n", "positive integer"),
        ("[targets.a]\ndriver = 'sqlite'\nlabels = { a = 1 }\n", "labels"),
        ("not toml [", "cannot read"),
    ],
)
def test_a_bad_targets_file_names_what_is_wrong(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(TargetError, match=needle):
        load_targets(path)


def test_a_target_naming_an_unknown_driver_fails_clearly(tmp_path: Path) -> None:
    targets = _targets(tmp_path, "[targets.x]\ndriver = 'nope'\n")
    with pytest.raises(TargetError, match="no provider named 'nope'"):
        targets.serving("shared")
