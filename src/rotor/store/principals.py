"""Principals (users and roles), their access keys, and the policies attached to them, as rows.

Key secrets are envelope-encrypted like secret values: signature schemes need
the secret itself back, so it cannot be a one-way hash. A session key (from
assuming a role) also has the SHA-256 of its session token and an optional
policy that narrows what the role may do.

Every change that can take a right away (a key disabled or deleted, a principal
deleted, a policy replaced, deleted, attached or detached) counts the store's
*access generation* up in the same transaction: a node that cached keys and
policies reads the generation on every request (:func:`access_generation`) and
drops its cache when it moved, so what one node revokes every node refuses from
its next request on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from typing import Any

import sqlalchemy as sa

from rotor import errors
from rotor.clock import utcnow
from rotor.store import tables as t
from rotor.store.database import Store
from rotor.store.envelope import Sealed, access_key_context

USER = "user"
ROLE = "role"
ACTIVE = "active"
DISABLED = "disabled"
_NAME_RE = re.compile(r"[A-Za-z0-9_.@+=-]{1,128}")
_GENERATION_SQL = "SELECT generation FROM access_generation WHERE id = 1"


def access_generation(store: Store) -> int:
    """The access generation now (one indexed row, read straight on the driver: every
    authenticated request reads it)."""
    raw = store.raw_connection()
    try:
        cur = raw.cursor()
        try:
            cur.execute(_GENERATION_SQL)
            row = cur.fetchone()
        finally:
            cur.close()
    except store.driver_error as exc:
        raw.close()
        raise errors.ServiceUnavailable("the store is unavailable") from exc
    raw.close()
    return int(row[0]) if row is not None else 0


def _access_changed(conn: sa.Connection) -> None:
    """Count the access generation up, inside the caller's write transaction."""
    conn.execute(
        t.access_generation.update()
        .where(t.access_generation.c.id == 1)
        .values(generation=t.access_generation.c.generation + 1)
    )


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    id: str
    name: str
    kind: str
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class KeyInfo:
    """An access key as listed: never its secret."""

    id: str
    principal_name: str
    status: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    session: bool


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class AccessKey:
    """An access key with its secret (decrypted); never rendered to a client after creation."""

    id: str
    principal: Principal
    status: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    secret: str = dataclasses.field(repr=False)
    #: SHA-256 (hex) of the session token of an assumed-role key, else None.
    session_token_hash: str | None = dataclasses.field(default=None, repr=False)
    #: JSON policy narrowing an assumed-role key, else None.
    session_policy: str | None = None
    #: A rotation function's key: whom it acts for.
    function_session: FunctionSession | None = None


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class FunctionSession:
    """What a rotation function's short-lived key serves, for the audit trail."""

    function: str
    rotation_id: str
    #: The principal who configured the rotation.
    on_behalf_of: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class StoredPolicy:
    name: str
    description: str
    document: str
    created_at: dt.datetime
    updated_at: dt.datetime
    attached_to: tuple[str, ...] = ()


def validate_principal_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise errors.InvalidParameter("names are 1-128 characters of A-Z a-z 0-9 _ . @ + = -")
    return name


# -- principals -------------------------------------------------------------------------


def create_principal(store: Store, name: str, kind: str = USER) -> Principal:
    validate_principal_name(name)
    if kind not in (USER, ROLE):
        raise errors.InvalidParameter("a principal is a user or a role")
    principal = Principal(id=uuid.uuid4().hex, name=name, kind=kind, created_at=utcnow())
    try:
        with store.write() as conn:
            conn.execute(t.principals.insert().values(**dataclasses.asdict(principal)))
    except sa.exc.IntegrityError as exc:
        raise errors.Conflict(f"principal {name!r} already exists") from exc
    return principal


def get_principal(store: Store, name: str) -> Principal | None:
    with store.read() as conn:
        row = conn.execute(sa.select(t.principals).where(t.principals.c.name == name)).first()
    return None if row is None else Principal(**row._mapping)


def get_principal_by_id(store: Store, principal_id: str) -> Principal | None:
    with store.read() as conn:
        row = conn.execute(sa.select(t.principals).where(t.principals.c.id == principal_id)).first()
    return None if row is None else Principal(**row._mapping)


def require_principal(store: Store, name: str) -> Principal:
    principal = get_principal(store, name)
    if principal is None:
        raise errors.NotFound(f"principal {name!r} not found")
    return principal


def list_principals(store: Store) -> list[Principal]:
    with store.read() as conn:
        rows = conn.execute(sa.select(t.principals).order_by(t.principals.c.name)).all()
    return [Principal(**r._mapping) for r in rows]


def delete_principal(store: Store, name: str) -> None:
    """Delete a principal with its keys and attachments."""
    with store.write() as conn:
        result = conn.execute(t.principals.delete().where(t.principals.c.name == name))
        _access_changed(conn)
    if result.rowcount == 0:
        raise errors.NotFound(f"principal {name!r} not found")


# -- access keys ------------------------------------------------------------------------


def insert_access_key(
    store: Store,
    principal: Principal,
    key_id: str,
    secret: str,
    *,
    expires_at: dt.datetime | None = None,
    session_token_hash: str | None = None,
    session_policy: str | None = None,
    function_session: FunctionSession | None = None,
) -> None:
    sealed = store.envelope.seal(secret.encode(), access_key_context(key_id))
    session = dataclasses.asdict(function_session) if function_session is not None else {}
    with store.write() as conn:
        conn.execute(
            t.access_keys.insert().values(
                id=key_id,
                principal_id=principal.id,
                status=ACTIVE,
                created_at=utcnow(),
                expires_at=expires_at,
                master_key_id=sealed.master_key_id,
                data_key=sealed.data_key,
                ciphertext=sealed.ciphertext,
                session_token_hash=session_token_hash,
                session_policy=session_policy,
                **session,
            )
        )


def load_access_key(store: Store, key_id: str) -> AccessKey | None:
    """The key and its principal, or None when there is no such key."""
    with store.read() as conn:
        row = conn.execute(
            sa.select(
                t.access_keys,
                t.principals.c.name.label("principal_name"),
                t.principals.c.kind.label("principal_kind"),
                t.principals.c.created_at.label("principal_created_at"),
            )
            .select_from(t.access_keys.join(t.principals))
            .where(t.access_keys.c.id == key_id)
        ).first()
    if row is None:
        return None
    secret = store.envelope.open(
        Sealed(row.master_key_id, row.data_key, row.ciphertext), access_key_context(key_id)
    )
    return AccessKey(
        id=row.id,
        principal=Principal(
            id=row.principal_id,
            name=row.principal_name,
            kind=row.principal_kind,
            created_at=row.principal_created_at,
        ),
        status=row.status,
        created_at=row.created_at,
        expires_at=row.expires_at,
        secret=secret.decode(),
        session_token_hash=row.session_token_hash,
        session_policy=row.session_policy,
        function_session=(
            None
            if row.function is None
            else FunctionSession(
                function=row.function,
                rotation_id=row.rotation_id or "",
                on_behalf_of=row.on_behalf_of or "",
            )
        ),
    )


def list_access_keys(store: Store, principal_name: str) -> list[KeyInfo]:
    principal = require_principal(store, principal_name)
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.access_keys)
            .where(t.access_keys.c.principal_id == principal.id)
            .order_by(t.access_keys.c.created_at)
        ).all()
    return [_key_info(r, principal.name) for r in rows]


def _key_info(row: Any, principal_name: str) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        principal_name=principal_name,
        status=row.status,
        created_at=row.created_at,
        expires_at=row.expires_at,
        session=row.session_token_hash is not None,
    )


def get_access_key_info(store: Store, key_id: str) -> KeyInfo | None:
    """A key as listed (never its secret), or None when there is no such key."""
    with store.read() as conn:
        row = conn.execute(
            sa.select(t.access_keys, t.principals.c.name.label("principal_name"))
            .select_from(t.access_keys.join(t.principals))
            .where(t.access_keys.c.id == key_id)
        ).first()
    return None if row is None else _key_info(row, row.principal_name)


def delete_access_key(store: Store, key_id: str) -> None:
    with store.write() as conn:
        result = conn.execute(t.access_keys.delete().where(t.access_keys.c.id == key_id))
        _access_changed(conn)
    if result.rowcount == 0:
        raise errors.NotFound(f"access key {key_id!r} not found")


def set_access_key_status(store: Store, key_id: str, status: str) -> None:
    if status not in (ACTIVE, DISABLED):
        raise errors.InvalidParameter("an access key is active or disabled")
    with store.write() as conn:
        result = conn.execute(
            t.access_keys.update().where(t.access_keys.c.id == key_id).values(status=status)
        )
        _access_changed(conn)
    if result.rowcount == 0:
        raise errors.NotFound(f"access key {key_id!r} not found")


def delete_access_keys(store: Store, key_ids: list[str]) -> int:
    with store.write() as conn:
        result = conn.execute(t.access_keys.delete().where(t.access_keys.c.id.in_(key_ids)))
        if result.rowcount:
            _access_changed(conn)
    return result.rowcount


def delete_expired_access_keys(store: Store) -> int:
    """Remove keys whose expiry has passed (short-lived credentials); how many."""
    with store.write() as conn:
        result = conn.execute(
            t.access_keys.delete().where(
                t.access_keys.c.expires_at.is_not(None), t.access_keys.c.expires_at <= utcnow()
            )
        )
        conn.execute(t.request_nonces.delete().where(t.request_nonces.c.expires_at <= utcnow()))
    return result.rowcount


# -- policies ---------------------------------------------------------------------------


def _policy(row: Any, attached: tuple[str, ...] = ()) -> StoredPolicy:
    return StoredPolicy(
        name=row.name,
        description=row.description,
        document=row.document,
        created_at=row.created_at,
        updated_at=row.updated_at,
        attached_to=attached,
    )


def put_policy(store: Store, name: str, document: str, description: str = "") -> StoredPolicy:
    """Create a policy, or replace the document of an existing one (validated by the caller)."""
    validate_principal_name(name)
    now = utcnow()
    with store.write() as conn:
        existing = conn.execute(sa.select(t.policies.c.id).where(t.policies.c.name == name)).first()
        if existing is None:
            conn.execute(
                t.policies.insert().values(
                    id=uuid.uuid4().hex,
                    name=name,
                    description=description,
                    document=document,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            conn.execute(
                t.policies.update()
                .where(t.policies.c.id == existing.id)
                .values(document=document, description=description, updated_at=now)
            )
            _access_changed(conn)
    return get_policy(store, name)


def get_policy(store: Store, name: str) -> StoredPolicy:
    with store.read() as conn:
        row = conn.execute(sa.select(t.policies).where(t.policies.c.name == name)).first()
        if row is None:
            raise errors.NotFound(f"policy {name!r} not found")
        attached = tuple(
            conn.execute(
                sa.select(t.principals.c.name)
                .join(
                    t.principal_policies, t.principal_policies.c.principal_id == t.principals.c.id
                )
                .where(t.principal_policies.c.policy_id == row.id)
                .order_by(t.principals.c.name)
            ).scalars()
        )
    return _policy(row, attached)


def list_policies(store: Store) -> list[StoredPolicy]:
    with store.read() as conn:
        rows = conn.execute(sa.select(t.policies).order_by(t.policies.c.name)).all()
    return [_policy(r) for r in rows]


def delete_policy(store: Store, name: str) -> None:
    with store.write() as conn:
        result = conn.execute(t.policies.delete().where(t.policies.c.name == name))
        _access_changed(conn)
    if result.rowcount == 0:
        raise errors.NotFound(f"policy {name!r} not found")


def _ids(conn: sa.Connection, principal_name: str, policy_name: str) -> tuple[str, str]:
    principal = conn.execute(
        sa.select(t.principals.c.id).where(t.principals.c.name == principal_name)
    ).scalar()
    if principal is None:
        raise errors.NotFound(f"principal {principal_name!r} not found")
    policy = conn.execute(
        sa.select(t.policies.c.id).where(t.policies.c.name == policy_name)
    ).scalar()
    if policy is None:
        raise errors.NotFound(f"policy {policy_name!r} not found")
    return principal, policy


def attach_policy(store: Store, principal_name: str, policy_name: str) -> None:
    with store.write() as conn:
        principal, policy = _ids(conn, principal_name, policy_name)
        exists = conn.execute(
            sa.select(t.principal_policies).where(
                t.principal_policies.c.principal_id == principal,
                t.principal_policies.c.policy_id == policy,
            )
        ).first()
        if exists is None:
            conn.execute(
                t.principal_policies.insert().values(principal_id=principal, policy_id=policy)
            )
            _access_changed(conn)


def detach_policy(store: Store, principal_name: str, policy_name: str) -> None:
    with store.write() as conn:
        principal, policy = _ids(conn, principal_name, policy_name)
        result = conn.execute(
            t.principal_policies.delete().where(
                t.principal_policies.c.principal_id == principal,
                t.principal_policies.c.policy_id == policy,
            )
        )
        _access_changed(conn)
    if result.rowcount == 0:
        raise errors.NotFound(f"policy {policy_name!r} is not attached to {principal_name!r}")


def policy_documents_of(store: Store, principal_id: str) -> list[str]:
    """The documents of the policies attached to a principal."""
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(t.policies.c.document)
                .join(t.principal_policies, t.principal_policies.c.policy_id == t.policies.c.id)
                .where(t.principal_policies.c.principal_id == principal_id)
            ).scalars()
        )


def attached_policy_names(store: Store, principal_id: str) -> list[str]:
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(t.policies.c.name)
                .join(t.principal_policies, t.principal_policies.c.policy_id == t.policies.c.id)
                .where(t.principal_policies.c.principal_id == principal_id)
                .order_by(t.policies.c.name)
            ).scalars()
        )
