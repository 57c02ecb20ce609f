"""Secret names: what a valid one is, and finding the secret a name refers to."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from rotor import errors, protocol
from rotor.store import tables as t


def validate_name(name: object) -> str:
    """``name``, when it is a valid secret name (:func:`rotor.protocol.name_problem`)."""
    problem = protocol.name_problem(name)
    if problem is not None:
        raise errors.InvalidParameter(problem)
    assert isinstance(name, str)
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
