"""``rds-alternating``'s TLS settings are exact (issue 12): the secret's ``SSL`` and the
API's ``Protocol``/``Endpoint``.

``SSL`` is true, false, "true" or "false" (any letter case) or absent (the test step's
login is then plain, as documented); anything else fails before any API call or login.
"""

from __future__ import annotations

import dataclasses
import json
import ssl
from typing import Any

import pytest

from rotor import errors
from rotor.rds_standin import server as rds_standin
from rotor.rotation.engine import Engine
from rotor.rotation.functions import rds
from rotor.store import secrets, versions
from rotor.store.rotations import Rotation, Status
from tests.rotation.mysql.support import record_connects
from tests.rotation.rds.conftest import AppAccount, can_log_in, setup_secret
from tests.services.mariadb import MariaDBServer

# -- check_configuration ----------------------------------------------------------------


REQUIRED = {"RegionId": "cn-hangzhou", "InstanceId": "rm-1", "CredentialsSecret": "rds/key"}


def test_check_configuration_accepts_valid_settings() -> None:
    def check(parameters: dict[str, Any], current: dict[str, Any] | None) -> None:
        rds.RdsAlternating().check_configuration({**REQUIRED, **parameters}, current)

    check({}, None)
    check({"Protocol": "https", "Endpoint": "https://rds.example:8443"}, {"SSL": "False"})
    check({"Protocol": "HTTP", "Endpoint": "rds.example"}, {"SSL": True})
    for value in (True, False, "true", "FALSE", None):
        check({}, {"AccountName": "app", "SSL": value})
    # The secret's other fields are the steps' business; the parameters are checked here.
    check({}, {"AccountName": 5})
    for refused in ({"PasswordLength": 3}, {"RegionId": None}):
        with pytest.raises(errors.InvalidParameter):
            rds.RdsAlternating().check_configuration({**REQUIRED, **refused}, None)


@pytest.mark.parametrize("value", ["yes", 1, "required", "perhaps", "true ", ["true"]])
def test_check_configuration_refuses_an_invalid_ssl_in_current(value: Any) -> None:
    with pytest.raises(errors.InvalidParameter) as raised:
        rds.RdsAlternating().check_configuration(
            {}, {"AccountPassword": "Pass-word-123", "SSL": value}
        )
    message = str(raised.value)
    assert message.startswith("the Current value: field 'SSL' must be")
    assert 'true, false, "true" or "false"' in message
    assert "Pass-word-123" not in message


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"Protocol": "ftp"}, "Protocol must be http or https"),
        ({"Protocol": "tls"}, "Protocol must be http or https"),
        ({"Protocol": True}, "'Protocol' must be a string"),
        ({"Endpoint": "ftp://rds.example"}, "Endpoint must be host"),
        ({"Endpoint": "https://rds.example", "Protocol": "http"}, "disagree"),
    ],
)
def test_check_configuration_refuses_invalid_api_transport(
    parameters: dict[str, Any], problem: str
) -> None:
    with pytest.raises(errors.InvalidParameter, match=problem):
        rds.RdsAlternating().check_configuration(parameters, None)


# -- rotations --------------------------------------------------------------------------


@dataclasses.dataclass
class Setup:
    """An app account on the stand-in, and rotations of its secret with some ``SSL``."""

    engine: Engine
    standin: rds_standin.RdsStandIn
    server: MariaDBServer
    account: AppAccount
    connects: list[dict[str, Any]]
    #: The secret of the last :meth:`rotate`.
    name: str = ""

    def rotate(self, ssl_field: object, *, dry_run: bool = False) -> Rotation:
        """Configure (dry-running first with ``dry_run``) and rotate; ``None``: no SSL."""
        extra = {} if ssl_field is None else {"SSL": ssl_field}
        self.name = setup_secret(
            self.engine, self.standin, self.server, self.account, dry_run=dry_run, value_extra=extra
        )
        self.standin.calls.clear()
        self.connects.clear()
        rotation, created = self.engine.start(self.name, started_by="test")
        assert created
        return self.engine.run(rotation.id)

    def logins(self) -> list[dict[str, Any]]:
        """The connections the function opened (the stand-in opens its own, as the admin)."""
        names = (self.account.name, f"{self.account.name}_rt")
        return [c for c in self.connects if c["user"] in names]

    def untouched(self) -> None:
        assert secrets.get_secret(self.engine.store, self.name).stages["Current"] == "v0"
        value = versions.get_value(self.engine.store, self.name, stage="Current").value
        assert isinstance(value, str)
        assert json.loads(value)["AccountPassword"] == self.account.password
        assert can_log_in(self.server, self.account.name, self.account.password)


@pytest.fixture
def setup(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> Setup:
    return Setup(
        engine=engine,
        standin=standin,
        server=mariadb_server,
        account=app_account,
        connects=record_connects(monkeypatch),
    )


@pytest.mark.parametrize("value", ["yes", 1, "required", "perhaps"])
def test_an_invalid_ssl_fails_before_any_api_call_or_login(setup: Setup, value: object) -> None:
    # Before the fix, "yes" meant plaintext and this rotation succeeded.
    done = setup.rotate(value)
    assert done.status is Status.FAILED
    assert "InvalidParameter: the Current value: field 'SSL' must be" in (done.error or "")
    assert [s.step for s in done.steps if s.error] == ["new"]
    assert setup.standin.calls == []
    assert setup.connects == []
    setup.untouched()


def test_configuring_with_an_invalid_ssl_is_refused(setup: Setup) -> None:
    with pytest.raises(errors.InvalidParameter, match="field 'SSL' must be"):
        setup.rotate("yes", dry_run=True)


@pytest.mark.parametrize("value", [True, "TRUE"])
def test_ssl_true_logs_in_over_verified_tls_or_not_at_all(setup: Setup, value: object) -> None:
    # The session's plain server has no TLS: the test step must fail, never log in plainly.
    done = setup.rotate(value)
    assert done.status is Status.FAILED
    assert [s.step for s in done.steps if s.error] == ["test"]
    assert "SSL is required but the server doesn't support it" in (done.error or "")
    assert setup.logins()
    for arguments in setup.logins():
        context = arguments.get("ssl")
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert "ssl_disabled" not in arguments
    setup.untouched()


@pytest.mark.parametrize("value", [False, "false", "FALSE", None])
def test_ssl_false_or_absent_logs_in_without_tls(setup: Setup, value: object) -> None:
    done = setup.rotate(value, dry_run=True)
    assert done.status is Status.SUCCEEDED, done.error
    assert setup.logins()
    assert all(c.get("ssl_disabled") is True and "ssl" not in c for c in setup.logins())
