"""Placement, pure: headroom, the choice among targets, and refusals that say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.targets import Target, Targets
from worker.errors import PlacementRefused, RequestRejected, TargetError
from worker.placement import Need, candidates, choose, headroom
from worker.settings import Settings

TOML = """
[targets.pg-a]
driver = "postgresql"
admin_url = "postgresql://admin@db1/plugins"
labels = { region = "eu", tier = "standard" }
capacity = { plugins = 40, storage_mb = 1000, connections = 100 }

[targets.pg-b]
driver = "postgresql"
admin_url = "postgresql://admin@db2/plugins"
labels = { region = "eu", tier = "gold" }
capacity = { plugins = 20 }

[targets.pg-us]
driver = "postgresql"
admin_url = "postgresql://admin@db3/plugins"
labels = { region = "us" }
state = "draining"
"""


def _targets(tmp_path: Path, text: str = TOML) -> Targets:
    path = tmp_path / "targets.toml"
    path.write_text(text)
    return Targets.from_settings(Settings.from_env({"PLUGIN_DB_TARGETS": str(path)}))


def test_capacity_labels_and_state_come_from_the_file(tmp_path: Path) -> None:
    a = _targets(tmp_path).get("pg-a")
    assert dict(a.capacity) == {"plugins": 40, "storage_mb": 1000, "connections": 100}
    assert (a.state, a.labels["tier"]) == ("open", "standard")
    assert _targets(tmp_path).get("pg-us").state == "draining"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("capacity = { disks = 3 }", "not one of plugins"),
        ("capacity = { plugins = 0 }", "positive integer"),
        ("capacity = 'lots'", "must be a table"),
        ("state = 'full'", "must be one of open, draining, closed"),
    ],
)
def test_bad_capacity_or_state_is_named(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        _targets(tmp_path, f"[targets.x]\ndriver = 'sqlite'\n{body}\n")


def test_headroom_is_the_remaining_share_of_the_tightest_dimension() -> None:
    target = Target("t", "postgresql", capacity={"plugins": 10, "storage_mb": 100})
    assert headroom(target, {"plugins": 1, "storage_mb": 40}, Need(10)) == pytest.approx(0.5)
    assert headroom(target, {"plugins": 9}, Need()) == 0.0  # the last slot still fits
    assert headroom(target, {"plugins": 10}, Need()) < 0
    assert headroom(Target("u", "postgresql"), {"plugins": 10**6}, Need(10**6)) == 1.0


def test_the_most_headroom_wins_so_plugins_spread_by_capacity(tmp_path: Path) -> None:
    targets = _targets(tmp_path)
    pool = candidates(targets, "exclusive-postgres", {"region": "eu"})
    assert [t.name for t in pool] == ["pg-a", "pg-b"]  # pg-us is draining
    usage: dict[str, dict[str, int]] = {"pg-a": {}, "pg-b": {}}
    for _ in range(30):
        chosen = choose(pool, usage, Need()).name
        usage[chosen]["plugins"] = usage[chosen].get("plugins", 0) + 1
    assert (usage["pg-a"]["plugins"], usage["pg-b"]["plugins"]) == (20, 10)


def test_labels_narrow_the_choice(tmp_path: Path) -> None:
    pool = candidates(_targets(tmp_path), "exclusive-postgres", {"tier": "gold"})
    assert [t.name for t in pool] == ["pg-b"]


def test_a_refusal_names_the_constraint_and_the_closest_targets(tmp_path: Path) -> None:
    pool = candidates(_targets(tmp_path), "exclusive-postgres", {})
    full = {"pg-a": {"plugins": 39, "storage_mb": 990}, "pg-b": {"plugins": 20}}
    with pytest.raises(PlacementRefused) as refused:
        choose(pool, full, Need(storage_mb=50))
    text = str(refused.value)
    assert isinstance(refused.value, RequestRejected)
    assert "no open target has room for 1 plugin, 50 MB" in text
    assert "pg-a: storage_mb 990+50/1000" in text and "pg-b: plugins 20+1/20" in text


def test_no_matching_or_open_target_is_refused_with_the_reason(tmp_path: Path) -> None:
    targets = _targets(tmp_path)
    with pytest.raises(PlacementRefused, match="carries labels region=ap; open ones: pg-a"):
        candidates(targets, "exclusive-postgres", {"region": "ap"})
    with pytest.raises(PlacementRefused, match="no target serves mode exclusive-mysql"):
        candidates(targets, "exclusive-mysql", {})
    with pytest.raises(PlacementRefused, match=r"is open: pg-us \(draining\)"):
        candidates(targets, "exclusive-postgres", {}, exclude=["pg-a", "pg-b"])
