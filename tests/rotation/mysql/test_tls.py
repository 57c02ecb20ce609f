"""TLS of the MySQL/MariaDB rotation functions: the SSL field, verification, fallback."""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any

import pymysql
import pytest

from rotor.rotation.engine import Engine
from rotor.store.rotations import Status
from tests.rotation.mysql.support import Database, make_app, unique_name

CLIENT_SUBJECT = "SUBJECT '/CN=rotor test client' AND ISSUER '/CN=rotor test CA'"


@pytest.mark.parametrize("require", ["SSL", "X509", CLIENT_SUBJECT])
def test_tls_requirements_are_copied_and_verified_tls_is_used(
    engine: Engine, tls_db: Database, require: str
) -> None:
    app = make_app(engine, tls_db, require=require)
    other = app.account + "_rt"
    for _ in range(2):
        done = app.rotate()
        assert done.status is Status.SUCCEEDED, done.error
        app.both_log_in()
    assert tls_db.properties(other) == tls_db.properties(app.account)
    assert tls_db.properties(other)[1] == {"SSL": "ANY", "X509": "X509"}.get(require, "SPECIFIED")
    # The requirement is real: without TLS the new account is refused.
    password = app.value()["AccountPassword"]
    with pytest.raises(pymysql.err.OperationalError):
        tls_db.server.connect(app.account, password).close()


def test_without_the_ssl_field_tls_is_used_when_the_server_has_it(
    engine: Engine, tls_db: Database
) -> None:
    preferred = dataclasses.replace(tls_db, ssl_field=None)
    app = make_app(engine, preferred, require="SSL")
    done = app.rotate()
    assert done.status is Status.SUCCEEDED, done.error
    assert not any("warning" in line for line in app.history(done))


def test_without_the_ssl_field_plaintext_is_a_recorded_fallback(
    engine: Engine, plain_db: Database
) -> None:
    preferred = dataclasses.replace(plain_db, ssl_field=None)
    app = make_app(engine, preferred)
    done = app.rotate()
    assert done.status is Status.SUCCEEDED, done.error
    warnings = [line for line in app.history(done) if "warning" in line]
    assert warnings
    assert "the server does not support TLS" in warnings[0]
    assert 'Set "SSL": true to require TLS' in warnings[0]

    forbidden = make_app(engine, preferred, parameters={"AllowPlaintextFallback": "false"})
    failed = forbidden.rotate()
    assert failed.status is Status.FAILED
    assert "falling back to plaintext is forbidden" in (failed.error or "")
    assert plain_db.logs_in(forbidden.account, forbidden.password)


def test_ssl_true_never_falls_back_to_plaintext(engine: Engine, plain_db: Database) -> None:
    required = dataclasses.replace(plain_db, ssl_field="true")
    app = make_app(engine, required)
    done = app.rotate()
    assert done.status is Status.FAILED
    assert (
        "over TLS (the secret sets SSL, so never without it): the server does not support TLS"
        in (done.error or "")
    )
    assert plain_db.logs_in(app.account, app.password)


def test_ssl_false_connects_without_tls(engine: Engine, tls_db: Database) -> None:
    plain = dataclasses.replace(tls_db, ssl_field="False", parameters={})
    app = make_app(engine, plain)
    assert app.rotate().status is Status.SUCCEEDED
    app.both_log_in()


def test_the_certificate_is_verified_against_the_system_bundle_by_default(
    engine: Engine, tls_db: Database
) -> None:
    app = make_app(engine, dataclasses.replace(tls_db, parameters={}))
    done = app.rotate()
    assert done.status is Status.FAILED
    assert "certificate verification failed" in (done.error or "")
    assert tls_db.logs_in(app.account, app.password)


def test_a_host_name_mismatch_is_reported_clearly(engine: Engine, tls_db: Database) -> None:
    # 127.1 reaches the server, but its certificate is for localhost and 127.0.0.1.
    account = unique_name("app")
    tls_db.create_account(account, "Initial-pass-123")
    for ssl_field in (True, None):
        db = dataclasses.replace(tls_db, ssl_field=ssl_field)
        app = make_app(
            engine,
            db,
            account=account,
            create_account=False,
            extra={"Endpoint": "127.1"},
            master_value=db.secret(db.server.user, db.server.password, Endpoint="127.1"),
        )
        done = app.rotate()
        if ssl_field is True:
            assert done.status is Status.FAILED
            assert "TLS host name check failed" in (done.error or "")
        else:
            assert done.status is Status.SUCCEEDED, done.error
            warnings = [line for line in app.history(done) if "warning: TLS" in line]
            assert warnings
            assert "host name check failed" in warnings[0]


def test_a_missing_ca_bundle_is_a_clear_error_never_a_silent_fallback(
    engine: Engine, tls_db: Database
) -> None:
    for ssl_field in (True, None):
        db = dataclasses.replace(tls_db, ssl_field=ssl_field)
        app = make_app(engine, db, parameters={"CaBundle": "/nonexistent/ca.pem"})
        done = app.rotate()
        assert done.status is Status.FAILED
        assert "cannot load the TLS files" in (done.error or "")
        assert "No such file or directory" in (done.error or "")


def test_one_tls_context_serves_every_connection(
    engine: Engine, tls_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(engine, tls_db, parameters={"PasswordLength": 20})
    built: list[Any] = []
    connects: list[Any] = []
    create = ssl.create_default_context
    connect = pymysql.connect

    def counting_create(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(args)
        return create(*args, **kwargs)

    def counting_connect(*args: Any, **kwargs: Any) -> Any:
        connects.append(kwargs.get("ssl"))
        return connect(*args, **kwargs)

    monkeypatch.setattr("ssl.create_default_context", counting_create)
    monkeypatch.setattr("pymysql.connect", counting_connect)
    for _ in range(3):
        assert app.rotate().status is Status.SUCCEEDED
    assert len(connects) >= 15
    assert all(isinstance(context, ssl.SSLContext) for context in connects)
    assert len({id(context) for context in connects}) == 1
    assert len(built) <= 1  # none at all when an earlier test built the same one


def test_the_server_setting_forbids_plaintext_fallback_for_every_secret(
    engine: Engine, plain_db: Database
) -> None:
    strict = Engine(
        engine.store,
        dataclasses.replace(engine.settings, allow_plaintext_fallback=False),
        owner="strict-runner",
    )
    preferred = dataclasses.replace(plain_db, ssl_field=None)
    app = make_app(strict, preferred)
    failed = app.rotate()
    assert failed.status is Status.FAILED
    assert "falling back to plaintext is forbidden" in (failed.error or "")
    assert plain_db.logs_in(app.account, app.password)
