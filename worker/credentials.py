"""A plugin's credentials: one password per login slot and the slot in use, with one codec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SLOTS = ("a", "b")
"""Login slots: two logins per plugin, used alternately so rotation never cuts anyone off."""


def other_slot(slot: str) -> str:
    """The slot rotation writes next."""
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]


@dataclass
class Credentials:
    """Passwords by login slot and the slot in use. Never logged: the repr hides passwords.

    Stored encrypted as ``{"slots": {slot: password}, "active": slot}`` (the payload form
    every stored secret already has); :meth:`from_payload` and :meth:`to_payload` are the
    only code that reads or writes that form.
    """

    passwords: dict[str, str] = field(default_factory=dict, repr=False)
    in_use: str = SLOTS[0]

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any] | None) -> Credentials | None:
        """Decode a stored payload (None stays None)."""
        if payload is None:
            return None
        return cls(dict(payload.get("slots", {})), str(payload.get("active", SLOTS[0])))

    def to_payload(self) -> dict[str, Any]:
        """The stored (encrypted) form."""
        return {"slots": dict(self.passwords), "active": self.in_use}

    @property
    def password(self) -> str:
        """The password of the slot in use."""
        return self.passwords[self.in_use]

    def issue(self, slot: str, password: str) -> None:
        """Record ``password`` for ``slot`` (not yet in use)."""
        self.passwords[slot] = password

    def switch_to(self, slot: str) -> None:
        """Make ``slot`` the one in use (after its password was proven)."""
        self.in_use = slot
