"""The dependency graph of plugins (``sovereign.database.dependencies``), pure.

``core`` is the platform itself: always there, never a node. Every refusal names the chain
that leads to it, e.g. ``a -> b -> a`` for a cycle or ``a -> b -> c`` for a missing ``c``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence

from worker.errors import DependencyError

CORE = "core"


def chain(path: Sequence[str]) -> str:
    """``a -> b -> c``."""
    return " -> ".join(path)


def direct(dependencies: Sequence[str]) -> list[str]:
    """A manifest's dependencies without ``core`` and duplicates, in their order."""
    return list(dict.fromkeys(d for d in dependencies if d != CORE))


def resolve(
    root: str,
    deps_of: Callable[[str], Sequence[str] | None],
    absent: str = "is not a plugin",
) -> list[tuple[str, list[str]]]:
    """Every transitive dependency of ``root``, dependencies first, with the path reaching it.

    ``deps_of(plugin)`` gives a plugin's dependencies, or None when no such plugin exists.
    Raises DependencyError naming the chain of a cycle or of a missing plugin.
    """
    done: set[str] = set()
    order: list[tuple[str, list[str]]] = []

    def visit(node: str, path: list[str]) -> None:
        deps = deps_of(node)
        if deps is None:
            raise DependencyError(f"missing dependency: {chain(path)} ({node} {absent})")
        for dep in direct(deps):
            if dep in path:
                raise DependencyError(f"dependency cycle: {chain([*path, dep])}")
            if dep not in done:
                visit(dep, [*path, dep])
        done.add(node)
        if node != root:
            order.append((node, path))

    visit(root, [root])
    return order


def fleet_order(
    graph: Mapping[str, Sequence[str]], absent: str = "is not in the fleet"
) -> tuple[list[str], dict[str, str]]:
    """The plugins of ``graph`` in dependency order (ties by id), and the refused ones.

    A plugin is refused (plugin → reason naming the chain) when it is on a cycle, depends on
    a plugin outside ``graph``, or depends on a refused plugin.
    """
    refused: dict[str, str] = {}
    for plugin in sorted(graph):
        try:
            resolve(plugin, graph.get, absent)
        except DependencyError as exc:
            refused[plugin] = str(exc)
    nodes = {p: direct(d) for p, d in graph.items() if p not in refused}
    waiting = {p: len(d) for p, d in nodes.items()}
    dependents: dict[str, list[str]] = {p: [] for p in nodes}
    for plugin, deps in nodes.items():
        for dep in deps:
            dependents[dep].append(plugin)
    ready = [p for p, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        plugin = heapq.heappop(ready)
        order.append(plugin)
        for dependent in dependents[plugin]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    return order, refused
