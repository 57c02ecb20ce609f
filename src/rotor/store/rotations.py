"""Rotation records as rows: configurations, rotations, their steps, events and leases.

The rotation engine (``rotor.rotation``) decides; this module only reads and
writes, each change in one transaction. At most one rotation per secret is
running at any time: a partial unique index enforces it across processes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from rotor import errors
from rotor.clock import utcnow
from rotor.store import stages as stages_mod
from rotor.store import tables as t
from rotor.store.database import Store
from rotor.store.names import load_row, validate_name
from rotor.store.paging import Page, decode_offset, encode_token, validate_page_size


class Status(enum.StrEnum):
    #: Steps are being run (or will be resumed after a crash).
    RUNNING = "running"
    #: The new version is Current.
    SUCCEEDED = "succeeded"
    #: A step failed after its last attempt; Current is untouched.
    FAILED = "failed"
    #: Cancelled before its end step; Current is untouched.
    CANCELLED = "cancelled"
    #: A value was written out of band while it ran; it promoted nothing.
    ABANDONED = "abandoned"


class EventKind(enum.StrEnum):
    STARTED = "started"
    STEP_SUCCEEDED = "step_succeeded"
    STEP_FAILED = "step_failed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"
    #: Another runner (a node, or this one after a restart) took over a rotation whose
    #: runner stopped; its message names both.
    RESUMED = "resumed"
    #: A warning or log line from a function (never a secret value).
    LOG = "log"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class StepRecord:
    index: int
    name: str
    step: str
    attempts: int
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str | None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    at: dt.datetime
    kind: str
    step: str | None
    message: str | None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Rotation:
    id: str
    secret_name: str
    version_id: str
    function: str
    parameters: dict[str, Any]
    flow: str
    step_index: int
    status: Status
    attempts: int
    local: dict[str, Any]
    base_version_id: str | None
    started_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    steps: tuple[StepRecord, ...] = ()


# -- rotations --------------------------------------------------------------------------


def _rotation(conn: sa.Connection, row: Any, name: str, *, with_steps: bool = True) -> Rotation:
    steps: tuple[StepRecord, ...] = ()
    if with_steps:
        steps = tuple(
            StepRecord(
                index=s.step_index,
                name=s.name,
                step=s.step,
                attempts=s.attempts,
                started_at=s.started_at,
                finished_at=s.finished_at,
                error=s.error,
            )
            for s in conn.execute(
                sa.select(t.rotation_steps)
                .where(t.rotation_steps.c.rotation_id == row.id)
                .order_by(t.rotation_steps.c.step_index)
            )
        )
    return Rotation(
        id=row.id,
        secret_name=name,
        version_id=row.version_id,
        function=row.function,
        parameters=json.loads(row.parameters),
        flow=row.flow,
        step_index=row.step_index,
        status=Status(row.status),
        attempts=row.attempts,
        local=json.loads(row.local),
        base_version_id=row.base_version_id,
        started_by=row.started_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        error=row.error,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        steps=steps,
    )


def _running_row(conn: sa.Connection, secret_id: str) -> Any:
    return conn.execute(
        sa.select(t.rotations).where(
            t.rotations.c.secret_id == secret_id, t.rotations.c.status == Status.RUNNING
        )
    ).first()


def _event(
    conn: sa.Connection, rotation_id: str, kind: EventKind, step: str | None, message: str | None
) -> None:
    conn.execute(
        t.rotation_events.insert().values(
            rotation_id=rotation_id, at=utcnow(), kind=str(kind), step=step, message=message
        )
    )


def _adopt(
    conn: sa.Connection, secret_id: str, name: str, version_id: str, on: dict[str, str]
) -> bool:
    """Whether a new rotation may have ``version_id``, and whether Pending must be put
    back on its version first; VersionConflict when it may not.

    A rotation never adopts a version it did not make: rotating "to" the Current
    version, or to one a plain put wrote, would report a rotation that changed nothing.
    - a version id no version has: yes;
    - the Pending version: yes, rotated in under its id (its new step finds it made);
    - the version of an earlier rotation that did not succeed (failed, cancelled): yes,
      with Pending back on it, so the steps run again on it, while Current is still the
      version it was made from; from a Current since replaced its credentials are stale;
    - the Current version, or a version a put wrote: no.
    """
    current = on.get(stages_mod.CURRENT)
    if on.get(stages_mod.PENDING) == version_id and version_id != current:
        return False
    exists = conn.execute(
        sa.select(t.versions.c.version_id).where(
            t.versions.c.secret_id == secret_id, t.versions.c.version_id == version_id
        )
    ).first()
    if exists is None:
        return False
    earlier = conn.execute(
        sa.select(t.rotations.c.base_version_id)
        .where(t.rotations.c.secret_id == secret_id, t.rotations.c.version_id == version_id)
        .order_by(t.rotations.c.created_at.desc())
        .limit(1)
    ).first()
    again = "a rotation needs a new version id (or none, for a generated one)"
    if earlier is None:
        what = "the Current version" if version_id == current else "an existing version"
        raise errors.VersionConflict(
            f"version {version_id!r} of secret {name!r} is {what}, not made by a rotation: " + again
        )
    if version_id == current:
        raise errors.VersionConflict(
            f"version {version_id!r} of secret {name!r} is already Current: " + again
        )
    if earlier.base_version_id != current:
        raise errors.VersionConflict(
            f"version {version_id!r} of secret {name!r} was made from a Current that has "
            "since been replaced: " + again
        )
    return True


def create_rotation(
    store: Store,
    name: str,
    *,
    version_id: str,
    function: str,
    parameters: dict[str, Any],
    flow: str,
    tasks: Sequence[tuple[str, str]],
    started_by: str,
) -> tuple[Rotation, bool]:
    """Start a rotation record with ``version_id`` (and True), or return the one that
    answers for it (and False). In one transaction, with the secret locked:

    1. a rotation that already succeeded with ``version_id``: that one (the version id
       is an idempotency key; one that did not succeed may be tried again);
    2. a running rotation, whatever its version id: that one (one runs at a time);
    3. a version id no rotation may have (:func:`_adopt`): VersionConflict;
    4. else a new rotation.
    """
    validate_name(name)
    now = utcnow()
    rotation_id = uuid.uuid4().hex
    try:
        with store.write() as conn:
            secret = load_row(conn, name, for_update=True)
            done = conn.execute(
                sa.select(t.rotations)
                .where(
                    t.rotations.c.secret_id == secret.id,
                    t.rotations.c.version_id == version_id,
                    t.rotations.c.status == Status.SUCCEEDED,
                )
                .limit(1)
            ).first()
            if done is not None:
                return _rotation(conn, done, name), False
            running = _running_row(conn, secret.id)
            if running is not None:
                return _rotation(conn, running, name), False
            on = stages_mod.stage_map(conn, secret.id)
            base = on.get(stages_mod.CURRENT)
            if _adopt(conn, secret.id, name, version_id, on):
                stages_mod.attach(conn, secret.id, stages_mod.PENDING, version_id)
            conn.execute(
                t.rotations.insert().values(
                    id=rotation_id,
                    secret_id=secret.id,
                    version_id=version_id,
                    function=function,
                    parameters=json.dumps(parameters),
                    flow=flow,
                    step_index=0,
                    status=Status.RUNNING,
                    attempts=0,
                    local="{}",
                    base_version_id=base,
                    started_by=started_by,
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                t.rotation_steps.insert(),
                [
                    {
                        "rotation_id": rotation_id,
                        "step_index": i,
                        "name": task_name,
                        "step": step,
                        "attempts": 0,
                    }
                    for i, (task_name, step) in enumerate(tasks)
                ],
            )
            _event(conn, rotation_id, EventKind.STARTED, None, f"started by {started_by}")
            row = conn.execute(sa.select(t.rotations).where(t.rotations.c.id == rotation_id)).one()
            return _rotation(conn, row, name), True
    except sa.exc.IntegrityError:
        # Another process started one between our check and insert (PostgreSQL).
        running_now = running_rotation(store, name)
        if running_now is None:
            raise
        return running_now, False


def get_rotation(store: Store, rotation_id: str) -> Rotation:
    with store.read() as conn:
        row = conn.execute(
            sa.select(t.rotations, t.secrets.c.name)
            .join(t.secrets, t.secrets.c.id == t.rotations.c.secret_id)
            .where(t.rotations.c.id == rotation_id)
        ).first()
        if row is None:
            raise errors.NotFound(f"rotation {rotation_id!r} not found")
        return _rotation(conn, row, row.name)


def running_rotation(store: Store, name: str) -> Rotation | None:
    with store.read() as conn:
        secret = load_row(conn, name, allow_pending_deletion=True)
        row = _running_row(conn, secret.id)
        return None if row is None else _rotation(conn, row, name)


def list_rotations(
    store: Store, name: str, *, page_size: int = 20, page_token: str | None = None
) -> Page[Rotation]:
    """A secret's rotations, newest first."""
    validate_name(name)
    validate_page_size(page_size)
    offset = decode_offset(page_token)
    with store.read() as conn:
        secret = load_row(conn, name, allow_pending_deletion=True)
        rows = conn.execute(
            sa.select(t.rotations)
            .where(t.rotations.c.secret_id == secret.id)
            .order_by(t.rotations.c.created_at.desc(), t.rotations.c.id)
            .offset(offset)
            .limit(page_size + 1)
        ).all()
        items = [_rotation(conn, r, name) for r in rows[:page_size]]
    more = len(rows) > page_size
    return Page(items=items, next_page_token=encode_token(offset + page_size) if more else None)


def list_events(store: Store, rotation_id: str) -> list[Event]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.rotation_events)
            .where(t.rotation_events.c.rotation_id == rotation_id)
            .order_by(t.rotation_events.c.id)
        ).all()
    return [Event(at=r.at, kind=r.kind, step=r.step, message=r.message) for r in rows]


def add_event(
    store: Store, rotation_id: str, kind: EventKind, step: str | None, message: str | None
) -> None:
    with store.write() as conn:
        _event(conn, rotation_id, kind, step, message)


def resumable(store: Store, now: dt.datetime) -> list[str]:
    """Running rotations nobody holds a live lease on (their runner died, or never began)."""
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(t.rotations.c.id)
                .where(
                    t.rotations.c.status == Status.RUNNING,
                    sa.or_(
                        t.rotations.c.lease_expires_at.is_(None),
                        t.rotations.c.lease_expires_at < now,
                    ),
                )
                .order_by(t.rotations.c.created_at)
            ).scalars()
        )


def claim(store: Store, rotation_id: str, owner: str, lease_seconds: float) -> bool:
    """Take (or renew) the rotation's lease; False when another live runner holds it."""
    now = utcnow()
    with store.write() as conn:
        result = conn.execute(
            t.rotations.update()
            .where(
                t.rotations.c.id == rotation_id,
                t.rotations.c.status == Status.RUNNING,
                sa.or_(
                    t.rotations.c.lease_owner.is_(None),
                    t.rotations.c.lease_owner == owner,
                    t.rotations.c.lease_expires_at < now,
                ),
            )
            .values(lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
        )
        return result.rowcount == 1


def start_step(store: Store, rotation_id: str, owner: str, index: int) -> bool:
    """Record an attempt of task ``index``; False if the rotation is no longer ours to run."""
    now = utcnow()
    with store.write() as conn:
        result = conn.execute(
            t.rotations.update()
            .where(
                t.rotations.c.id == rotation_id,
                t.rotations.c.status == Status.RUNNING,
                t.rotations.c.lease_owner == owner,
                t.rotations.c.step_index == index,
            )
            .values(attempts=t.rotations.c.attempts + 1, updated_at=now)
        )
        if result.rowcount != 1:
            return False
        conn.execute(
            t.rotation_steps.update()
            .where(
                t.rotation_steps.c.rotation_id == rotation_id,
                t.rotation_steps.c.step_index == index,
            )
            .values(
                attempts=t.rotation_steps.c.attempts + 1,
                started_at=sa.func.coalesce(t.rotation_steps.c.started_at, now),
            )
        )
        return True


def step_succeeded(
    store: Store, rotation_id: str, index: int, step_label: str, local: dict[str, Any]
) -> None:
    now = utcnow()
    with store.write() as conn:
        conn.execute(
            t.rotations.update()
            .where(t.rotations.c.id == rotation_id, t.rotations.c.step_index == index)
            .values(step_index=index + 1, attempts=0, local=json.dumps(local), updated_at=now)
        )
        conn.execute(
            t.rotation_steps.update()
            .where(
                t.rotation_steps.c.rotation_id == rotation_id,
                t.rotation_steps.c.step_index == index,
            )
            .values(finished_at=now, error=None)
        )
        _event(conn, rotation_id, EventKind.STEP_SUCCEEDED, step_label, None)


def step_failed(store: Store, rotation_id: str, index: int, step_label: str, message: str) -> None:
    with store.write() as conn:
        conn.execute(
            t.rotation_steps.update()
            .where(
                t.rotation_steps.c.rotation_id == rotation_id,
                t.rotation_steps.c.step_index == index,
            )
            .values(error=message)
        )
        _event(conn, rotation_id, EventKind.STEP_FAILED, step_label, message)


def finish(
    store: Store,
    rotation_id: str,
    status: Status,
    *,
    message: str | None = None,
    step_label: str | None = None,
    next_rotation_at: dt.datetime | None = None,
    owner: str | None = None,
) -> bool:
    """End a running rotation. Anything but success removes Pending from its version.

    With ``owner``, only the lease holder may finish it; returns False when the
    rotation was no longer running (or no longer ours).
    """
    now = utcnow()
    kind = {
        Status.SUCCEEDED: EventKind.SUCCEEDED,
        Status.FAILED: EventKind.FAILED,
        Status.CANCELLED: EventKind.CANCELLED,
        Status.ABANDONED: EventKind.ABANDONED,
    }[status]
    with store.write() as conn:
        row = conn.execute(
            sa.select(t.rotations).where(t.rotations.c.id == rotation_id).with_for_update()
        ).first()
        if row is None or row.status != Status.RUNNING:
            return False
        if owner is not None and row.lease_owner != owner:
            return False
        if status == Status.CANCELLED:
            current = conn.execute(
                sa.select(t.rotation_steps).where(
                    t.rotation_steps.c.rotation_id == rotation_id,
                    t.rotation_steps.c.step_index == row.step_index,
                )
            ).first()
            if current is not None and current.step == "end" and current.started_at is not None:
                raise errors.RotationInProgress(
                    "the rotation is in its end step and can no longer be cancelled"
                )
        conn.execute(
            t.rotations.update()
            .where(t.rotations.c.id == rotation_id)
            .values(
                status=status,
                finished_at=now,
                updated_at=now,
                error=message if status != Status.SUCCEEDED else None,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        on = stages_mod.stage_map(conn, row.secret_id)
        if on.get(stages_mod.PENDING) == row.version_id:
            # After any rotation, Pending is gone from its version: the next one starts clean.
            conn.execute(
                t.stages.delete().where(
                    t.stages.c.secret_id == row.secret_id,
                    t.stages.c.stage == stages_mod.PENDING,
                )
            )
        config_values: dict[str, Any] = {"next_rotation_at": next_rotation_at}
        if status == Status.SUCCEEDED:
            config_values["last_rotated_at"] = now
        if next_rotation_at is not None or status == Status.SUCCEEDED:
            conn.execute(
                t.rotation_configs.update()
                .where(t.rotation_configs.c.secret_id == row.secret_id)
                .values(**config_values)
            )
        _event(conn, rotation_id, kind, step_label, message)
        return True


def discard_version(store: Store, name: str, version_id: str) -> None:
    """Remove a version that carries at most the Pending stage (a dry run's leftovers)."""
    with store.write() as conn:
        secret = load_row(conn, name, for_update=True)
        on = stages_mod.stage_map(conn, secret.id)
        holding = {s for s, v in on.items() if v == version_id}
        if holding - {stages_mod.PENDING}:
            raise errors.Conflict(f"version {version_id!r} is staged {sorted(holding)}; kept")
        conn.execute(
            t.versions.delete().where(
                t.versions.c.secret_id == secret.id, t.versions.c.version_id == version_id
            )
        )
