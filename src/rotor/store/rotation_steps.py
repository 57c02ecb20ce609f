"""A running rotation's progress as rows: its runner's lease, each step's attempts and
outcome, and how the rotation ends.

The rotation engine (``rotor.rotation.engine``) decides; this module only reads and
writes, each change in one transaction. The records themselves (a rotation, its steps
and events, starting one) are :mod:`rotor.store.rotations`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from rotor import errors
from rotor.clock import utcnow
from rotor.store import stages as stages_mod
from rotor.store import tables as t
from rotor.store.database import Store, bind_time, driver_execute
from rotor.store.rotations import EventKind, Rotation, Status, insert_event, read_rotation

# -- leases -----------------------------------------------------------------------------


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
    with store.write() as conn:
        return _claim(conn, store, rotation_id, owner, lease_seconds)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Claim:
    """What :func:`take` found and did."""

    #: The rotation as it was before the claim (its lease holder then, its progress).
    before: Rotation
    #: Whether the lease is the caller's now.
    taken: bool


def take(store: Store, rotation_id: str, owner: str, lease_seconds: float) -> Claim:
    """Read the rotation and take its lease (:func:`claim`), in one transaction that locks
    its row: the progress read is the one the lease holder resumes from."""
    with store.write() as conn:
        before = read_rotation(conn, rotation_id, for_update=True)
        return Claim(before=before, taken=_claim(conn, store, rotation_id, owner, lease_seconds))


def _claim(
    conn: sa.Connection, store: Store, rotation_id: str, owner: str, lease_seconds: float
) -> bool:
    now = utcnow()
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
        .values(
            lease_owner=owner,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            node=store.node,
        )
    )
    return result.rowcount == 1


# -- steps ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Standing:
    """Where a rotation's secret stands, read before each step."""

    #: The secret's stages (stage -> version id).
    stages: dict[str, str]
    #: Whether the rotation's version has been written.
    version_exists: bool


def standing(store: Store, rotation_id: str) -> Standing:
    """The stages of the rotation's secret and whether its version exists: the few rows a
    step's check needs, not the whole secret, in one statement."""
    with store.read() as conn:
        return _standing(conn, rotation_id)[0]


_STANDING_SQL = (
    "SELECT st.stage, st.version_id, EXISTS (SELECT 1 FROM versions v "
    "WHERE v.secret_id = r.secret_id AND v.version_id = r.version_id), "
    "r.status, r.lease_owner, r.step_index "
    "FROM rotations r LEFT OUTER JOIN stages st ON st.secret_id = r.secret_id WHERE r.id = ?"
)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Progress:
    """The rotation's row as a step's check reads it."""

    status: str
    lease_owner: str | None
    step_index: int


def _standing(conn: sa.Connection, rotation_id: str) -> tuple[Standing, _Progress]:
    """The standing and the rotation's progress (its status, lease owner and step index)."""
    rows = driver_execute(conn, _STANDING_SQL, (rotation_id,))
    if not rows:
        raise errors.NotFound(f"rotation {rotation_id!r} not found")
    on = {stage: version for stage, version, *_ in rows if stage is not None}
    _, _, found, status, lease_owner, step_index = rows[0]
    progress = _Progress(status=status, lease_owner=lease_owner, step_index=step_index)
    return Standing(stages=on, version_exists=bool(found)), progress


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Started:
    """What :func:`start_step` found and did."""

    standing: Standing
    #: The attempt's number (1 for the first); None when the check refused the standing
    #: (no attempt recorded).
    attempt: int | None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Done:
    """A task that succeeded, to record (:func:`step_succeeded`)."""

    index: int
    label: str
    #: The rotation's local state after it.
    local: dict[str, Any]


def start_step(
    store: Store,
    rotation_id: str,
    owner: str,
    index: int,
    check: Callable[[Standing], bool],
    *,
    after: Done | None = None,
) -> Started | None:
    """Read where the rotation's secret stands and, if ``check`` passes it, record an
    attempt of task ``index``, in one transaction; None if the rotation is no longer ours
    to run (no attempt recorded). ``after``: the task before, which succeeded, recorded
    first in the same transaction (whatever the check says)."""
    now = utcnow()
    with store.write() as conn:
        if after is not None:
            _succeeded(conn, store, rotation_id, after)
        found, progress = _standing(conn, rotation_id)
        ours = progress.status == Status.RUNNING and progress.lease_owner == owner
        if not ours or progress.step_index != index:
            return None
        if not check(found):
            return Started(standing=found, attempt=None)
        # Guarded again: on PostgreSQL another node may have claimed it since the read.
        at = bind_time(conn, now)
        attempted = driver_execute(
            conn, _ATTEMPT_SQL, (at, rotation_id, str(Status.RUNNING), owner, index)
        )
        if not attempted:
            return None
        [(attempt,)] = attempted
        driver_execute(conn, _STEP_ATTEMPT_SQL, (at, rotation_id, index))
        return Started(standing=found, attempt=int(attempt))


def step_succeeded(store: Store, rotation_id: str, done: Done) -> None:
    """Record that a task succeeded: the rotation moves on to the next one."""
    with store.write() as conn:
        _succeeded(conn, store, rotation_id, done)


def _succeeded(conn: sa.Connection, store: Store, rotation_id: str, done: Done) -> None:
    at = bind_time(conn, utcnow())
    local = json.dumps(done.local)
    driver_execute(conn, _SUCCEEDED_SQL, (done.index + 1, local, at, rotation_id, done.index))
    driver_execute(conn, _STEP_SUCCEEDED_SQL, (at, rotation_id, done.index))
    insert_event(conn, store, rotation_id, EventKind.STEP_SUCCEEDED, done.label, None)


# The bookkeeping of every step, on the driver: SQLAlchemy's statement building and
# execution cost several times the statements themselves, on every step of every rotation.
_ATTEMPT_SQL = (
    "UPDATE rotations SET attempts = attempts + 1, updated_at = ? "
    "WHERE id = ? AND status = ? AND lease_owner = ? AND step_index = ? RETURNING attempts"
)
_STEP_ATTEMPT_SQL = (
    "UPDATE rotation_steps SET attempts = attempts + 1, started_at = coalesce(started_at, ?) "
    "WHERE rotation_id = ? AND step_index = ?"
)
_SUCCEEDED_SQL = (
    "UPDATE rotations SET step_index = ?, attempts = 0, local = ?, updated_at = ? "
    "WHERE id = ? AND step_index = ?"
)
_STEP_SUCCEEDED_SQL = (
    "UPDATE rotation_steps SET finished_at = ?, error = NULL "
    "WHERE rotation_id = ? AND step_index = ?"
)


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
        insert_event(conn, store, rotation_id, EventKind.STEP_FAILED, step_label, message)


# -- the end ----------------------------------------------------------------------------


def finish(
    store: Store,
    rotation_id: str,
    status: Status,
    *,
    message: str | None = None,
    step_label: str | None = None,
    next_rotation_at: dt.datetime | None = None,
    owner: str | None = None,
    code: str | None = None,
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
        insert_event(conn, store, rotation_id, kind, step_label, message, code)
        return True
