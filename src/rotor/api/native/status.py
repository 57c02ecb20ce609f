"""``GET /v1/status``: every configured rotation's state at a glance, with a summary, so a
monitor (or ``rotor status`` in cron) learns at once that a rotation fails or is overdue.

Each secret is shown only to a caller allowed ``rotor:ListRotations`` on it, as its
rotation history is, and the summary counts only the secrets shown: a caller learns
nothing of the others, not even how many there are. The states are
:mod:`rotor.rotation.status`'s; the errors are the history's, redacted when recorded.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from rotor.access.keys import Identity
from rotor.api.native import callers, shapes
from rotor.api.openapi import failures
from rotor.clock import utcnow
from rotor.rotation import status
from rotor.settings import Settings
from rotor.store import rotation_configs
from rotor.store.database import Store

router = APIRouter(prefix="/v1", tags=["rotation"])
Caller = Annotated[Identity, Depends(callers.caller)]

ACTION = "rotor:ListRotations"


@router.get(
    "/status",
    summary="Each rotation's state at a glance: ok, running, failing, overdue, disabled, "
    "never-rotated",
    responses=failures(),
)
def rotation_status(
    request: Request, _: Caller, prefix: str | None = None, problems: bool = False
) -> JSONResponse:
    request.scope["rotor.audit"] = {"action": ACTION}
    store: Store = request.app.state.store
    settings: Settings = request.app.state.settings
    now = utcnow()
    grace = dt.timedelta(seconds=settings.overdue_grace_seconds)
    # Authorized before anything is counted: the summary is of what the caller may see.
    visible = [
        found
        for found in rotation_configs.config_statuses(store, prefix=prefix)
        if callers.allowed(request, ACTION, secret=found.config.secret_name)
    ]
    states = [(found, status.state_of(found, now, grace)) for found in visible]
    return JSONResponse(
        {
            "at": shapes.timestamp(now),
            "overdue_grace_seconds": settings.overdue_grace_seconds,
            "summary": status.summary(state for _, state in states),
            "secrets": [
                _entry_json(found, state)
                for found, state in states
                if not problems or state in status.PROBLEMS
            ],
        }
    )


def _entry_json(found: rotation_configs.ConfigStatus, state: status.State) -> dict[str, Any]:
    config = found.config
    return {
        "name": config.secret_name,
        "state": str(state),
        "function": config.function,
        "enabled": config.enabled,
        "every_seconds": config.interval_seconds,
        "cron": config.cron,
        "window_seconds": config.window_seconds,
        "next_rotation_at": shapes.timestamp(config.next_rotation_at),
        "last_rotated_at": shapes.timestamp(config.last_rotated_at),
        "last_rotation": _last_json(found.last_finished),
        "running_rotation": _running_json(found.running),
    }


def _last_json(rotation: rotation_configs.RotationSummary | None) -> dict[str, Any] | None:
    if rotation is None:
        return None
    return {
        "id": rotation.id,
        "status": str(rotation.status),
        "started_at": shapes.timestamp(rotation.started_at),
        "finished_at": shapes.timestamp(rotation.finished_at),
        "error": rotation.error,
    }


def _running_json(rotation: rotation_configs.RotationSummary | None) -> dict[str, Any] | None:
    if rotation is None:
        return None
    return {"id": rotation.id, "started_at": shapes.timestamp(rotation.started_at)}
