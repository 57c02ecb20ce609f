"""Who the caller is, and short-lived credentials of a role (assume-role)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from rotor import errors
from rotor.access import keys, policies
from rotor.access.keys import Identity
from rotor.api.native import access, callers, request_bodies, shapes
from rotor.api.openapi import BODY_FAILURES, failures
from rotor.store import principals
from rotor.store.database import Store

router = APIRouter(prefix="/v1", tags=["access control"])
Caller = Annotated[Identity, Depends(callers.caller)]

DEFAULT_SESSION_SECONDS = 3600
MIN_SESSION_SECONDS = 900
MAX_SESSION_SECONDS = 12 * 3600


class AssumeRole(request_bodies.Body):
    role: access.PrincipalName
    duration_seconds: int = Field(
        default=DEFAULT_SESSION_SECONDS,
        description=f"{MIN_SESSION_SECONDS}-{MAX_SESSION_SECONDS} seconds.",
        json_schema_extra={"minimum": MIN_SESSION_SECONDS, "maximum": MAX_SESSION_SECONDS},
    )
    policy: str | dict[str, Any] | None = Field(
        default=None,
        description="A policy (JSON text or object) that narrows what the role's policies allow.",
    )


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


@router.get(
    "/whoami",
    summary="The caller: principal, access key and attached policies",
    responses=failures(),
)
def whoami(request: Request, caller: Caller) -> JSONResponse:
    """Needs no permission: any authenticated caller may ask who it is."""
    store = _store(request)
    key = principals.get_access_key_info(store, caller.access_key_id)
    principal = principals.get_principal(store, caller.principal_name)
    return JSONResponse(
        {
            "principal": caller.principal_name,
            "kind": principal.kind if principal else None,
            "access_key_id": caller.access_key_id,
            "session": bool(key and key.session),
            "expires_at": shapes.timestamp(key.expires_at if key else None),
            "policies": principals.attached_policy_names(store, caller.principal_id),
        }
    )


@router.post(
    "/assume-role",
    summary="Get short-lived credentials of a role",
    responses=failures(*BODY_FAILURES, errors.AccessDenied, errors.NotFound),
)
def assume_role(request: Request, body: AssumeRole, _: Caller) -> JSONResponse:
    callers.authorize(request, "sts:AssumeRole", resource=access.principal_resource(body.role))
    if not MIN_SESSION_SECONDS <= body.duration_seconds <= MAX_SESSION_SECONDS:
        raise errors.InvalidParameter(
            f"duration_seconds must be between {MIN_SESSION_SECONDS} and {MAX_SESSION_SECONDS}"
        )
    if body.policy is None:
        # Nothing narrows the role's own policies.
        narrowing = json.dumps(policies.ADMINISTRATOR)
    else:
        narrowing = body.policy if isinstance(body.policy, str) else json.dumps(body.policy)
        try:
            policies.parse_policy(narrowing)
        except errors.InvalidParameter as exc:
            raise errors.InvalidParameter(f"policy: {exc.message}") from None
    store = _store(request)
    role = principals.require_principal(store, body.role)
    if role.kind != principals.ROLE:
        raise errors.InvalidParameter(
            f"{body.role!r} is a {role.kind}, not a role: only roles can be assumed"
        )
    key_id, secret, token = keys.create_access_key(
        store, role, expires_in_seconds=body.duration_seconds, session_policy=narrowing
    )
    info = principals.get_access_key_info(store, key_id)
    expires_at = info.expires_at if info else None
    assert isinstance(expires_at, dt.datetime)
    return JSONResponse(
        {
            "role": role.name,
            "access_key_id": key_id,
            "access_key_secret": secret,
            "security_token": token,
            "expires_at": shapes.timestamp(expires_at),
        }
    )
