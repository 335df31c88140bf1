"""The data hooks of the provider contract: sizes, snapshots, restore to a snapshot, quotas.

Part of :class:`providers.base.Provider`; a hook raising NotImplementedError means the driver
lacks it (callers report that, never guess).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol

from providers.types import PluginSpec


class Sink(Protocol):
    """Where a driver streams a snapshot (compressed and sealed on the way to its store)."""

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        """Take the next bytes of the dump."""
        ...


class DataHooks:
    """Defaults of the data hooks: none offered."""

    if TYPE_CHECKING:
        name: ClassVar[str]

    snapshot_format: ClassVar[str | None] = None
    """Format :meth:`dump` writes (``sqlite``, ``pg_custom``, ``sql``); None: no snapshots."""
    snapshots_archived: ClassVar[bool] = True
    """Whether :meth:`dump` can copy archived storage (a purge snapshots it first)."""

    def table_sizes(self, spec: PluginSpec, tables: Sequence[str]) -> dict[str, int]:
        """Bytes (data and indexes) of each of ``tables`` that exists, by name."""
        raise NotImplementedError(f"{self.name} does not measure tables")

    def size_bytes(self, spec: PluginSpec) -> int:
        """Bytes the plugin's storage takes (what ``limits.storageMb`` caps)."""
        raise NotImplementedError(f"{self.name} does not measure storage")

    def dump(self, spec: PluginSpec, sink: Sink) -> dict[str, int]:
        """Stream a consistent copy of the plugin's storage (only its objects) into ``sink``.

        Returns the rows per table of that copy (what a restore is verified against).
        """
        raise NotImplementedError(f"{self.name} cannot take snapshots")

    def load_side(self, spec: PluginSpec, chunks: Iterator[bytes]) -> None:
        """Load a snapshot (as :meth:`dump` wrote it) into a fresh side object of the plugin
        (a schema, database or file), dropping any earlier one."""
        raise NotImplementedError(f"{self.name} cannot restore snapshots")

    def side_row_counts(self, spec: PluginSpec) -> dict[str, int] | None:
        """Rows per table of the side object; None when there is none."""
        raise NotImplementedError(f"{self.name} cannot restore snapshots")

    def swap_side(self, spec: PluginSpec) -> str | None:
        """Put the side object in place atomically, keeping the replaced storage archived;
        returns where it is kept. No effect (None) without a side object."""
        raise NotImplementedError(f"{self.name} cannot restore snapshots")

    def drop_side(self, spec: PluginSpec) -> None:
        """Drop the side object, if any."""
        raise NotImplementedError(f"{self.name} cannot restore snapshots")

    def discard_restore_objects(self, spec: PluginSpec) -> None:
        """Drop side and replaced objects and quota leftovers (before a purge)."""

    def set_read_only(self, spec: PluginSpec, read_only: bool) -> None:
        """Make every login of the plugin read-only (writes refused, reads work), or writable.

        Airtight: open sessions are ended or cannot write either. Idempotent; archived too.
        """
        raise NotImplementedError(f"{self.name} cannot make a plugin read-only")

    def is_read_only(self, spec: PluginSpec) -> bool:
        """Whether :meth:`set_read_only` is in force for the plugin."""
        raise NotImplementedError(f"{self.name} cannot make a plugin read-only")

    def set_timeouts(self, spec: PluginSpec) -> None:
        """Apply ``spec``'s statement and idle-in-transaction timeouts to the plugin's logins."""
        raise NotImplementedError(f"{self.name} has no per-login timeouts")
