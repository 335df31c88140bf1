"""One signed POST in the Standard Webhooks format (the ``standardwebhooks`` package signs)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from worker.errors import AddressRefused
from worker.logging import redact_text
from worker.settings import Settings
from worker.webhooks import guard

USER_AGENT = "plugin-db-webhooks/1"


@dataclass(frozen=True)
class Sent:
    """The outcome of one attempt."""

    status_code: int | None
    error: str | None
    ms: int

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


def headers(secret: str, message_id: str, body: str, now: datetime) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` for ``body``."""
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=now, data=body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def send(url: str, secret: str, message_id: str, body: str, settings: Settings) -> Sent:
    """Check the address again, then POST to that address; never raises for a network failure."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        pinned = guard.check_url(url, settings.events.webhook_allowed_hosts)
    except AddressRefused as exc:
        return Sent(None, f"refused: {exc}", took())
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        with httpx.Client(
            timeout=settings.events.webhook_timeout_seconds,
            follow_redirects=False,
            trust_env=False,
        ) as client:
            answer = client.post(
                pinned.url,
                content=body.encode(),
                headers={**headers(secret, message_id, body, now), "host": pinned.host_header},
                extensions={"sni_hostname": pinned.server_name},
            )
    except httpx.HTTPError as exc:
        return Sent(None, redact_text(f"{type(exc).__name__}: {exc}")[:500], took())
    error = None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"
    return Sent(answer.status_code, error, took())
