"""A Standard Webhooks receiver for tests: verifies every signature, records every request."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    """One request as the receiver saw it."""

    webhook_id: str
    body: str
    verified: bool
    status: int

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """``http://127.0.0.1:PORT/hook``; answers 500 to the first ``fail_first`` requests."""

    port: int = 0
    secret: str | None = None
    fail_first: int = 0
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = False
                if receiver.secret:
                    try:
                        Webhook(receiver.secret).verify(body, headers)
                        verified = True
                    except WebhookVerificationError:
                        verified = False
                with receiver._lock:
                    failing = len(receiver.requests) < receiver.fail_first
                    status = 500 if failing else (204 if verified else 400)
                    receiver.requests.append(
                        Received(headers.get("webhook-id", ""), body, verified, status)
                    )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self, plugin_id: str | None = None) -> list[Received]:
        """Verified requests answered 2xx (optionally for one plugin), in arrival order."""
        with self._lock:
            rows = [r for r in self.requests if r.status < 300]
        return [r for r in rows if plugin_id is None or r.event.get("plugin_id") == plugin_id]

    def types(self, plugin_id: str) -> list[str]:
        """Event types delivered for ``plugin_id``, first delivery of each id, in order."""
        seen: dict[str, str] = {}
        for r in self.accepted(plugin_id):
            seen.setdefault(r.webhook_id, r.event["type"])
        return list(seen.values())
