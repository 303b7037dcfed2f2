"""Query parameters a route does not know are an error, not silently ignored: a misspelt
filter (`?failure_reason=timeout` before it existed, `?slotid=`) would otherwise return every
job and look like an answer."""

from __future__ import annotations

from fastapi import Request
from fastapi.routing import APIRoute
from photochanger_contracts import ErrorCode

from .errors import ApiError


def known_query_parameters(route: APIRoute) -> frozenset[str]:
    """The names (aliases) of the query parameters `route` declares, its dependencies' too."""
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(p.alias for p in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)


async def refuse_unknown_query_parameters(request: Request) -> None:
    """A route dependency: 422 `validation_failed` naming each query parameter the route does
    not declare (`details.problems[].field` = `query.<name>`, `type` = `unknown_parameter`)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - known_query_parameters(route))
    if unknown:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "unknown query parameter",
            {
                "problems": [
                    {
                        "field": f"query.{name}",
                        "message": "unknown query parameter",
                        "type": "unknown_parameter",
                        "ctx": {"allowed": ", ".join(sorted(known_query_parameters(route)))},
                    }
                    for name in unknown
                ]
            },
        )
