"""A database secret's ``SSL`` field: exactly the documented values, else an error."""

from __future__ import annotations

from typing import Any

import pytest

from rotor import errors
from rotor import ssl_field as tls


@pytest.mark.parametrize(
    ("secret", "asked"),
    [
        ({}, None),
        ({"SSL": None}, None),
        ({"SSL": True}, True),
        ({"SSL": False}, False),
        ({"SSL": "true"}, True),
        ({"SSL": "false"}, False),
        # The reference function lower-cases the string, so any letter case is the same.
        ({"SSL": "TRUE"}, True),
        ({"SSL": "False"}, False),
    ],
)
def test_the_documented_values(secret: dict[str, Any], asked: bool | None) -> None:
    assert tls.requested(secret, "the secret") is asked


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("yes", "another string"),
        ("no", "another string"),
        ("required", "another string"),
        ("perhaps", "another string"),
        ("", "another string"),
        (" true", "another string"),
        ("true ", "another string"),
        ("1", "another string"),
        (1, "a number"),
        (0, "a number"),
        (1.0, "a number"),
        ([], "an array"),
        ({"mode": "required"}, "an object"),
    ],
)
def test_anything_else_is_an_error_naming_ssl_and_the_valid_values(value: Any, kind: str) -> None:
    with pytest.raises(errors.InvalidParameter) as raised:
        tls.requested({"SSL": value}, "the Current value of secret 'app/db'")
    message = str(raised.value)
    assert message.startswith("the Current value of secret 'app/db': field 'SSL' ")
    assert 'true, false, "true" or "false"' in message
    assert message.endswith(f" or absent, not {kind}")


def test_the_error_never_quotes_the_value() -> None:
    # Someone may paste a password into the wrong field.
    with pytest.raises(errors.InvalidParameter) as raised:
        tls.requested({"SSL": "Hunter2-Secret-Pass"}, "the secret")
    assert "Hunter2" not in str(raised.value)
    assert "hunter2" not in str(raised.value).lower()
