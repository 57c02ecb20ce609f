"""Stages: labels that each point at exactly one version of a secret.

Three are reserved: ``Current`` (what applications use), ``Pending`` (the
version being rotated in) and ``Previous`` (the last Current). Moving Current
moves Previous to the version that was Current, in the same transaction. A
secret that has versions always has exactly one Current.

Every API dialect has its own spelling of the reserved stages (``ACSCurrent``,
``AWSCURRENT``); the store has one, and refuses those spellings as custom names
so a dialect can always map both ways.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from rotor import errors
from rotor.clock import utcnow
from rotor.store import events
from rotor.store import tables as t
from rotor.store.database import Store, driver_sql
from rotor.store.names import load_row, validate_name

CURRENT = "Current"
PENDING = "Pending"
PREVIOUS = "Previous"
RESERVED = (CURRENT, PENDING, PREVIOUS)

_STAGE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Reserved stages as other dialects spell them, compared case-insensitively.
_DIALECT_SPELLINGS = {
    prefix + word for prefix in ("acs", "aws") for word in ("current", "pending", "previous")
}


def validate_stage(stage: object) -> str:
    if not isinstance(stage, str) or not _STAGE_RE.fullmatch(stage):
        raise errors.InvalidParameter("stage names must be 1-64 characters of A-Z a-z 0-9 _ . -")
    lowered = stage.lower()
    if lowered in _DIALECT_SPELLINGS or (
        lowered in {s.lower() for s in RESERVED} and stage not in RESERVED
    ):
        raise errors.InvalidParameter(
            f"stage name {stage!r} is reserved; use Current, Pending or Previous"
        )
    return stage


def stage_map(conn: sa.Connection, secret_id: str) -> dict[str, str]:
    rows = conn.execute(
        sa.select(t.stages.c.stage, t.stages.c.version_id).where(t.stages.c.secret_id == secret_id)
    )
    return {r.stage: r.version_id for r in rows}


# One statement however many stages a change sets (a new Current also sets Previous).
_UPSERT_SQL = (
    "INSERT INTO stages (secret_id, stage, version_id) VALUES (?, ?, ?) "
    "ON CONFLICT (secret_id, stage) DO UPDATE SET version_id = excluded.version_id"
)


def moved(on: dict[str, str], stage: str, version_id: str) -> dict[str, str]:
    """The stages (stage -> version id) after pointing ``stage`` at ``version_id``:
    moving Current to a new version moves Previous to the version that was Current."""
    old = on.get(stage)
    if old == version_id:
        return on
    after = {**on, stage: version_id}
    if stage == CURRENT and old is not None:
        after[PREVIOUS] = old
    return after


def write_moves(
    conn: sa.Connection, secret_id: str, before: dict[str, str], after: dict[str, str]
) -> None:
    """Write the stages :func:`moved` changed (inside a write transaction that locked the
    secret)."""
    rows = [(secret_id, s, v) for s, v in after.items() if before.get(s) != v]
    if rows:
        conn.exec_driver_sql(driver_sql(conn, _UPSERT_SQL), rows)


def attach(conn: sa.Connection, secret_id: str, stage: str, version_id: str) -> None:
    """Point ``stage`` at ``version_id`` (inside a write transaction that locked the secret).

    Attaching Current to a new version moves Previous to the version that was Current.
    """
    current = stage_map(conn, secret_id)
    write_moves(conn, secret_id, current, moved(current, stage, version_id))


def update_stage(
    store: Store,
    name: str,
    stage: str,
    *,
    move_to_version: str | None = None,
    remove_from_version: str | None = None,
) -> dict[str, str]:
    """Move ``stage`` to a version and/or remove it from the version it is on.

    Returns the secret's stages afterwards (stage -> version id).
    """
    validate_name(name)
    validate_stage(stage)
    if move_to_version is None and remove_from_version is None:
        raise errors.InvalidParameter("give move_to_version, remove_from_version or both")
    if stage == CURRENT and move_to_version is None:
        raise errors.InvalidParameter(
            "Current cannot be removed; move it to another version instead"
        )
    with store.write() as conn:
        row = load_row(conn, name, for_update=True)
        before = stage_map(conn, row.id)
        holder = before.get(stage)
        if remove_from_version is not None and holder != remove_from_version:
            raise errors.InvalidParameter(
                f"stage {stage!r} is not on version {remove_from_version!r} of secret {name!r}"
            )
        if move_to_version is not None:
            after = _move(conn, row.id, name, before, stage, move_to_version)
        else:
            after = _remove(conn, row.id, before, stage)
        _touch(conn, store, row.id)
        if after != before:
            changed = {"version_id": move_to_version or remove_from_version, "stages": after}
            events.record(conn, store, events.SECRET_CHANGED, name, changed)
        return after


def make_current(
    store: Store, name: str, version_id: str, *, expected_current: str | None
) -> dict[str, str]:
    """A rotation's end, in one transaction: move Current to ``version_id`` (only from
    ``expected_current`` when given; nothing when it is there already) and remove Pending
    from it. Returns the secret's stages afterwards.

    What :func:`update_stage` of Current then of Pending does, with one event for both.
    """
    validate_name(name)
    with store.write() as conn:
        row = load_row(conn, name, for_update=True)
        before = stage_map(conn, row.id)
        after = before
        if before.get(CURRENT) != version_id:
            if expected_current is not None and before.get(CURRENT) != expected_current:
                raise errors.InvalidParameter(
                    f"stage {CURRENT!r} is not on version {expected_current!r} of secret {name!r}"
                )
            after = _move(conn, row.id, name, before, CURRENT, version_id)
        if after.get(PENDING) == version_id:
            after = _remove(conn, row.id, after, PENDING)
        if after == before:
            return after
        _touch(conn, store, row.id)
        events.record(
            conn, store, events.SECRET_CHANGED, name, {"version_id": version_id, "stages": after}
        )
        return after


def _move(
    conn: sa.Connection,
    secret_id: str,
    name: str,
    before: dict[str, str],
    stage: str,
    version_id: str,
) -> dict[str, str]:
    """Move ``stage`` onto ``version_id``, which must exist; the stages afterwards."""
    found = conn.execute(
        sa.select(t.versions.c.version_id).where(
            t.versions.c.secret_id == secret_id, t.versions.c.version_id == version_id
        )
    ).first()
    if found is None:
        raise errors.NotFound(f"version {version_id!r} of secret {name!r} not found")
    after = moved(before, stage, version_id)
    write_moves(conn, secret_id, before, after)
    return after


def _remove(
    conn: sa.Connection, secret_id: str, before: dict[str, str], stage: str
) -> dict[str, str]:
    """Take ``stage`` off the secret; the stages afterwards."""
    conn.execute(
        t.stages.delete().where(t.stages.c.secret_id == secret_id, t.stages.c.stage == stage)
    )
    return {s: v for s, v in before.items() if s != stage}


def _touch(conn: sa.Connection, store: Store, secret_id: str) -> None:
    """A stage change's bookkeeping: the secret's updated_at, and the unstaged versions
    beyond the newest N pruned (only unstaged ones: the stages just written stay)."""
    conn.execute(t.secrets.update().where(t.secrets.c.id == secret_id).values(updated_at=utcnow()))
    prune_unstaged(conn, secret_id, store.settings.max_unstaged_versions)


# The unstaged versions beyond the newest N, deleted in one statement. SQLite needs a
# LIMIT before an OFFSET (-1: none); PostgreSQL takes an OFFSET alone.
_PRUNE_SQL = (
    "DELETE FROM versions WHERE secret_id = ? AND version_id IN ("
    "SELECT v.version_id FROM versions v WHERE v.secret_id = ? AND NOT EXISTS ("
    "SELECT 1 FROM stages st WHERE st.secret_id = v.secret_id AND st.version_id = v.version_id) "
    "ORDER BY v.created_at DESC, v.version_id DESC {limit}OFFSET ?)"
)
_PRUNE = {True: _PRUNE_SQL.format(limit="LIMIT -1 "), False: _PRUNE_SQL.format(limit="")}


def prune_unstaged(conn: sa.Connection, secret_id: str, keep: int) -> None:
    """Delete the versions that carry no stage, beyond the newest ``keep`` of them."""
    statement = driver_sql(conn, _PRUNE[conn.dialect.name == "sqlite"])
    conn.exec_driver_sql(statement, (secret_id, secret_id, keep))
