"""Secret names: what a valid one is, and finding the secret a name refers to."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from rotor import errors
from rotor.store import tables as t

NAME_PATTERN = r"[A-Za-z0-9/_+=.@-]{1,192}"
_NAME_RE = re.compile(NAME_PATTERN)


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise errors.InvalidParameter(
            "secret name must be 1-192 characters of A-Z a-z 0-9 / _ + = . @ -"
        )
    if any(part in (".", "..") for part in name.split("/")):
        # HTTP clients collapse such path segments: a/../b would reach secret b.
        raise errors.InvalidParameter("secret name must not have '.' or '..' between slashes")
    return name


def load_row(
    conn: sa.Connection,
    name: str,
    *,
    for_update: bool = False,
    allow_pending_deletion: bool = False,
) -> sa.Row[Any]:
    """The secret's row; locked for the rest of the transaction when ``for_update`` (PostgreSQL)."""
    query = sa.select(t.secrets).where(t.secrets.c.name == name)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise errors.NotFound(f"secret {name!r} not found")
    if row.delete_after is not None and not allow_pending_deletion:
        raise errors.SecretPendingDeletion(
            f"secret {name!r} is scheduled for deletion; restore it first"
        )
    return row
