"""The audit log: who did what to which secret, when, from where, and the outcome."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from rotor import errors
from rotor.access.audit import AuditLog
from rotor.access.keys import Identity
from rotor.api.native import callers, shapes
from rotor.api.openapi import failures
from rotor.store import audit
from rotor.store.database import Store

router = APIRouter(prefix="/v1", tags=["audit"])
Caller = Annotated[Identity, Depends(callers.caller)]

AUDIT_RESOURCE = "rotor:audit"
#: A request's outcomes, then those of rotation steps and rotations (``failed`` is both).
OUTCOMES = (
    "allowed",
    "denied",
    "unauthenticated",
    "failed",
    "succeeded",
    "cancelled",
    "abandoned",
)


def event_json(event: audit.AuditEvent) -> dict[str, Any]:
    return {
        "at": shapes.timestamp(event.at),
        "request_id": event.request_id,
        "principal": event.principal,
        "access_key_id": event.access_key_id,
        "source": event.source,
        "action": event.action,
        "secret": event.secret_name,
        "version_id": event.version_id,
        "rotation_id": event.rotation_id,
        "function": event.function,
        "on_behalf_of": event.on_behalf_of,
        "outcome": event.outcome,
        "error_code": event.error_code,
        "node": event.node,
    }


def parse_time(value: str | None, field: str) -> dt.datetime | None:
    """An RFC 3339 time with a zone (``2026-01-31T12:00:00Z``), or None."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise errors.InvalidParameter(
            f"{field} must be an RFC 3339 time such as 2026-01-31T12:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise errors.InvalidParameter(f"{field} needs a time zone (e.g. Z or +02:00)")
    return parsed.astimezone(dt.UTC)


@router.get(
    "/audit",
    summary="List audit events, newest first",
    responses=failures(errors.AccessDenied),
)
def list_audit_events(
    request: Request,
    _: Caller,
    secret: str | None = None,
    principal: str | None = None,
    action: str | None = None,
    outcome: Annotated[str | None, Query(json_schema_extra={"enum": list(OUTCOMES)})] = None,
    since: str | None = None,
    until: str | None = None,
    page_size: int = 100,
    page_token: str | None = None,
) -> JSONResponse:
    callers.authorize(request, "rotor:ListAuditEvents", resource=AUDIT_RESOURCE)
    if outcome is not None and outcome not in OUTCOMES:
        raise errors.InvalidParameter(f"outcome must be one of {', '.join(OUTCOMES)}")
    start, end = parse_time(since, "since"), parse_time(until, "until")
    # Events are written in the background: include those of requests that just finished.
    log: AuditLog = request.app.state.audit
    log.flush()
    store: Store = request.app.state.store
    page = audit.list_events(
        store,
        secret_name=secret,
        principal=principal,
        action=action,
        outcome=outcome,
        since=start,
        until=end,
        page_size=page_size,
        page_token=page_token,
    )
    return JSONResponse(
        {
            "events": [event_json(e) for e in page.items],
            "next_page_token": page.next_page_token,
        }
    )
