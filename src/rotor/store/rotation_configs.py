"""Rotation configurations as rows: a secret's function, parameters, schedule and flow,
and when it rotates next."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from rotor import errors
from rotor.clock import utcnow
from rotor.store import stages as stages_mod
from rotor.store import tables as t
from rotor.store.database import Store
from rotor.store.names import load_row, validate_name
from rotor.store.rotations import Status


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RotationConfig:
    secret_name: str
    enabled: bool
    function: str
    parameters: dict[str, Any]
    interval_seconds: int | None
    cron: str | None
    window_seconds: int | None
    #: JSON of a parsed flow; None for the default flow.
    flow: str | None
    enabled_at: dt.datetime
    next_rotation_at: dt.datetime | None
    last_rotated_at: dt.datetime | None
    #: The principal (id) who configured it; None: nobody, so nothing may be delegated.
    configured_by: str | None = None
    #: The other secrets the configurer delegated; None: not recorded yet (an upgrade).
    delegated_secrets: frozenset[str] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RotationSchedule:
    """What a read tells of a secret's rotation (the KMS dialect answers it with every
    value), read in the value's own query (:func:`rotor.store.versions.get_value`)."""

    enabled: bool
    interval_seconds: int | None
    last_rotated_at: dt.datetime | None
    next_rotation_at: dt.datetime | None


def _config(name: str, row: Any) -> RotationConfig:
    return RotationConfig(
        secret_name=name,
        enabled=bool(row.enabled),
        function=row.function,
        parameters=json.loads(row.parameters),
        interval_seconds=row.interval_seconds,
        cron=row.cron,
        window_seconds=row.window_seconds,
        flow=row.flow,
        enabled_at=row.enabled_at,
        next_rotation_at=row.next_rotation_at,
        last_rotated_at=row.last_rotated_at,
        configured_by=row.configured_by,
        delegated_secrets=(
            None if row.delegated_secrets is None else frozenset(json.loads(row.delegated_secrets))
        ),
    )


def put_config(
    store: Store,
    name: str,
    *,
    enabled: bool,
    function: str,
    parameters: dict[str, Any],
    interval_seconds: int | None,
    cron: str | None,
    window_seconds: int | None,
    flow: str | None,
    next_rotation_at: dt.datetime | None,
    configured_by: str | None,
    delegated_secrets: frozenset[str] | None,
) -> RotationConfig:
    """Create or replace the secret's rotation configuration."""
    validate_name(name)
    now = utcnow()
    values = {
        "enabled": enabled,
        "function": function,
        "parameters": json.dumps(parameters),
        "interval_seconds": interval_seconds,
        "cron": cron,
        "window_seconds": window_seconds,
        "flow": flow,
        "next_rotation_at": next_rotation_at,
        "configured_by": configured_by,
        "delegated_secrets": _names_json(delegated_secrets),
    }
    with store.write() as conn:
        row = load_row(conn, name, for_update=True)
        existing = conn.execute(
            sa.select(t.rotation_configs).where(t.rotation_configs.c.secret_id == row.id)
        ).first()
        if existing is None:
            conn.execute(
                t.rotation_configs.insert().values(
                    secret_id=row.id, enabled_at=now, last_rotated_at=None, **values
                )
            )
        else:
            if enabled and not existing.enabled:
                values["enabled_at"] = now
            conn.execute(
                t.rotation_configs.update()
                .where(t.rotation_configs.c.secret_id == row.id)
                .values(**values)
            )
        config = conn.execute(
            sa.select(t.rotation_configs).where(t.rotation_configs.c.secret_id == row.id)
        ).one()
    return _config(name, config)


def _names_json(names: frozenset[str] | None) -> str | None:
    return None if names is None else json.dumps(sorted(names))


def record_delegated_secrets(store: Store, name: str, names: frozenset[str]) -> None:
    """Record what an upgraded configuration delegates (at its first rotation)."""
    with store.write() as conn:
        row = load_row(conn, name, allow_pending_deletion=True)
        conn.execute(
            t.rotation_configs.update()
            .where(
                t.rotation_configs.c.secret_id == row.id,
                t.rotation_configs.c.delegated_secrets.is_(None),
            )
            .values(delegated_secrets=_names_json(names))
        )


def get_config(store: Store, name: str) -> RotationConfig | None:
    """The secret's configuration, or None when it has none; NotFound without the secret.

    One statement (every KMS read answers the rotation fields)."""
    validate_name(name)
    with store.read() as conn:
        row = conn.execute(
            sa.select(t.rotation_configs, t.secrets.c.id.label("found_id"))
            .select_from(
                t.secrets.outerjoin(
                    t.rotation_configs, t.rotation_configs.c.secret_id == t.secrets.c.id
                )
            )
            .where(t.secrets.c.name == name)
        ).first()
    if row is None:
        raise errors.NotFound(f"secret {name!r} not found")
    return None if row.secret_id is None else _config(name, row)


def set_schedule_times(
    store: Store,
    name: str,
    *,
    next_rotation_at: dt.datetime | None,
    last_rotated_at: dt.datetime | None = None,
) -> None:
    with store.write() as conn:
        row = load_row(conn, name, allow_pending_deletion=True)
        values: dict[str, Any] = {"next_rotation_at": next_rotation_at}
        if last_rotated_at is not None:
            values["last_rotated_at"] = last_rotated_at
        conn.execute(
            t.rotation_configs.update()
            .where(t.rotation_configs.c.secret_id == row.id)
            .values(**values)
        )


def move_next_rotation(
    store: Store, name: str, *, seen: dt.datetime, next_rotation_at: dt.datetime
) -> bool:
    """Set ``next_rotation_at`` if it is still ``seen`` and rotation still enabled; False when
    someone moved it first (another node's scheduler, a rotation that ended, a reconfiguration).

    A compare-and-set: of several schedulers that saw the same due time, one wins."""
    with store.write() as conn:
        row = load_row(conn, name, allow_pending_deletion=True)
        result = conn.execute(
            t.rotation_configs.update()
            .where(
                t.rotation_configs.c.secret_id == row.id,
                t.rotation_configs.c.enabled.is_(True),
                t.rotation_configs.c.next_rotation_at == seen,
            )
            .values(next_rotation_at=next_rotation_at)
        )
        return result.rowcount == 1


def due_configs(store: Store, now: dt.datetime, limit: int = 100) -> list[RotationConfig]:
    """Enabled configurations whose next rotation is due, of secrets not being deleted."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.rotation_configs, t.secrets.c.name)
            .join(t.secrets, t.secrets.c.id == t.rotation_configs.c.secret_id)
            .where(
                t.rotation_configs.c.enabled.is_(True),
                t.rotation_configs.c.next_rotation_at <= now,
                t.secrets.c.delete_after.is_(None),
            )
            .order_by(t.rotation_configs.c.next_rotation_at)
            .limit(limit)
        ).all()
    return [_config(r.name, r) for r in rows]


def current_version_created_at(store: Store, name: str) -> dt.datetime | None:
    """When the Current version was written (a manual change restarts an interval)."""
    with store.read() as conn:
        row = load_row(conn, name, allow_pending_deletion=True)
        found = conn.execute(
            sa.select(t.versions.c.created_at)
            .join(
                t.stages,
                sa.and_(
                    t.stages.c.secret_id == t.versions.c.secret_id,
                    t.stages.c.version_id == t.versions.c.version_id,
                ),
            )
            .where(t.stages.c.secret_id == row.id, t.stages.c.stage == stages_mod.CURRENT)
        ).first()
    return None if found is None else found.created_at


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RotationSummary:
    """A rotation of a secret as its status shows it: no steps, parameters or outputs."""

    id: str
    status: Status
    started_at: dt.datetime
    finished_at: dt.datetime | None
    #: Why it failed, was cancelled or abandoned; redacted when it was recorded.
    error: str | None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ConfigStatus:
    """A rotation configuration with what its secret's rotations last did."""

    config: RotationConfig
    #: The latest rotation that ended (None: none has).
    last_finished: RotationSummary | None
    #: The rotation running now (at most one per secret).
    running: RotationSummary | None


def config_statuses(store: Store, *, prefix: str | None = None) -> list[ConfigStatus]:
    """Every rotation configuration (of secrets whose name starts with ``prefix``, not
    scheduled for deletion) with its secret's latest finished and running rotations, by name.

    One query whatever the number of secrets, so a status page of thousands costs one
    round trip: each configuration is joined with its latest finished rotation (found by
    a correlated subquery on the rotations' secret index) and its running one (the unique
    running index)."""
    rotations = t.rotations
    last = rotations.alias("last_finished")
    running = rotations.alias("running")
    latest_finished_id = (
        sa.select(rotations.c.id)
        .where(
            rotations.c.secret_id == t.rotation_configs.c.secret_id,
            rotations.c.status != Status.RUNNING,
        )
        .order_by(rotations.c.created_at.desc(), rotations.c.id)
        .limit(1)
        .correlate(t.rotation_configs)
        .scalar_subquery()
    )
    query = (
        sa.select(
            t.rotation_configs,
            t.secrets.c.name,
            *(last.c[c].label(f"last_{c}") for c in _SUMMARY_COLUMNS),
            *(running.c[c].label(f"running_{c}") for c in _SUMMARY_COLUMNS),
        )
        .join(t.secrets, t.secrets.c.id == t.rotation_configs.c.secret_id)
        .outerjoin(last, last.c.id == latest_finished_id)
        .outerjoin(
            running,
            sa.and_(
                running.c.secret_id == t.rotation_configs.c.secret_id,
                running.c.status == Status.RUNNING,
            ),
        )
        .where(t.secrets.c.delete_after.is_(None))
        .order_by(t.secrets.c.name)
    )
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(t.secrets.c.name.like(escaped + "%", escape="\\"))
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [
        ConfigStatus(
            config=_config(row.name, row),
            last_finished=_summary(row, "last_"),
            running=_summary(row, "running_"),
        )
        for row in rows
    ]


_SUMMARY_COLUMNS = ("id", "status", "created_at", "finished_at", "error")


def _summary(row: Any, prefix: str) -> RotationSummary | None:
    rotation_id = getattr(row, f"{prefix}id")
    if rotation_id is None:
        return None
    return RotationSummary(
        id=rotation_id,
        status=Status(getattr(row, f"{prefix}status")),
        started_at=getattr(row, f"{prefix}created_at"),
        finished_at=getattr(row, f"{prefix}finished_at"),
        error=getattr(row, f"{prefix}error"),
    )
