"""The ``SSL`` field of the MySQL/MariaDB functions' secrets is exact (issue 12).

Only true, false, "true" and "false" (any letter case) are values; anything else fails
with InvalidParameter before any connection, so a value meant to ask for TLS can never
end in plaintext. Absent, the documented fallback rule applies (see test_tls.py).
"""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any

import pytest

from rotor import errors
from rotor.rotation.engine import Engine
from rotor.rotation.functions import mysql
from rotor.rotation.functions.mysql_connections import TlsMode
from rotor.store import secrets
from rotor.store.rotations import Status
from tests.rotation.mysql.support import App, Database, make_app, record_connects

INVALID = ["yes", 1, "required", "perhaps", " true", "on"]
FUNCTIONS = [mysql.MySQLAlternating, mysql.MySQLSingleUser]
Function = type[mysql.MySQLAlternating] | type[mysql.MySQLSingleUser]


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    return record_connects(monkeypatch)


def _untouched(app: App) -> None:
    """Current is still the first version, with the first password, and it logs in."""
    assert secrets.get_secret(app.engine.store, app.name).stages["Current"] == "v0"
    assert app.value(stage="Current")["AccountPassword"] == app.password
    assert app.db.logs_in(app.account, app.password)


# -- check_configuration ----------------------------------------------------------------


@pytest.mark.parametrize("function", FUNCTIONS)
def test_check_configuration_accepts_valid_settings(function: Function) -> None:
    check = function().check_configuration
    check({}, None)
    check({"CaBundle": "/etc/ssl/ca.pem", "AllowPlaintextFallback": False}, {"SSL": "TRUE"})
    for value in (True, False, "true", "false", None):
        check({}, {"SSL": value})
    # Only TLS settings and the password policy: the rest of the value is the steps' business.
    check({}, {"Endpoint": 5})
    with pytest.raises(errors.InvalidParameter, match="PasswordLength"):
        check({"PasswordLength": "long"}, {})


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("value", INVALID)
def test_check_configuration_refuses_an_invalid_ssl_in_current(
    function: Function, value: Any
) -> None:
    with pytest.raises(errors.InvalidParameter, match="field 'SSL' must be") as raised:
        function().check_configuration({}, {"AccountPassword": "Pass-word-123", "SSL": value})
    assert "the Current value" in str(raised.value)
    assert 'true, false, "true" or "false"' in str(raised.value)
    assert "Pass-word-123" not in str(raised.value)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"AllowPlaintextFallback": "maybe"}, "AllowPlaintextFallback must be true or false"),
        ({"AllowPlaintextFallback": 1}, "AllowPlaintextFallback must be true or false"),
        ({"CaBundle": 7}, "CaBundle must be the path of a PEM file"),
        ({"ClientKey": "/k.pem"}, "both ClientCertificate and ClientKey"),
    ],
)
def test_check_configuration_refuses_invalid_tls_parameters(
    function: Function, parameters: dict[str, Any], problem: str
) -> None:
    with pytest.raises(errors.InvalidParameter, match=problem):
        function().check_configuration(parameters, None)


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (True, TlsMode.REQUIRED),
        ("True", TlsMode.REQUIRED),
        (False, TlsMode.DISABLED),
        ("FALSE", TlsMode.DISABLED),
        (None, TlsMode.PREFERRED),
    ],
)
def test_tls_modes_of_the_valid_values(value: object, mode: TlsMode) -> None:
    assert TlsMode.of({"SSL": value}, "x") is mode
    assert TlsMode.of({}, "x") is TlsMode.PREFERRED


@pytest.mark.parametrize("value", INVALID)
def test_no_other_value_is_a_tls_mode(value: object) -> None:
    with pytest.raises(errors.InvalidParameter, match="x: field 'SSL' must be"):
        TlsMode.of({"SSL": value}, "x")


# -- rotations --------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["mysql-alternating", "mysql-single-user"])
@pytest.mark.parametrize("value", ["yes", 1, "required", "perhaps"])
def test_an_invalid_ssl_fails_the_rotation_before_any_connection(
    engine: Engine,
    plain_db: Database,
    connects: list[dict[str, Any]],
    function: str,
    value: object,
) -> None:
    # Before the fix, "yes" meant "try TLS, then plaintext" and this rotation succeeded.
    app = make_app(engine, dataclasses.replace(plain_db, ssl_field=value), function=function)
    connects.clear()  # make_app's own
    done = app.rotate()
    assert done.status is Status.FAILED
    assert "InvalidParameter: the Current value of secret" in (done.error or "")
    assert "field 'SSL' must be true, false" in (done.error or "")
    assert [s.step for s in done.steps if s.error] == ["new"]
    assert connects == []
    assert not any("without TLS" in line for line in app.history(done))
    _untouched(app)


def test_an_invalid_ssl_in_the_master_secret_never_connects_as_the_master(
    engine: Engine, plain_db: Database, connects: list[dict[str, Any]]
) -> None:
    master = dataclasses.replace(plain_db, ssl_field="yes")
    app = make_app(
        engine, plain_db, master_value=master.secret(plain_db.server.user, plain_db.server.password)
    )
    connects.clear()
    done = app.rotate()
    assert done.status is Status.FAILED
    assert "InvalidParameter: the master secret" in (done.error or "")
    assert "field 'SSL' must be" in (done.error or "")
    assert connects  # Current and Pending were tried, as their secret says, without TLS
    assert all(c["user"] != plain_db.server.user for c in connects)
    _untouched(app)


def test_configuring_with_an_invalid_ssl_is_refused(engine: Engine, plain_db: Database) -> None:
    with pytest.raises(errors.InvalidParameter, match="field 'SSL' must be"):
        make_app(engine, dataclasses.replace(plain_db, ssl_field="perhaps"), dry_run=True)


@pytest.mark.parametrize("value", [True, "true", "TRUE", "True"])
def test_ssl_true_in_any_spelling_rotates_over_verified_tls(
    engine: Engine, tls_db: Database, connects: list[dict[str, Any]], value: object
) -> None:
    # REQUIRE SSL: the server itself refuses the account any plaintext login.
    app = make_app(engine, dataclasses.replace(tls_db, ssl_field=value), require="SSL")
    connects.clear()
    done = app.rotate()
    assert done.status is Status.SUCCEEDED, done.error
    assert connects
    for arguments in connects:
        context = arguments.get("ssl")
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname
        assert "ssl_disabled" not in arguments
    app.both_log_in()


@pytest.mark.parametrize("value", [False, "false", "FALSE"])
def test_ssl_false_in_any_spelling_rotates_without_tls(
    engine: Engine, plain_db: Database, connects: list[dict[str, Any]], value: object
) -> None:
    app = make_app(engine, dataclasses.replace(plain_db, ssl_field=value))
    connects.clear()
    done = app.rotate()
    assert done.status is Status.SUCCEEDED, done.error
    assert connects
    assert all(c.get("ssl_disabled") is True and "ssl" not in c for c in connects)
    assert not any("warning" in line for line in app.history(done))
