"""What a rotation function's secrets access (and so its minted credentials) may reach:
the rotated secret, and read access to what was delegated (computed by
:func:`rotor.access.delegation.required` from the parameters and the Current value)."""

from __future__ import annotations

import json

import pytest

from rotor import errors
from rotor.access import delegation
from rotor.rotation.functions.base import Redactor, SecretsAccess
from rotor.settings import Settings
from rotor.store import deletion, secrets, stages
from rotor.store.database import Store

SETTINGS = Settings()


def test_secrets_named_by_the_current_value_are_delegated(store: Store) -> None:
    secrets.create_secret(store, name="db/master", value='{"AccountPassword": "m"}')
    secrets.create_secret(store, name="db/other", value="x")
    secrets.create_secret(
        store,
        name="db/app",
        value=json.dumps({"AccountName": "app", "MasterSecret": "db/master", "Port": 3306}),
    )
    granted = delegation.required(store, "db/app", {"LogSecret": "db/log"}, settings=SETTINGS)
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


def test_finish_makes_the_version_current_and_drops_its_pending(store: Store) -> None:
    secrets.create_secret(store, name="db/app", value="a")
    access = SecretsAccess(store, "db/app", frozenset(), Redactor())
    first = access.get_secret_stages("db/app")[stages.CURRENT]
    access.put_pending("db/app", "next", "v2")
    access.finish("db/app", "v2", expected_current=first)
    assert access.get_secret_stages("db/app") == {stages.CURRENT: "v2", stages.PREVIOUS: first}


def test_pending_is_dropped_only_from_a_version_made_current(store: Store) -> None:
    secrets.create_secret(store, name="db/app", value="a")
    access = SecretsAccess(store, "db/app", frozenset(), Redactor())
    first = access.get_secret_stages("db/app")[stages.CURRENT]
    access.put_pending("db/app", "next", "v2")
    access.drop_pending("db/app", "v2")  # not Current: a handler that did not finish
    assert access.get_secret_stages("db/app") == {stages.CURRENT: first, stages.PENDING: "v2"}
    stages.update_stage(store, "db/app", stages.CURRENT, move_to_version="v2")
    access.drop_pending("db/app", "v2")
    assert access.get_secret_stages("db/app") == {stages.CURRENT: "v2", stages.PREVIOUS: first}


@pytest.mark.parametrize("value", ["plain text", "[1, 2]", '{"MasterSecret": 5}', b"\x00\x01"])
def test_a_current_value_naming_nothing_delegates_nothing(store: Store, value: str | bytes) -> None:
    secrets.create_secret(store, name="db/app", value=value)
    assert delegation.required(store, "db/app", {}, settings=SETTINGS).secrets == frozenset()


def test_a_secret_without_current_delegates_nothing(store: Store) -> None:
    secrets.create_secret(store, name="db/app")
    assert delegation.required(store, "db/app", {}, settings=SETTINGS).secrets == frozenset()


def test_the_rotated_secret_itself_is_never_counted_as_delegated(store: Store) -> None:
    secrets.create_secret(store, name="db/app", value=json.dumps({"SelfSecret": "db/app"}))
    granted = delegation.required(store, "db/app", {"OwnSecret": "db/app"}, settings=SETTINGS)
    assert granted.secrets == frozenset()


def _arn(store: Store, name: str) -> str:
    suffix = secrets.arn_suffix(store, name)
    return secrets.aws_arn(name, suffix, region=SETTINGS.region, account=SETTINGS.account_id)


def test_the_master_an_aws_template_names_by_arn_is_delegated(store: Store) -> None:
    secrets.create_secret(store, name="db/master", value="m")
    for reference in (_arn(store, "db/master"), _arn(store, "db/master")[:-7], "db/master"):
        secrets.create_secret(
            store, name="db/app", value=json.dumps({"username": "app", "masterarn": reference})
        )
        granted = delegation.required(store, "db/app", {}, settings=SETTINGS)
        assert granted.secrets == {"db/master"}, reference
        deletion.delete_secret(store, "db/app", force=True)


def test_a_masterarn_of_another_incarnation_or_server_delegates_nothing(store: Store) -> None:
    secrets.create_secret(store, name="db/master", value="m")
    stale = _arn(store, "db/master")
    deletion.delete_secret(store, "db/master", force=True)
    secrets.create_secret(store, name="db/master", value="m2")
    elsewhere = _arn(store, "db/master").replace(SETTINGS.account_id, "999999999999")
    for reference in (stale, elsewhere):
        secrets.create_secret(
            store, name="db/app", value=json.dumps({"username": "app", "masterarn": reference})
        )
        granted = delegation.required(store, "db/app", {}, settings=SETTINGS)
        assert "db/master" not in granted.secrets, reference
        deletion.delete_secret(store, "db/app", force=True)
