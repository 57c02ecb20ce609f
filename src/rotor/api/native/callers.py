"""Who calls a native route, and what they may do: the caller dependency every /v1 route
takes, authorization on a secret or another resource (recording what the audit event
says), and the refusal of a repeated query parameter."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rotor import errors
from rotor.access.keys import Identity, secret_resource

_bearer = HTTPBearer(auto_error=False, description="`<access_key_id>.<access_key_secret>`")


def _is_list(annotation: object) -> bool:
    """Whether a parameter's type is a list (or set, tuple), possibly optional."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return (typing.get_origin(annotation) or annotation) in (list, set, frozenset, tuple)


def _repeatable(dependant: Dependant) -> set[str]:
    """The query parameters a route (with its dependencies) takes as lists."""
    names = {f.alias for f in dependant.query_params if _is_list(f.field_info.annotation)}
    for sub in dependant.dependencies:
        names |= _repeatable(sub)
    return names


def single_parameters(request: Request) -> None:
    """Refuse a query parameter given more than once, unless the route takes it as a list
    (``tag`` on the list of secrets): which of them counts would be a guess."""
    names = [name for name, _ in request.query_params.multi_items()]
    repeated = list(dict.fromkeys(n for i, n in enumerate(names) if n in names[:i]))
    if not repeated:
        return
    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        allowed = _repeatable(route.dependant)
        repeated = [name for name in repeated if name not in allowed]
    if repeated:
        listed = ", ".join(repr(name) for name in repeated)
        raise errors.InvalidParameter(f"the query parameter {listed} is given more than once")


async def caller(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    __: Annotated[None, Depends(single_parameters)],
) -> Identity:
    """The authenticated caller (the front door authenticated every /v1 request), of a
    request that gives each query parameter once: every /v1 route depends on it."""
    identity: Identity = request.scope["rotor.identity"]
    return identity


def secret_pattern(request: Request, name: str) -> str:
    """The resource name of a secret (or, with ``*`` in ``name``, of secrets) here."""
    settings = request.app.state.settings
    return secret_resource(name, region=settings.region, account=settings.account_id)


def allowed(request: Request, action: str, *, secret: str) -> bool:
    identity: Identity = request.scope["rotor.identity"]
    return identity.allows(action, secret_pattern(request, secret))


def authorize(
    request: Request, action: str, *, secret: str | None = None, resource: str | None = None
) -> Identity:
    """Require the caller to be allowed ``action`` on a secret (by name) or another resource;
    records what the request is about for its audit event."""
    identity: Identity = request.scope["rotor.identity"]
    details: dict[str, Any] = {"action": action}
    if secret is not None:
        details["secret_name"] = secret
        settings = request.app.state.settings
        resource = secret_resource(secret, region=settings.region, account=settings.account_id)
    request.scope["rotor.audit"] = details
    identity.require(action, resource or "*")
    return identity


def note_version(request: Request, version_id: str) -> None:
    """The version a request read or wrote, for its audit event."""
    request.scope.setdefault("rotor.audit", {})["version_id"] = version_id
