"""Unknown query parameters are bad input too: ``422`` naming the parameter."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from worker.errors import RequestRejected


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


_KNOWN: dict[int, frozenset[str]] = {}


def _known(route: APIRoute) -> frozenset[str]:
    key = id(route)  # routes live as long as the app
    if key not in _KNOWN:
        _KNOWN[key] = frozenset(_query_names(route.dependant))
    return _KNOWN[key]


async def no_unknown_query(request: Request) -> None:
    """App-wide dependency: refuse query parameters the route does not declare."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _known(route))
    if unknown:
        raise RequestRejected(
            "invalid request", [f"{unknown[0][:64]}: unknown query parameter; remove it"]
        )
