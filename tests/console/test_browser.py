"""The console in a real headless browser (Playwright driving Debian's chromium).

Fifty plugins in mixed states through a real worker; sign in, filter to the failed ones, open
one and read its failed step and error, fix the cause, retry, and watch the live view report
success. No page ever shows the token or a password. Screenshots go to ``artifacts/console/``.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.conftest import unique_id
from tests.support.api import Api, served_api
from tests.support.env import sqlite_stack
from tests.support.stack import migration, write_plugin
from worker.quotas import Quotas
from worker.secrets import SecretBox, load
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "console"
GOOD = {
    "001-items.sql": migration(
        "CREATE TABLE items (id INTEGER PRIMARY KEY);", "DROP TABLE items;", "001"
    )
}
BROKEN = {
    "001-fill.sql": migration("INSERT INTO needed (id) VALUES (1);", "DELETE FROM needed;", "001")
}
TOTAL, FAILING = 50, 8
KINDS = {"failed": "broken", "good": "app"}
DRIFTED, PENDING, SNAPPED = "app-13", "app-11", "app-12"
TARGETS = """
[targets.sqlite]
driver = "sqlite"
admin_url = "{data}"
capacity = {{ plugins = 60, storage_mb = 80, connections = 600 }}

[targets.postgresql]
driver = "postgresql"
admin_url = "{pg}"
capacity = {{ plugins = 10, storage_mb = 100 }}
"""
README_SHOT = ROOT / "docs" / "images" / "console-fleet.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: scripts/tools.sh installs Debian's chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The console's stack with a targets file that gives capacities (the targets chart)."""
    stack = sqlite_stack(tmp_path_factory.mktemp("console"))
    targets = stack.workdir / "targets.toml"
    targets.write_text(
        TARGETS.format(
            data=stack.env["PLUGIN_DB_DATA_DIR"], pg=stack.env["PLUGIN_DB_POSTGRES_ADMIN_URL"]
        )
    )
    stack.env["PLUGIN_DB_TARGETS"] = str(targets)
    with served_api(stack) as served:
        yield served


@pytest.fixture(scope="module")
def fleet(console: Api) -> dict[str, list[str]]:
    """Fifty plugins: one PostgreSQL, most SQLite, some failed, one torn down, sizes measured,
    one drifted, one with a pending migration, one snapshot."""
    stack, ids = console.stack, {"good": [], "failed": [], "postgres": []}
    sent = []
    for i in range(TOTAL):
        kind = "failed" if i < FAILING else ("postgres" if i == FAILING else "good")
        plugin_id = unique_id("pgapp") if kind == "postgres" else f"{KINDS[kind]}-{i:02d}"
        write_plugin(
            stack.plugins_root,
            plugin_id,
            "exclusive-postgres" if kind == "postgres" else "exclusive-sqlite",
            BROKEN if kind == "failed" else GOOD,
            limits={"storageMb": 64 if kind == "postgres" else 1, "connections": 5 + i % 3 * 5},
        )
        sent.append(stack.send("plugin_db.provision", {"plugin_id": plugin_id}))
        ids[kind].append(plugin_id)
    for request_id, plugin_id in zip(
        sent, [*ids["failed"], *ids["postgres"], *ids["good"]], strict=True
    ):
        op = stack.wait(request_id, timeout=180)
        expected = "failed" if plugin_id in ids["failed"] else "succeeded"
        assert op.state == expected, (plugin_id, op.error)
    assert stack.run("plugin_db.teardown", {"plugin_id": ids["good"][0]}).state == "succeeded"
    grow_drift_and_snapshot(console, ids["good"])
    return ids


def grow_drift_and_snapshot(console: Api, good: list[str]) -> None:
    """Plugins of several sizes (measured by quota enforcement), a changed applied migration
    file, a new one not applied yet, and a snapshot."""
    stack, data = console.stack, Path(console.stack.env["PLUGIN_DB_DATA_DIR"]) / "plugins"
    for n, plugin_id in enumerate(good[1:6], start=1):
        with sqlite3.connect(data / f"{plugin_id}.db") as conn:
            conn.execute("CREATE TABLE filler (blob BLOB)")
            conn.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 4000,)] * (45 * n))
    settings = Settings.from_env(stack.env)
    measured = Quotas(settings, stack.sessions).enforce()
    assert all(check.error is None for check in measured), measured
    files = stack.plugins_root
    (files / DRIFTED / "migrations" / "001-items.sql").write_text(
        GOOD["001-items.sql"].replace("PRIMARY KEY", "PRIMARY KEY, name TEXT")
    )
    (files / PENDING / "migrations" / "002-more.sql").write_text(
        migration("CREATE TABLE more (id INTEGER);", "DROP TABLE more;", "002")
    )
    assert stack.run("plugin_db.snapshot", {"plugin_id": SNAPPED}).state == "succeeded"


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def secrets_of(console: Api, ids: dict[str, list[str]]) -> list[str]:
    """Every password issued to the fleet, and the console token."""
    settings = Settings.from_env(console.stack.env)
    admin = urlsplit(console.stack.env["PLUGIN_DB_POSTGRES_ADMIN_URL"]).password
    found = [admin] if admin else []
    for plugin_id in ids["postgres"]:
        ds = console.stack.datasource(plugin_id)
        with console.stack.sessions() as session:
            payload = load(session, SecretBox.from_settings(settings), ds.secrets_ref)
        found += list(payload["slots"].values())
    assert found
    return found


def signed_in_page(console: Api, browser: Browser, token: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{console.url}/console")
    expect(page).to_have_url(f"{console.url}/console/login?next=/console")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#fleet caption")).to_contain_text(f"{TOTAL} plugins")
    return page


def check_fleet(page: Page) -> None:
    """Sizes against limits, drift, and a filter and a sort on the new columns."""
    page.get_by_role("link", name="Size / limit").click()
    page.get_by_role("link", name="Size / limit ▲").click()  # again: largest first
    expect(page.locator("#fleet caption")).to_contain_text("size / limit (descending)")
    expect(page.locator("#fleet tbody tr").first.locator("meter")).to_be_visible()
    assert page.locator("#fleet meter").count() >= 5
    page.get_by_label("Target").select_option("sqlite")  # the same picture on every run
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#fleet caption")).to_contain_text(f"{TOTAL - 1} plugins of {TOTAL}")
    page.screenshot(path=str(README_SHOT))  # the README's image: the top of this view
    page.get_by_label("Target").select_option("")
    page.get_by_label("Drift").select_option("drift")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#fleet caption")).to_contain_text(f"1 plugin of {TOTAL}")
    page.locator("#fleet summary", has_text="drift").click()
    expect(page.locator("#fleet tbody")).to_contain_text("changed since they ran")
    page.goto(page.url.replace("drift=drift", "drift=pending"))
    expect(page.get_by_role("link", name=PENDING, exact=True)).to_be_visible()


def check_plugin_pages(
    page: Page, console: Api, broken: str, visit: Callable[[str], None]
) -> Locator:
    """A snapshot on a plugin page; the failed step and error of a broken plugin's."""
    page.goto(f"{console.url}/console/plugins/{SNAPPED}")
    expect(page.locator("#snapshots tbody tr").first).to_contain_text("manual")
    expect(page.locator("#snapshots tbody tr").first).to_contain_text("ready")
    visit("plugin-snapshots")
    page.goto(f"{console.url}/console?status=failed")
    expect(page.locator("#fleet caption")).to_contain_text(f"{FAILING} plugins")
    assert page.locator("#fleet tbody td.status-failed").count() == FAILING
    page.get_by_role("link", name=broken, exact=True).click()
    failed_op = page.locator("section.op", has=page.locator(".state-failed")).first
    expect(failed_op).to_contain_text("needed")  # the error names the missing table
    expect(failed_op).to_contain_text("failed after step")
    expect(page.get_by_role("heading", name="Events sent")).to_be_visible()
    expect(page.locator("table", has_text="operation.failed").first).to_be_visible()
    return failed_op


def test_sign_in_filter_open_retry_and_watch_it_succeed(
    console: Api, browser: Browser, fleet: dict[str, list[str]]
) -> None:
    token = console.token("plugins:read", "plugins:write")
    secrets = [token, *secrets_of(console, fleet)]
    page = signed_in_page(console, browser, token)

    def visit_check(name: str) -> None:
        html = page.content()
        for secret in secrets:
            assert secret not in html, f"a secret is in the HTML of {page.url}"
        shot(page, name)

    visit_check("fleet")
    check_fleet(page)
    visit_check("fleet-drift")
    broken = fleet["failed"][0]
    failed_op = check_plugin_pages(page, console, broken, visit_check)
    visit_check("plugin-failed")

    plugin_file = Path(console.stack.env["PLUGIN_DB_DATA_DIR"]) / "plugins" / f"{broken}.db"
    with sqlite3.connect(plugin_file) as conn:  # the operator fixes the cause
        conn.execute("CREATE TABLE needed (id INTEGER PRIMARY KEY)")
    failed_op.get_by_role("button", name="Retry operation").click()
    expect(page).to_have_url(re.compile(r"/console/operations\?retried=\d+$"))
    expect(page.locator("#live")).to_have_text("Live: following the event stream.")
    live = page.locator("#events li", has_text="operation.succeeded").filter(has_text=broken)
    expect(live.first).to_be_visible(timeout=60_000)  # relayed, then pushed to the page
    row = page.locator("#ops tr", has=page.get_by_role("link", name=broken, exact=True)).first
    expect(row.locator("td.state-succeeded")).to_be_visible()
    visit_check("operations-live")

    page.goto(f"{console.url}/console/targets")
    chart = page.locator("#target-sqlite .chart")
    expect(
        chart.get_by_role("img", name=re.compile(r"sqlite plugins: \d+ of 60 \("))
    ).to_be_visible()
    storage = chart.get_by_role("img", name=f"sqlite storage_mb: {TOTAL - 1} of 80 (")
    expect(storage).to_be_visible()  # 1 MiB each
    expect(page.locator("#target-postgresql .chart")).to_contain_text("15, unbounded")
    visit_check("targets")
    page.close()


def test_phone_width_and_no_javascript(
    console: Api, browser: Browser, fleet: dict[str, list[str]]
) -> None:
    """At 390 px the pages never scroll sideways; with JavaScript off they still read."""
    for scripts in (True, False):
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, java_script_enabled=scripts
        )
        page = context.new_page()
        page.goto(f"{console.url}/console/login")
        page.get_by_label("API token").fill(console.token("plugins:read"))
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#fleet caption")).to_contain_text("plugins")
        for n, path in enumerate(
            (
                "/console",
                f"/console/plugins/{fleet['failed'][1]}",
                f"/console/plugins/{SNAPPED}",
                "/console/operations",
                "/console/targets",
            )
        ):
            page.goto(f"{console.url}{path}")
            expect(page.locator("h1")).to_be_visible()
            if scripts:
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"
            shot(page, f"phone-{'js' if scripts else 'nojs'}-{n}")
        if not scripts:  # the operations page: rendered rows and events, and a reload
            page.goto(f"{console.url}/console/operations")
            expect(page.locator("#events li").first).to_be_visible()
            assert page.locator("noscript").count() == 1
        context.close()
