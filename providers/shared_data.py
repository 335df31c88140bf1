"""Shared mode's data hooks common to its backends: size and health of a plugin's objects."""

from __future__ import annotations

from typing import Any, ClassVar

from providers.base import Health, Login, PluginSpec, StorageState
from providers.shared_base import SharedBase
from worker.errors import ProviderError, ProviderUnavailable


class SharedData(SharedBase):
    """Sizes (``size_sql`` over the plugin's objects), health, and the owned-object listing."""

    snapshots_archived: ClassVar[bool] = False  # archived objects carry other names

    def owned_now(self, spec: PluginSpec) -> tuple[list[str], dict[str, str]]:
        """(the plugin's live objects, name -> kind of every object)."""
        with self._session() as cur:
            objects = self._objects(cur)
            return self._owned(cur, spec, objects), objects

    def _size(self, cur: Any, owned: list[str]) -> int:
        assert self.size_sql is not None
        sql = self.size_sql.format(names=", ".join("?" * len(owned)) or "NULL")
        return int(self._run(cur, sql, *owned)[0][0] or 0)

    def size_bytes(self, spec: PluginSpec) -> int:
        """Bytes of the plugin's tables and their indexes (what ``limits.storageMb`` caps)."""
        if self.size_sql is None:
            raise NotImplementedError(f"{self.name} does not measure storage")
        with self._session() as cur:
            return self._size(cur, self._owned(cur, spec, self._objects(cur)))

    def health(self, spec: PluginSpec, login: Login | None) -> Health:
        """Count and (where cheap) size of the plugin's live objects; ok while active."""
        try:
            state = self.state(spec)
            with self._session() as cur:
                owned = self._owned(cur, spec, self._objects(cur))
                size = None if self.size_sql is None else self._size(cur, owned)
        except (ProviderError, ProviderUnavailable) as exc:
            return Health(ok=False, details={"error": str(exc)})
        details = {"state": state.value, "objects": len(owned)}
        return Health(ok=state is StorageState.ACTIVE, size_bytes=size, details=details)
