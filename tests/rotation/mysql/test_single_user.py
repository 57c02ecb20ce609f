"""``mysql-single-user``: the account changes its own password, no master secret."""

from __future__ import annotations

import json
import string

import pytest

from rotor.rotation import functions as registry
from rotor.rotation.engine import Engine
from rotor.rotation.functions import base
from rotor.store import secrets, versions
from rotor.store.rotations import Status
from tests.rotation.mysql.support import Database, make_app

SINGLE = "mysql-single-user"


def test_rotation_replaces_the_password_of_the_same_account(engine: Engine, db: Database) -> None:
    app = make_app(engine, db, function=SINGLE, dry_run=True, require="SSL" if db.ssl_field else "")
    for _ in range(2):
        done = app.rotate()
        assert done.status is Status.SUCCEEDED, done.error
        current, previous = app.value(), app.value(stage="Previous")
        assert current["AccountName"] == app.account
        assert "MasterSecret" not in current
        assert db.logs_in(app.account, current["AccountPassword"])
        # The trade-off of a single account: the previous password stops working at set.
        assert not db.logs_in(app.account, previous["AccountPassword"])
    assert db.hosts(app.account + "_rt") == []


def test_wrong_current_password_fails_and_changes_nothing(
    engine: Engine, plain_db: Database
) -> None:
    app = make_app(engine, plain_db, function=SINGLE)
    wrong = plain_db.secret(app.account, "not-the-password")
    versions.put_value(engine.store, app.name, wrong, version_id="v-wrong")
    done = app.rotate()
    assert done.status is Status.FAILED
    assert f"with the Current credentials of secret {app.name!r}: access denied" in (
        done.error or ""
    )
    assert "not-the-password" not in (done.error or "")
    assert set(secrets.get_secret(engine.store, app.name).stages) == {"Current", "Previous"}
    assert plain_db.logs_in(app.account, app.password)


def test_another_account_in_pending_is_refused(engine: Engine, plain_db: Database) -> None:
    app = make_app(engine, plain_db, function=SINGLE)
    other = plain_db.secret("root", "Some-pass-123")
    versions.put_value(engine.store, app.name, other, version_id="v1", stages=["Pending"])
    done = app.rotate(version_id="v1")
    assert done.status is Status.FAILED
    assert "is not the Current one" in (done.error or "")
    assert plain_db.logs_in(app.account, app.password)


def test_every_punctuation_character_and_a_resumed_set(engine: Engine, plain_db: Database) -> None:
    app = make_app(engine, plain_db, function=SINGLE, password=string.punctuation + " Aa1")
    chosen = "Qq7 " + string.punctuation[::-1] + "%s%%"
    pending = {**app.value(), "AccountPassword": chosen}
    versions.put_value(
        engine.store, app.name, json.dumps(pending), version_id="v1", stages=["Pending"]
    )
    # set ran once already (the process died before it was recorded)...
    context = base.InvocationContext(
        request_id="v1",
        rotation_id="crashed",
        dry_run=False,
        parameters={},
        expected_current="v0",
        secrets=base.SecretsAccess(engine.store, app.name, frozenset(), base.Redactor()),
        log=lambda line: None,
        mint_credentials=lambda: pytest.fail("not used"),
        api_url="",
        timeout_seconds=30,
    )
    registry.load(SINGLE).invoke(
        {"SecretName": app.name, "Step": "set", "VersionId": "v1"}, context
    )
    assert plain_db.logs_in(app.account, chosen)
    # ... and runs again when the rotation resumes: the new password already works.
    done = app.rotate(version_id="v1")
    assert done.status is Status.SUCCEEDED, done.error
    assert any("already logs in with the new password" in line for line in app.history(done))
    assert app.value()["AccountPassword"] == chosen
