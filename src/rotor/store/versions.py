"""Versions: immutable values of a secret, encrypted at rest.

Writing a version id again with the same value is a no-op; with another value it
is a :class:`~rotor.errors.VersionConflict`. Nothing changes a version's value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from rotor import errors
from rotor.clock import utcnow
from rotor.store import events, rotation_configs
from rotor.store import stages as stages_mod
from rotor.store import tables as t
from rotor.store.database import Store, bind_time, driver_execute, driver_sql
from rotor.store.envelope import Sealed, version_context
from rotor.store.names import load_row, validate_name
from rotor.store.paging import Page, decode_offset, encode_token, validate_page_size

MAX_VALUE_BYTES = 64 * 1024
_VERSION_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
TEXT = "text"
BINARY = "binary"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class SecretValue:
    """A version's value as read."""

    name: str
    version_id: str
    #: ``str`` for a text value, ``bytes`` for a binary one.
    value: str | bytes
    created_at: dt.datetime
    stages: tuple[str, ...]
    #: The secret's type (``Generic``...), read with the value at no extra cost.
    secret_type: str
    #: The secret's ARN suffix (:func:`rotor.store.secrets.aws_arn`), also at no extra cost.
    arn_suffix: str
    #: The store's access generation (:func:`rotor.store.principals.access_generation`) in
    #: the snapshot the value was read from: what the reader's identity must be checked
    #: against, without a round trip of its own.
    access_generation: int
    #: The secret's rotation schedule when asked for (``with_rotation``) and it has one.
    rotation: rotation_configs.RotationSchedule | None = None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class VersionInfo:
    """A version without its value."""

    name: str
    version_id: str
    value_type: str
    created_at: dt.datetime
    stages: tuple[str, ...]


def validate_version_id(version_id: object) -> str:
    if not isinstance(version_id, str) or not _VERSION_ID_RE.fullmatch(version_id):
        raise errors.InvalidParameter("version id must be 1-64 characters of A-Z a-z 0-9 _ . -")
    return version_id


def check_value(value: str | bytes) -> tuple[str, bytes]:
    """The value's type and bytes; refuses anything over 64 KiB."""
    if isinstance(value, str):
        kind, raw = TEXT, value.encode()
    elif isinstance(value, bytes):
        kind, raw = BINARY, value
    else:
        raise errors.InvalidParameter("a value is text or bytes")
    if len(raw) > MAX_VALUE_BYTES:
        raise errors.ValueTooLarge()
    return kind, raw


_INSERT_SQL = (
    "INSERT INTO versions "
    "(secret_id, version_id, created_at, value_type, master_key_id, data_key, ciphertext) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def insert_version(
    store: Store,
    conn: sa.Connection,
    secret_id: str,
    version_id: str,
    value: str | bytes,
    now: dt.datetime,
) -> None:
    kind, raw = check_value(value)
    sealed = store.envelope.seal(raw, version_context(secret_id, version_id))
    driver_execute(
        conn,
        _INSERT_SQL,
        (
            secret_id,
            version_id,
            bind_time(conn, now),
            kind,
            sealed.master_key_id,
            sealed.data_key,
            sealed.ciphertext,
        ),
    )


def _decrypt(store: Store, secret_id: str, row: Any) -> str | bytes:
    raw = store.envelope.open(
        Sealed(row.master_key_id, bytes(row.data_key), bytes(row.ciphertext)),
        version_context(secret_id, row.version_id),
    )
    if row.value_type == TEXT:
        return raw.decode()
    return raw


# A write runs fixed statements straight on the driver's cursor too (through SQLAlchemy's
# layers, building and executing them cost most of a write's CPU), and reads
# each thing once: the secret's row (locked), then its stages and newest version's
# time in one query, taken under the lock. What it answers is known without reading
# it back.
_LOCK_SQL = "SELECT id, delete_after FROM secrets WHERE name = ?"
_LOCK = {True: _LOCK_SQL, False: _LOCK_SQL + " FOR UPDATE"}
_STAGES_AND_NEWEST_SQL = (
    "SELECT st.stage, st.version_id, (SELECT max(created_at) FROM versions WHERE secret_id = ?) "
    "FROM (SELECT 1 AS one) AS o LEFT OUTER JOIN stages st ON st.secret_id = ?"
)
_TOUCH_SQL = "UPDATE secrets SET updated_at = ? WHERE id = ?"


def put_value(
    store: Store,
    name: str,
    value: str | bytes,
    *,
    version_id: str | None = None,
    stages: Sequence[str] | None = None,
) -> tuple[VersionInfo, bool]:
    """Store a new version; returns it and whether it was created (False: same value existed).

    ``stages`` defaults to ``[Current]``; the first version of a secret is always Current.
    """
    validate_name(name)
    kind, raw = check_value(value)
    if version_id is not None:
        validate_version_id(version_id)
    wanted = list(dict.fromkeys(stages if stages is not None else [stages_mod.CURRENT]))
    for stage in wanted:
        stages_mod.validate_stage(stage)
    if stages_mod.PREVIOUS in wanted:
        raise errors.InvalidParameter("Previous cannot be given; it follows Current")
    vid = version_id or str(uuid.uuid4())
    with store.write() as conn:
        rows = driver_execute(conn, _LOCK[store.is_sqlite], (name,))
        if not rows:
            raise errors.NotFound(f"secret {name!r} not found")
        row = rows[0]
        secret_id = row[0]
        if row[1] is not None:
            raise errors.SecretPendingDeletion(
                f"secret {name!r} is scheduled for deletion; restore it first"
            )
        found = driver_execute(conn, _STAGES_AND_NEWEST_SQL, (secret_id, secret_id))
        on = {r[0]: r[1] for r in found if r[0] is not None}
        if version_id is not None:  # a generated id is new; a given one may exist
            existing = conn.exec_driver_sql(
                driver_sql(conn, _VERSION_SQL), (secret_id, vid)
            ).first()
            if existing is not None:
                old = _decrypt(store, secret_id, existing)
                old_kind, old_raw = check_value(old)
                if old_kind != kind or not hmac.compare_digest(old_raw, raw):
                    raise errors.VersionConflict(
                        f"version {vid!r} of secret {name!r} already holds another value"
                    )
                return _info(name, on, vid, existing.value_type, _as_time(existing[1])), False
        # Creation order is commit order: after the newest version, which is read under the lock.
        now = utcnow()
        if found[0][2] is not None:
            now = max(now, _as_time(found[0][2]) + dt.timedelta(microseconds=1))
        insert_version(store, conn, secret_id, vid, value, now)
        if stages_mod.CURRENT not in on and stages_mod.CURRENT not in wanted:
            wanted.insert(0, stages_mod.CURRENT)
        after = on
        for stage in wanted:
            after = stages_mod.moved(after, stage, vid)
        stages_mod.write_moves(conn, secret_id, on, after)
        driver_execute(conn, _TOUCH_SQL, (bind_time(conn, now), secret_id))
        stages_mod.prune_unstaged(conn, secret_id, store.settings.max_unstaged_versions)
        changed = {"version_id": vid, "stages": after}
        events.record(conn, store, events.SECRET_CHANGED, name, changed)
    return _info(name, after, vid, kind, now), True


def _info(
    name: str, on: dict[str, str], version_id: str, value_type: str, created_at: dt.datetime
) -> VersionInfo:
    return VersionInfo(
        name=name,
        version_id=version_id,
        value_type=value_type,
        created_at=created_at,
        stages=tuple(s for s, v in on.items() if v == version_id),
    )


def _as_time(stored: dt.datetime | str) -> dt.datetime:
    """A time read straight from the driver (SQLite gives naive UTC text)."""
    at = dt.datetime.fromisoformat(stored) if isinstance(stored, str) else stored
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


# The read path runs two fixed queries straight on the driver: through SQLAlchemy's
# execution layer they cost ten times what the database does. No transaction is
# needed: the second query reads an immutable version by id. The first also reads the
# access generation, so the reader's cached identity is checked against the snapshot
# the value comes from (:func:`rotor.api.secret_reads.read_folded`), and, for the KMS
# dialect only, the rotation schedule (an outer join the native read does not pay for).
_SECRET_AND_STAGES_SQL = (
    "SELECT s.id, s.delete_after, s.secret_type, st.stage, st.version_id, s.arn_suffix, "
    "(SELECT generation FROM access_generation WHERE id = 1) AS generation{rotation} "
    "FROM secrets s "
    "LEFT OUTER JOIN stages st ON st.secret_id = s.id{join} WHERE s.name = ?"
)
_READ_SQL = {
    False: _SECRET_AND_STAGES_SQL.format(rotation="", join=""),
    True: _SECRET_AND_STAGES_SQL.format(
        rotation=", rc.secret_id, rc.enabled, rc.interval_seconds, rc.last_rotated_at, "
        "rc.next_rotation_at",
        join=" LEFT OUTER JOIN rotation_configs rc ON rc.secret_id = s.id",
    ),
}
_VERSION_SQL = (
    "SELECT version_id, created_at, value_type, master_key_id, data_key, ciphertext "
    "FROM versions WHERE secret_id = ? AND version_id = ?"
)


class _Fetched(NamedTuple):
    """What a read fetched, before the value is opened."""

    secret_id: str
    secret_type: str
    arn_suffix: str
    #: stage -> version id
    stages: dict[str, str]
    sealed: Sealed
    value_type: str
    created_at: dt.datetime
    version_id: str
    access_generation: int
    rotation: rotation_configs.RotationSchedule | None


def _schedule(row: Any) -> rotation_configs.RotationSchedule | None:
    if row[7] is None:
        return None
    return rotation_configs.RotationSchedule(
        enabled=bool(row[8]),
        interval_seconds=row[9],
        last_rotated_at=None if row[10] is None else _as_time(row[10]),
        next_rotation_at=None if row[11] is None else _as_time(row[11]),
    )


def _fetch_for_read(
    store: Store, name: str, pick: Callable[[dict[str, str]], str], with_rotation: bool = False
) -> _Fetched:
    """The secret's row, its stages and the version ``pick`` chooses from them."""
    paramstyle = "?" if store.is_sqlite else "%s"
    raw = store.raw_connection()
    try:
        cur = raw.cursor()
        try:
            cur.execute(_READ_SQL[with_rotation].replace("?", paramstyle), (name,))
            rows = cur.fetchall()
            if not rows:
                validate_name(name)
                raise errors.NotFound(f"secret {name!r} not found")
            secret_id, delete_after, secret_type = rows[0][0], rows[0][1], rows[0][2]
            if delete_after is not None:
                raise errors.SecretPendingDeletion(
                    f"secret {name!r} is scheduled for deletion; restore it first"
                )
            on = {r[3]: r[4] for r in rows if r[3] is not None}
            target = pick(on)
            cur.execute(_VERSION_SQL.replace("?", paramstyle), (secret_id, target))
            version = cur.fetchone()
        finally:
            cur.close()
    except errors.RotorError:
        raw.close()
        raise
    except store.driver_error as exc:
        raw.close()
        raise errors.ServiceUnavailable("the store is unavailable") from exc
    raw.close()
    if version is None:
        raise errors.NotFound(f"version {target!r} of secret {name!r} not found")
    created = _as_time(version[1])
    sealed = Sealed(version[3], bytes(version[4]), bytes(version[5]))
    return _Fetched(
        secret_id=secret_id,
        secret_type=secret_type,
        arn_suffix=rows[0][5],
        stages=on,
        sealed=sealed,
        value_type=version[2],
        created_at=created,
        version_id=target,
        access_generation=int(rows[0][6] or 0),
        rotation=_schedule(rows[0]) if with_rotation else None,
    )


def get_value(
    store: Store,
    name: str,
    *,
    stage: str | None = None,
    version_id: str | None = None,
    with_rotation: bool = False,
) -> SecretValue:
    """Read a value by stage (default Current), by version id, or both (they must agree);
    ``with_rotation`` reads the secret's rotation schedule in the same query."""
    if stage is None and version_id is None:
        stage = stages_mod.CURRENT

    def pick(on: dict[str, str]) -> str:
        if stage is None:
            assert version_id is not None
            return version_id
        target = on.get(stage)
        if target is None:
            raise errors.NotFound(f"stage {stage!r} of secret {name!r} not found")
        if version_id is not None and version_id != target:
            raise errors.NotFound(
                f"version {version_id!r} of secret {name!r} is not in stage {stage!r}"
            )
        return target

    read = _fetch_for_read(store, name, pick, with_rotation)
    raw = store.envelope.open(read.sealed, version_context(read.secret_id, read.version_id))
    return SecretValue(
        name=name,
        version_id=read.version_id,
        value=raw.decode() if read.value_type == TEXT else raw,
        created_at=read.created_at,
        stages=tuple(s for s, v in read.stages.items() if v == read.version_id),
        secret_type=read.secret_type,
        arn_suffix=read.arn_suffix,
        access_generation=read.access_generation,
        rotation=read.rotation,
    )


def list_versions(
    store: Store, name: str, *, page_size: int = 50, page_token: str | None = None
) -> Page[VersionInfo]:
    """Versions of a secret, newest first."""
    validate_name(name)
    validate_page_size(page_size)
    offset = decode_offset(page_token)
    with store.read() as conn:
        row = load_row(conn, name, allow_pending_deletion=True)
        on = stages_mod.stage_map(conn, row.id)
        rows = conn.execute(
            sa.select(t.versions.c.version_id, t.versions.c.value_type, t.versions.c.created_at)
            .where(t.versions.c.secret_id == row.id)
            .order_by(t.versions.c.created_at.desc(), t.versions.c.version_id.desc())
            .offset(offset)
            .limit(page_size + 1)
        ).all()
    items = [
        VersionInfo(
            name=name,
            version_id=r.version_id,
            value_type=r.value_type,
            created_at=r.created_at,
            stages=tuple(s for s, v in on.items() if v == r.version_id),
        )
        for r in rows[:page_size]
    ]
    more = len(rows) > page_size
    return Page(items=items, next_page_token=encode_token(offset + page_size) if more else None)


def exists(store: Store, name: str, version_id: str) -> bool:
    """Whether the secret has a version with this id."""
    with store.read() as conn:
        row = load_row(conn, name, allow_pending_deletion=True)
        found = conn.execute(
            sa.select(t.versions.c.version_id).where(
                t.versions.c.secret_id == row.id, t.versions.c.version_id == version_id
            )
        ).first()
    return found is not None
