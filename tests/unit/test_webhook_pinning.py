"""A webhook delivery connects to the address its guard checked, never to a second lookup."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar
from urllib.parse import urlsplit

import pytest

from worker.settings import EventSettings, Settings
from worker.webhooks import guard, sender


class _Receiver(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_POST(self) -> None:
        """Record the Host header and answer 204."""
        self.rfile.read(int(self.headers["content-length"]))
        self.seen.append((self.headers["host"], self.headers["webhook-id"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def receiver() -> Iterator[int]:
    """A real HTTP server on a loopback port; yields the port."""
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_delivery_goes_to_the_checked_address_with_the_original_host(
    receiver: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that only the guard can resolve is still delivered: no second lookup happens."""
    checked: list[str] = []

    def resolve(host: str, port: int) -> list[guard.Address]:
        checked.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(guard, "resolve", resolve)
    events = EventSettings(webhook_allowed_hosts=("127.0.0.0/8",), webhook_timeout_seconds=5.0)
    settings = Settings.from_env({}).with_overrides(events=events)
    url = f"http://hooks.example.invalid:{receiver}/in"
    sent = sender.send(url, "whsec_" + "A" * 32, "msg_1", "{}", settings)
    assert sent.ok, sent.error
    assert checked == ["hooks.example.invalid"]
    assert _Receiver.seen[-1] == (f"hooks.example.invalid:{receiver}", "msg_1")


def test_pinned_targets_keep_scheme_path_and_bracket_ipv6() -> None:
    """The pinned URL swaps only the host for the literal address; TLS keeps the name."""
    parts = urlsplit("https://Hooks.Example.com/a/b?x=1")
    pinned = guard._pin(parts, "hooks.example.com", 443, ipaddress.ip_address("2001:db8::1"))
    assert pinned.url == "https://[2001:db8::1]:443/a/b?x=1"
    assert pinned.host_header == "Hooks.Example.com"
    assert pinned.server_name == "hooks.example.com"
