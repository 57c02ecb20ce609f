"""Principals (users and roles) and their access keys, as rows.

Key secrets are envelope-encrypted like secret values: signature schemes need
the secret itself back, so it cannot be a one-way hash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa

from rotor import errors
from rotor.store import tables as t
from rotor.store.database import Store, utcnow
from rotor.store.envelope import Sealed, access_key_context

USER = "user"
ROLE = "role"
ACTIVE = "active"
DISABLED = "disabled"


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    id: str
    name: str
    kind: str
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class AccessKey:
    """An access key with its secret (decrypted); never rendered to a client after creation."""

    id: str
    principal: Principal
    status: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    secret: str = dataclasses.field(repr=False)


def create_principal(store: Store, name: str, kind: str = USER) -> Principal:
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


def insert_access_key(
    store: Store,
    principal: Principal,
    key_id: str,
    secret: str,
    *,
    expires_at: dt.datetime | None = None,
) -> None:
    sealed = store.envelope.seal(secret.encode(), access_key_context(key_id))
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
    )


def delete_access_keys(store: Store, key_ids: list[str]) -> None:
    with store.write() as conn:
        conn.execute(t.access_keys.delete().where(t.access_keys.c.id.in_(key_ids)))


def delete_expired_access_keys(store: Store) -> int:
    """Remove keys whose expiry has passed (short-lived function credentials); how many."""
    with store.write() as conn:
        result = conn.execute(
            t.access_keys.delete().where(
                t.access_keys.c.expires_at.is_not(None), t.access_keys.c.expires_at <= utcnow()
            )
        )
    return result.rowcount
