"""The ``SSL`` field of database secrets: exactly the documented values, or an error.

Imports nothing but :mod:`rotor.errors`: the rotation functions and the application
client (:mod:`rotor.client`) read the field with this one reader.

A secret's ``SSL`` is one of:

- ``true`` or ``"true"``: TLS with verification, never plaintext;
- ``false`` or ``"false"``: plaintext;
- absent (or ``null``): the function's documented default.

The strings are read in any letter case, as the reference cloud function reads them
(it lower-cases the value), but nothing else is a value: ``"yes"``, ``1``,
``"required"`` or ``" true"`` are errors, never "absent", so that a value meant to ask
for TLS can never end in a plaintext connection. The error names the field and its
values, never the value given (it may be a password pasted in the wrong place).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rotor import errors

FIELD = "SSL"
VALUES = 'true, false, "true" or "false" (the strings in any letter case)'
_STRINGS = {"true": True, "false": False}


def requested(secret: Mapping[str, Any], what: str) -> bool | None:
    """Whether ``secret`` asks for TLS (True), for none (False), or does not say (None).

    ``what`` names the secret in the error, e.g. "the Current value of secret 'app/db'".
    """
    value = secret.get(FIELD)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _STRINGS:
        return _STRINGS[value.lower()]
    raise errors.InvalidParameter(
        f"{what}: field {FIELD!r} must be {VALUES} or absent, not {_kind(value)}"
    )


def _kind(value: object) -> str:
    if isinstance(value, str):
        return "another string"
    if isinstance(value, int | float):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"
