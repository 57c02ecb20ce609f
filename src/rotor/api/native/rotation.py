"""Rotation: configure, rotate now, cancel, history."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from rotor import errors
from rotor.access.keys import Identity
from rotor.api.native import callers, paths, request_bodies, shapes
from rotor.api.openapi import BODY_FAILURES, SECRET_FAILURES, failures
from rotor.clock import utcnow
from rotor.rotation import configuration
from rotor.rotation.engine import Engine
from rotor.rotation.scheduler import Scheduler
from rotor.store import rotation_configs, rotations

router = APIRouter(prefix="/v1", tags=["rotation"])
Caller = Annotated[Identity, Depends(callers.caller)]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _scheduler(request: Request) -> Scheduler:
    scheduler: Scheduler = request.app.state.scheduler
    return scheduler


def _config_json(config: rotation_configs.RotationConfig) -> dict[str, Any]:
    return {
        "name": config.secret_name,
        "enabled": config.enabled,
        "function": config.function,
        "parameters": config.parameters,
        "every_seconds": config.interval_seconds,
        "cron": config.cron,
        "window_seconds": config.window_seconds,
        "custom_flow": config.flow is not None,
        "next_rotation_at": shapes.timestamp(config.next_rotation_at),
        "last_rotated_at": shapes.timestamp(config.last_rotated_at),
    }


def rotation_json(rotation: rotations.Rotation) -> dict[str, Any]:
    steps = [
        {
            "index": s.index,
            "name": s.name,
            "step": s.step,
            "attempts": s.attempts,
            "started_at": shapes.timestamp(s.started_at),
            "finished_at": shapes.timestamp(s.finished_at),
            "error": s.error,
        }
        for s in rotation.steps
    ]
    out: dict[str, Any] = {
        "id": rotation.id,
        "name": rotation.secret_name,
        "version_id": rotation.version_id,
        "function": rotation.function,
        "status": str(rotation.status),
        "step_index": rotation.step_index,
        "attempts": rotation.attempts,
        "started_by": rotation.started_by,
        "node": rotation.node,
        "created_at": shapes.timestamp(rotation.created_at),
        "updated_at": shapes.timestamp(rotation.updated_at),
        "finished_at": shapes.timestamp(rotation.finished_at),
        "error": rotation.error,
        "steps": steps,
    }
    return out


@router.put(
    paths.SECRET + ":rotation",
    summary="Configure rotation (enable, schedule, function)",
    responses=failures(
        *BODY_FAILURES, *SECRET_FAILURES, errors.DelegationDenied, errors.RotationInProgress
    ),
)
def configure_rotation(
    request: Request, name: str, body: request_bodies.ConfigureRotation, caller: Caller
) -> JSONResponse:
    callers.authorize(request, "kms:UpdateSecretRotationPolicy", secret=name)
    engine = _engine(request)
    if not body.enabled:
        config = configuration.disable(engine, name)
        return JSONResponse({"rotation": _config_json(config), "started": None})
    configured = configuration.configure(
        engine,
        name,
        configuration.RotationRequest(
            enabled=True,
            function=body.function,
            parameters=body.parameters,
            every=body.every,
            cron=body.cron,
            window=body.window,
            flow=body.flow,
            rotate_now=body.rotate_now,
        ),
        identity=caller,
        started_by=f"principal {caller.principal_name}",
        scheduler=_scheduler(request),
    )
    rotation, report = configured.rotation, configured.dry_run
    return JSONResponse(
        {
            "rotation": _config_json(configuration.describe(engine, name)),
            "started": rotation_json(rotation) if rotation else None,
            "dry_run": dataclasses.asdict(report) if report else None,
        }
    )


@router.get(
    paths.SECRET + ":rotation",
    summary="Show the rotation configuration",
    responses=failures(*SECRET_FAILURES),
)
def describe_rotation(request: Request, name: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "kms:DescribeSecret", secret=name)
    return JSONResponse(_config_json(configuration.describe(_engine(request), name)))


@router.post(
    paths.SECRET + ":rotate",
    status_code=202,
    summary="Rotate now",
    responses=failures(
        *BODY_FAILURES,
        *SECRET_FAILURES,
        errors.DelegationDenied,
        errors.RotationInProgress,
        errors.VersionConflict,
    ),
)
def rotate_secret(
    request: Request, name: str, caller: Caller, body: request_bodies.RotateSecret | None = None
) -> JSONResponse:
    callers.authorize(request, "kms:RotateSecret", secret=name)
    body = body or request_bodies.RotateSecret()
    # ``version_id`` is an idempotency key, as in every dialect (rotor.rotation.engine).
    rotation, created = _scheduler(request).rotate(
        name,
        started_by=f"principal {caller.principal_name}",
        version_id=body.version_id,
        require_new=body.require_new,
    )
    return JSONResponse({**rotation_json(rotation), "created": created}, status_code=202)


@router.post(
    paths.SECRET + ":cancel-rotation",
    summary="Cancel the running rotation",
    responses=failures(*SECRET_FAILURES, errors.Conflict),
)
def cancel_rotation(request: Request, name: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:CancelRotation", secret=name)
    return JSONResponse(rotation_json(_engine(request).cancel(name)))


@router.get(
    paths.SECRET + ":rotations",
    summary="Rotation history, newest first",
    responses=failures(*SECRET_FAILURES),
)
def list_rotations(
    request: Request, name: str, _: Caller, page_size: int = 20, page_token: str | None = None
) -> JSONResponse:
    callers.authorize(request, "rotor:ListRotations", secret=name)
    page = rotations.list_rotations(
        _engine(request).store, name, page_size=page_size, page_token=page_token
    )
    return JSONResponse(
        {
            "rotations": [rotation_json(r) for r in page.items],
            "next_page_token": page.next_page_token,
        }
    )


@router.get(
    "/rotations/{rotation_id}",
    summary="One rotation, with its steps and events",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def get_rotation(request: Request, rotation_id: str, _: Caller) -> JSONResponse:
    store = _engine(request).store
    callers.authorize(
        request,
        "rotor:ListRotations",
        secret=rotations.get_rotation(store, rotation_id).secret_name,
    )
    # Events first, then the record: every event shown is reflected in the steps shown
    # (a step's error and its step_failed event are written together). A rotation that
    # had finished by then may have finished after the events were read: read both
    # again, so a finished rotation shows its whole history.
    events = rotations.list_events(store, rotation_id)
    rotation = rotations.get_rotation(store, rotation_id)
    if rotation.status is not rotations.Status.RUNNING:
        events = rotations.list_events(store, rotation_id)
        rotation = rotations.get_rotation(store, rotation_id)
    out = rotation_json(rotation)
    out["events"] = [
        {
            "at": shapes.timestamp(e.at),
            "kind": e.kind,
            "step": e.step,
            "message": e.message,
            "node": e.node,
        }
        for e in events
    ]
    return JSONResponse(out)


@router.get(
    "/due-rotations", summary="Secrets whose scheduled rotation is due", responses=failures()
)
def due_rotations(request: Request, _: Caller) -> JSONResponse:
    request.scope["rotor.audit"] = {"action": "rotor:ListRotations"}
    due = rotation_configs.due_configs(_engine(request).store, utcnow(), limit=1000)
    names = [
        c.secret_name
        for c in due
        if callers.allowed(request, "rotor:ListRotations", secret=c.secret_name)
    ]
    return JSONResponse({"secrets": names})
