"""What a rotation function's secrets access (and so its minted credentials) may reach:
the rotated secret, and read access to what was delegated (computed by
:func:`rotor.access.delegation.required` from the parameters and the Current value)."""

from __future__ import annotations

import json

import pytest

from rotor import errors
from rotor.access import delegation
from rotor.rotation.functions.base import Redactor, SecretsAccess
from rotor.store import secrets, stages
from rotor.store.database import Store


def test_secrets_named_by_the_current_value_are_delegated(store: Store) -> None:
    secrets.create_secret(store, name="db/master", value='{"AccountPassword": "m"}')
    secrets.create_secret(store, name="db/other", value="x")
    secrets.create_secret(
        store,
        name="db/app",
        value=json.dumps({"AccountName": "app", "MasterSecret": "db/master", "Port": 3306}),
    )
    granted = delegation.required(store, "db/app", {"LogSecret": "db/log"})
    assert granted.secrets == {"db/master", "db/log"}
    access = SecretsAccess(store, "db/app", granted.secrets, Redactor())
    assert access.allowed_names == {"db/app", "db/master", "db/log"}
    assert access.get_value("db/master").value == '{"AccountPassword": "m"}'
    with pytest.raises(errors.AccessDenied):
        access.get_value("db/other")


def test_a_delegated_secret_is_read_only(store: Store) -> None:
    secrets.create_secret(store, name="db/master", value="m")
    secrets.create_secret(store, name="db/app", value="a")
    access = SecretsAccess(store, "db/app", frozenset({"db/master"}), Redactor())
    with pytest.raises(errors.AccessDenied, match="may not write"):
        access.put_pending("db/master", "x", "v2")
    with pytest.raises(errors.AccessDenied, match="may not write"):
        access.finish("db/master", "v2", expected_current=None)
    access.put_pending("db/app", "next", "v2")
    assert access.get_secret_stages("db/app")[stages.PENDING] == "v2"


@pytest.mark.parametrize("value", ["plain text", "[1, 2]", '{"MasterSecret": 5}', b"\x00\x01"])
def test_a_current_value_naming_nothing_delegates_nothing(store: Store, value: str | bytes) -> None:
    secrets.create_secret(store, name="db/app", value=value)
    assert delegation.required(store, "db/app", {}).secrets == frozenset()


def test_a_secret_without_current_delegates_nothing(store: Store) -> None:
    secrets.create_secret(store, name="db/app")
    assert delegation.required(store, "db/app", {}).secrets == frozenset()


def test_the_rotated_secret_itself_is_never_counted_as_delegated(store: Store) -> None:
    secrets.create_secret(store, name="db/app", value=json.dumps({"SelfSecret": "db/app"}))
    assert delegation.required(store, "db/app", {"OwnSecret": "db/app"}).secrets == frozenset()
