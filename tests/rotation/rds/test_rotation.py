"""``rds-alternating`` run by the engine, through the official SDK, against the stand-in on MariaDB."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from rotor import errors
from rotor.access import aliyun_signature
from rotor.rds_standin import server as rds_standin
from rotor.rds_standin.server import Fault
from rotor.rotation import configuration
from rotor.rotation.engine import Engine
from rotor.rotation.functions import rds, rds_options
from rotor.store import rotation_configs, rotations, secrets, versions
from rotor.store.rotations import Status
from tests.conftest import admin_identity
from tests.rotation.rds.conftest import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    AppAccount,
    can_log_in,
    create_account,
    describe,
    privileges_of,
    sdk_client,
    set_privileges,
    setup_secret,
    unique_name,
)
from tests.services.mariadb import MariaDBServer


def _rotate(engine: Engine, name: str) -> rotations.Rotation:
    rotation, created = engine.start(name, started_by="test")
    assert created
    return engine.run(rotation.id)


def _value(engine: Engine, name: str, **where: Any) -> dict[str, Any]:
    value = versions.get_value(engine.store, name, **where).value
    assert isinstance(value, str)
    parsed: dict[str, Any] = json.loads(value)
    return parsed


def _history(engine: Engine, rotation: rotations.Rotation) -> str:
    return "\n".join(e.message or "" for e in rotations.list_events(engine.store, rotation.id))


@pytest.mark.parametrize(
    ("algorithm", "scheme"),
    [
        ("ACS3-HMAC-SHA256", aliyun_signature.Scheme.ACS3),
        ("HMAC-SHA1", aliyun_signature.Scheme.RPC_V1),
    ],
)
def test_first_rotation_creates_the_alternate_with_type_and_privileges(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
    algorithm: str,
    scheme: aliyun_signature.Scheme,
) -> None:
    standin.calls.clear()  # the fixture's own calls
    name = setup_secret(engine, standin, mariadb_server, app_account, SignatureAlgorithm=algorithm)
    done = _rotate(engine, name)
    assert done.status is Status.SUCCEEDED, done.error
    assert [s.attempts for s in done.steps] == [1, 1, 1, 1]
    calls = list(standin.calls)

    current = _value(engine, name)
    alternate = f"{app_account.name}_rt"
    assert current["AccountName"] == alternate
    assert current["Endpoint"] == mariadb_server.host  # other fields are kept
    password = current["AccountPassword"]
    rds_options.check_password(password, "the new password")
    assert len(password) == 32
    assert on_stages(engine, name) == {"Current": done.version_id, "Previous": "v0"}

    client = sdk_client(standin)
    created = describe(client, alternate)
    assert created is not None
    assert created["AccountType"] == "Normal"
    assert created["AccountStatus"] == "Available"
    assert privileges_of(client, alternate) == privileges_of(client, app_account.name)
    assert privileges_of(client, alternate) == {
        app_account.databases[0]: "ReadWrite",
        app_account.databases[1]: "ReadOnly",
    }
    # An application logs in as app_rt with the Current password; the old account still works.
    assert can_log_in(mariadb_server, alternate, password, app_account.databases[0])
    assert can_log_in(mariadb_server, app_account.name, app_account.password)
    # Every call of the rotation (and of the dry run) was signed with the chosen scheme.
    assert {c.scheme for c in calls} == {scheme}
    assert all(c.status == 200 for c in calls)
    assert [c.action for c in calls if c.action != "DescribeAccounts"] == [
        "CreateAccount",
        "GrantAccountPrivilege",
    ]


def on_stages(engine: Engine, name: str) -> dict[str, str]:
    return secrets.get_secret(engine.store, name).stages


def test_second_rotation_resets_the_original_and_both_log_in(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
) -> None:
    name = setup_secret(engine, standin, mariadb_server, app_account)
    first = _rotate(engine, name)
    assert first.status is Status.SUCCEEDED, first.error
    alternate = _value(engine, name)
    standin.calls.clear()

    second = _rotate(engine, name)
    assert second.status is Status.SUCCEEDED, second.error
    current = _value(engine, name)
    assert current["AccountName"] == app_account.name
    assert current["AccountPassword"] not in (app_account.password, alternate["AccountPassword"])
    assert on_stages(engine, name) == {
        "Current": second.version_id,
        "Previous": first.version_id,
    }
    # app's password was reset (no account created), and both accounts log in.
    assert standin.calls_of("CreateAccount") == []
    assert len(standin.calls_of("ResetAccountPassword")) == 1
    assert can_log_in(mariadb_server, app_account.name, current["AccountPassword"])
    assert can_log_in(mariadb_server, alternate["AccountName"], alternate["AccountPassword"])
    assert not can_log_in(mariadb_server, app_account.name, app_account.password)
    history = _history(engine, second)
    assert f"set: reset the password of account {app_account.name}" in history
    assert current["AccountPassword"] not in history


def test_super_account_is_copied_as_super(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    databases: list[str],
) -> None:
    account = AppAccount(name=unique_name("su"), password="Super-Pass-0001", databases=databases)
    create_account(sdk_client(standin), account.name, account.password, account_type="Super")
    name = setup_secret(engine, standin, mariadb_server, account)
    done = _rotate(engine, name)
    assert done.status is Status.SUCCEEDED, done.error
    alternate = describe(sdk_client(standin), f"{account.name}_rt")
    assert alternate is not None
    assert alternate["AccountType"] == "Super"
    with mariadb_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"SHOW GRANTS FOR '{account.name}_rt'@'%'")
        grants = " ".join(row[0] for row in cursor.fetchall())
    assert "GRANT ALL PRIVILEGES ON *.*" in grants
    assert "WITH GRANT OPTION" in grants


def test_privileges_removed_from_current_are_removed_from_the_alternate(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
) -> None:
    name = setup_secret(engine, standin, mariadb_server, app_account)
    assert _rotate(engine, name).status is Status.SUCCEEDED
    # Current is now app_rt: an operator changes its privileges through the API.
    client = sdk_client(standin)
    first_db, second_db = app_account.databases
    set_privileges(client, f"{app_account.name}_rt", {first_db: "DDLOnly"}, revoke=[second_db])

    done = _rotate(engine, name)
    assert done.status is Status.SUCCEEDED, done.error
    assert privileges_of(client, app_account.name) == {first_db: "DDLOnly"}
    history = _history(engine, done)
    assert f"revoked {app_account.name}'s privileges on {first_db}, {second_db}" in history
    assert f"granted {app_account.name} DDLOnly on {first_db}" in history
    with mariadb_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"SHOW GRANTS FOR '{app_account.name}'@'%'")
        grants = " ".join(row[0] for row in cursor.fetchall())
    assert second_db.replace("_", "\\_") not in grants
    assert "INSERT" not in grants  # DDLOnly has no DML


def test_throttling_and_server_errors_are_retried_inside_the_step(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
) -> None:
    name = setup_secret(engine, standin, mariadb_server, app_account)
    standin.calls.clear()
    standin.inject(Fault.THROTTLING, times=2, action="CreateAccount")
    standin.inject(Fault.INTERNAL_ERROR, action="DescribeAccounts")
    standin.inject(Fault.UNAVAILABLE, action="GrantAccountPrivilege")
    done = _rotate(engine, name)
    assert done.status is Status.SUCCEEDED, done.error
    assert [s.attempts for s in done.steps] == [1, 1, 1, 1]
    codes = [(c.action, c.status, c.code) for c in standin.calls if c.status != 200]
    assert codes == [
        ("DescribeAccounts", 500, "InternalError"),
        ("CreateAccount", 400, "Throttling.User"),
        ("CreateAccount", 400, "Throttling.User"),
        ("GrantAccountPrivilege", 503, "ServiceUnavailable"),
    ]
    history = _history(engine, done)
    assert "RDS CreateAccount failed with Throttling.User; retrying" in history
    current = _value(engine, name)
    assert can_log_in(mariadb_server, current["AccountName"], current["AccountPassword"])


def test_a_create_that_timed_out_but_happened_is_not_repeated(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
) -> None:
    """A slow CreateAccount times out client-side; the retry finds the account and resets it."""
    name = setup_secret(engine, standin, mariadb_server, app_account, ApiTimeoutSeconds=3)
    # Its answer is held until the test ends: the client's timeout always comes first,
    # and every other call has time to spare on a loaded machine.
    standin.inject(Fault.SLOW, action="CreateAccount", delay_seconds=600)
    done = _rotate(engine, name)
    assert done.status is Status.SUCCEEDED, done.error
    assert [c.code for c in standin.calls_of("CreateAccount")] == [
        "",
        "InvalidAccountName.Duplicate",
    ]
    assert len(standin.calls_of("ResetAccountPassword")) == 1
    assert "no answer from the RDS API (ReadTimeout)" not in (done.error or "")
    current = _value(engine, name)
    assert can_log_in(mariadb_server, current["AccountName"], current["AccountPassword"])


def test_a_persistent_server_error_fails_after_the_in_step_retries(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
) -> None:
    name = setup_secret(engine, standin, mariadb_server, app_account)
    standin.inject(Fault.INTERNAL_ERROR, times=1000, action="CreateAccount")
    done = _rotate(engine, name)
    assert done.status is Status.FAILED
    assert done.error is not None
    assert "RDS CreateAccount failed after 5 attempts: InternalError (HTTP 500)" in done.error
    failed = [c for c in standin.calls_of("CreateAccount") if c.status == 500]
    assert len(failed) == 5 * 3  # in-step attempts x engine attempts
    _assert_current_untouched(engine, name, mariadb_server, app_account)


def _assert_current_untouched(
    engine: Engine, name: str, server: MariaDBServer, account: AppAccount
) -> None:
    assert on_stages(engine, name) == {"Current": "v0"}
    current = _value(engine, name)
    assert current["AccountName"] == account.name
    assert current["AccountPassword"] == account.password
    assert can_log_in(server, account.name, account.password)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown-instance", "InvalidDBInstanceId.NotFound (HTTP 404)"),
        ("wrong-secret", "SignatureDoesNotMatch (HTTP 400)"),
        ("unknown-key", "InvalidAccessKeyId.NotFound (HTTP 404)"),
    ],
)
def test_api_refusals_fail_clearly_and_leave_current_working(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
    case: str,
    expected: str,
) -> None:
    credentials = {"AccessKeyId": ACCESS_KEY_ID, "AccessKeySecret": ACCESS_KEY_SECRET}
    parameters: dict[str, Any] = {}
    if case == "unknown-instance":
        parameters["InstanceId"] = "rm-doesnotexist"
    elif case == "wrong-secret":
        credentials["AccessKeySecret"] = "not-the-secret"
    else:
        credentials["AccessKeyId"] = "LTAIunknownkey"
    name = setup_secret(
        engine,
        standin,
        mariadb_server,
        app_account,
        credentials=credentials,
        dry_run=False,
        SignatureAlgorithm="HMAC-SHA1",
        **parameters,
    )
    standin.calls.clear()
    done = _rotate(engine, name)
    assert done.status is Status.FAILED
    assert done.error is not None
    assert "RotateSecretSet (set) failed" in done.error
    assert expected in done.error
    # A 4xx is not retried inside the step: one call per engine attempt.
    assert len(standin.calls_of("DescribeAccounts")) == 3
    assert standin.calls_of("CreateAccount") == []
    pending = _value(engine, name, version_id=done.version_id)
    everything = _history(engine, done) + done.error
    for secret in (pending["AccountPassword"], app_account.password, "not-the-secret"):
        assert secret not in everything
    if case == "wrong-secret":
        assert "string to sign is: (omitted)" in done.error
    _assert_current_untouched(engine, name, mariadb_server, app_account)


def test_account_name_too_long_fails_before_any_change(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    databases: list[str],
) -> None:
    account = AppAccount(
        name=unique_name("long") + "x" * 16, password="Long-Pass-0001", databases=databases
    )
    assert len(account.name) == 30
    create_account(sdk_client(standin), account.name, account.password)
    name = setup_secret(engine, standin, mariadb_server, account, dry_run=False)
    standin.calls.clear()
    done = _rotate(engine, name)
    assert done.status is Status.FAILED
    assert done.error is not None
    assert "RotateSecretNew (new) failed" in done.error
    assert f"{account.name}_rt' would have 33 characters, and the server allows 32" in done.error
    assert standin.calls == []
    _assert_current_untouched(engine, name, mariadb_server, account)


def test_missing_current_account_fails_before_any_change(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    databases: list[str],
) -> None:
    ghost = AppAccount(name=unique_name("ghost"), password="Ghost-Pass-0001", databases=databases)
    name = setup_secret(engine, standin, mariadb_server, ghost, dry_run=False)
    done = _rotate(engine, name)
    assert done.status is Status.FAILED
    assert done.error is not None
    assert f"the Current account {ghost.name!r} does not exist on RDS instance" in done.error
    assert "nothing was changed" in done.error
    assert standin.calls_of("CreateAccount") == []
    assert describe(sdk_client(standin), f"{ghost.name}_rt") is None
    assert on_stages(engine, name) == {"Current": "v0"}


def test_custom_privileges_on_current_are_refused_before_any_change(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
) -> None:
    name = setup_secret(engine, standin, mariadb_server, app_account)
    with mariadb_server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        db = app_account.databases[1].replace("_", "\\_")
        cursor.execute(f"GRANT INSERT ON `{db}`.* TO '{app_account.name}'@'%'")
    done = _rotate(engine, name)
    assert done.status is Status.FAILED
    assert done.error is not None
    assert "custom privileges" in done.error
    assert app_account.databases[1] in done.error
    assert describe(sdk_client(standin), f"{app_account.name}_rt") is None
    _assert_current_untouched(engine, name, mariadb_server, app_account)


def test_dry_run_checks_the_api_and_the_current_account(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
) -> None:
    standin.calls.clear()
    name = setup_secret(engine, standin, mariadb_server, app_account)  # dry-runs: passes
    assert {c.action for c in standin.calls} == {"DescribeAccounts"}
    assert on_stages(engine, name) == {"Current": "v0"}
    with pytest.raises(errors.InvalidParameter, match=r"InvalidDBInstanceId\.NotFound"):
        configuration.configure(
            engine,
            name,
            configuration.RotationRequest(
                function="rds-alternating",
                parameters={
                    **_parameters(engine, name),
                    "InstanceId": "rm-doesnotexist",
                },
                rotate_now=False,
            ),
            identity=admin_identity(engine.store),
        )


def _parameters(engine: Engine, name: str) -> dict[str, Any]:
    config = rotation_configs.get_config(engine.store, name)
    assert config is not None
    return dict(config.parameters)


class _Crash(BaseException):
    """Stands for the process dying: nothing in the engine catches it."""


def test_a_rotation_killed_mid_set_resumes_with_the_same_version(
    engine: Engine,
    store_settings_engine: Engine,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = setup_secret(engine, standin, mariadb_server, app_account)
    standin.calls.clear()
    real_grant = rds.RdsApi.grant

    def die(self: rds.RdsApi, account: str, privileges: dict[str, str]) -> None:
        raise _Crash

    monkeypatch.setattr(rds.RdsApi, "grant", die)
    rotation, _ = engine.start(name, started_by="test")
    with pytest.raises(_Crash):
        engine.run(rotation.id)
    # The process "died" after CreateAccount, before the grants: app_rt exists, bare.
    alternate = f"{app_account.name}_rt"
    assert privileges_of(sdk_client(standin), alternate) == {}
    assert rotations.get_rotation(engine.store, rotation.id).status is Status.RUNNING

    monkeypatch.setattr(rds.RdsApi, "grant", real_grant)
    other = store_settings_engine  # another runner, after the dead one's lease expired
    time.sleep(engine.settings.rotation_lease_seconds + 0.1)
    done = other.run(rotation.id)
    assert done.status is Status.SUCCEEDED, done.error
    assert done.version_id == rotation.version_id
    current = _value(engine, name)
    assert current["AccountName"] == alternate
    assert privileges_of(sdk_client(standin), alternate) == privileges_of(
        sdk_client(standin), app_account.name
    )
    assert can_log_in(mariadb_server, alternate, current["AccountPassword"])
    assert len(standin.calls_of("CreateAccount")) == 1
    assert len(standin.calls_of("ResetAccountPassword")) == 1
