"""Rotation records as rows: a rotation, its steps and events; starting one.

The rotation engine (``rotor.rotation``) decides; this module only reads and
writes, each change in one transaction. At most one rotation per secret is
running at any time: a partial unique index enforces it across processes. A
running rotation's lease, steps and end are :mod:`rotor.store.rotation_steps`.
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
from rotor.store import events
from rotor.store import stages as stages_mod
from rotor.store import tables as t
from rotor.store.database import Store, bind_time, driver_execute
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
    #: The node that recorded it (None: recorded before nodes were named).
    node: str | None = None


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
    #: The node that started it, then the one whose runner holds (or last held) it.
    node: str | None = None
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
        node=row.node,
        steps=steps,
    )


def _running_row(conn: sa.Connection, secret_id: str) -> Any:
    return conn.execute(
        sa.select(t.rotations).where(
            t.rotations.c.secret_id == secret_id, t.rotations.c.status == Status.RUNNING
        )
    ).first()


#: The history events that are also events of the log (rotor.store.events).
_LOGGED = {
    EventKind.STARTED: events.ROTATION_STARTED,
    EventKind.SUCCEEDED: events.ROTATION_SUCCEEDED,
    EventKind.FAILED: events.ROTATION_FAILED,
    EventKind.RESUMED: events.ROTATION_RESUMED,
    EventKind.CANCELLED: events.ROTATION_CANCELLED,
    EventKind.ABANDONED: events.ROTATION_ABANDONED,
}


#: On the driver: a rotation records half a dozen events (SQLAlchemy's layer costs more).
_EVENT_SQL = (
    "INSERT INTO rotation_events (rotation_id, at, kind, step, message, node) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def insert_event(
    conn: sa.Connection,
    store: Store,
    rotation_id: str,
    kind: EventKind,
    step: str | None,
    message: str | None,
    code: str | None = None,
) -> None:
    """Add an event this node recorded to a rotation's history, inside the caller's write
    transaction; a start, a resumption and an end go to the event log too, with the
    failing step and ``code`` (never the message)."""
    at = bind_time(conn, utcnow())
    driver_execute(conn, _EVENT_SQL, (rotation_id, at, str(kind), step, message, store.node))
    logged = _LOGGED.get(kind)
    if logged is None:
        return
    row = conn.execute(
        sa.select(t.secrets.c.name, t.rotations.c.version_id, t.rotations.c.function)
        .join(t.secrets, t.secrets.c.id == t.rotations.c.secret_id)
        .where(t.rotations.c.id == rotation_id)
    ).one()
    data: dict[str, Any] = {
        "rotation_id": rotation_id,
        "version_id": row.version_id,
        "function": row.function,
    }
    if kind is EventKind.FAILED:
        data |= {"step": step, "error_code": code or "Failed"}
    events.record(conn, store, logged, row.name, data)


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
                    node=store.node,
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
            insert_event(
                conn, store, rotation_id, EventKind.STARTED, None, f"started by {started_by}"
            )
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
        return read_rotation(conn, rotation_id)


def read_rotation(conn: sa.Connection, rotation_id: str, *, for_update: bool = False) -> Rotation:
    """The rotation, inside a transaction (``for_update``: locking its row, in a write)."""
    query = (
        sa.select(t.rotations, t.secrets.c.name)
        .join(t.secrets, t.secrets.c.id == t.rotations.c.secret_id)
        .where(t.rotations.c.id == rotation_id)
    )
    if for_update:
        query = query.with_for_update(of=t.rotations)
    row = conn.execute(query).first()
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
    return [Event(at=r.at, kind=r.kind, step=r.step, message=r.message, node=r.node) for r in rows]


def add_event(
    store: Store, rotation_id: str, kind: EventKind, step: str | None, message: str | None
) -> None:
    with store.write() as conn:
        insert_event(conn, store, rotation_id, kind, step, message)


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
