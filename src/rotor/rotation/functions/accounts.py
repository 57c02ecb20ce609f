"""Alternating (dual) accounts: the pair ``name`` <-> ``name_rt`` the database functions rotate.

A rotation takes the *other* account of the pair, gives it a fresh password and
the privileges of the current one, tests it, then makes it Current. The account
that was Current keeps working until the rotation after next.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rotor import errors

SUFFIX = "_rt"


def alternate_name(
    name: str,
    *,
    max_length: int,
    measure: Callable[[str], int] = len,
    unit: str = "characters",
) -> str:
    """The other account of the pair: add ``_rt``, or strip it when present.

    ``measure`` is how the server counts a name's length (``unit`` names it in the error):
    characters for MySQL, bytes for PostgreSQL's 63-byte identifiers."""
    if name.endswith(SUFFIX) and len(name) > len(SUFFIX):
        return name[: -len(SUFFIX)]
    other = name + SUFFIX
    if measure(other) > max_length:
        raise errors.InvalidParameter(
            f"account name {name!r} is too long to rotate: {other!r} would have "
            f"{measure(other)} {unit}, and the server allows {max_length}"
        )
    return other


def is_pair(current: str, pending: str) -> bool:
    """Whether ``pending`` is the alternate of ``current``."""
    return pending in (
        current + SUFFIX,
        current[: -len(SUFFIX)] if current.endswith(SUFFIX) else None,
    )


def require_fields(
    value: Mapping[str, Any], fields: Mapping[str, type | tuple[type, ...]], what: str
) -> None:
    """Refuse a secret value missing a field or holding one of the wrong type (never echoes values)."""
    for field, kind in fields.items():
        if field not in value:
            raise errors.InvalidParameter(f"{what} has no field {field!r}")
        wrong_bool = isinstance(value[field], bool) and kind is not bool
        if wrong_bool or not isinstance(value[field], kind):
            raise errors.InvalidParameter(f"{what}: field {field!r} has the wrong type")
