"""What a rotation function's secrets access (and so its minted credentials) may reach."""

from __future__ import annotations

import json

import pytest

from rotor import errors
from rotor.store import secrets
from rotor.store.database import Store
from tests.rotation.functions.conftest import MakeContext


def test_secrets_named_by_the_current_value_become_reachable(
    store: Store, make_context: MakeContext
) -> None:
    secrets.create_secret(store, name="db/master", value='{"AccountPassword": "m"}')
    secrets.create_secret(store, name="db/other", value="x")
    secrets.create_secret(
        store,
        name="db/app",
        value=json.dumps({"AccountName": "app", "MasterSecret": "db/master", "Port": 3306}),
    )
    access = make_context("db/app").context.secrets
    with pytest.raises(errors.AccessDenied):
        access.get_value("db/master")
    access.allow_referenced_by_current()
    assert access.allowed_names == {"db/app", "db/master"}
    assert access.get_value("db/master").value == '{"AccountPassword": "m"}'
    with pytest.raises(errors.AccessDenied):
        access.get_value("db/other")


@pytest.mark.parametrize("value", ["plain text", "[1, 2]", '{"MasterSecret": 5}', b"\x00\x01"])
def test_a_current_value_naming_nothing_adds_nothing(
    store: Store, make_context: MakeContext, value: str | bytes
) -> None:
    secrets.create_secret(store, name="db/app", value=value)
    access = make_context("db/app").context.secrets
    access.allow_referenced_by_current()
    assert access.allowed_names == {"db/app"}


def test_a_secret_without_current_adds_nothing(store: Store, make_context: MakeContext) -> None:
    secrets.create_secret(store, name="db/app")
    access = make_context("db/app").context.secrets
    access.allow_referenced_by_current()
    assert access.allowed_names == {"db/app"}
