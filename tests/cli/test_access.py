"""``rotor principal|access-key|policy|whoami|assume-role|audit`` against a real server."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import Result

from rotor import errors
from rotor.cli import timespec
from tests.access.conftest import REFERENCE_MYSQL_POLICY, REFERENCE_RDS_POLICY
from tests.cli.conftest import Invoke

RDS_ACTIONS = (
    "rds:GrantAccountPrivilege",
    "rds:DescribeAccounts",
    "rds:ResetAccountPassword",
    "rds:CreateAccount",
)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result


def failed(result: Result, exit_code: int) -> str:
    assert result.exit_code == exit_code, f"exit {result.exit_code}: {result.output}"
    assert result.stderr.startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return result.stderr


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


def write_policy(tmp_path: Path, document: str | Mapping[str, object]) -> Path:
    path = tmp_path / f"policy-{uuid.uuid4().hex[:6]}.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def new_key(cli: Invoke, principal: str) -> dict[str, str]:
    """A new access key of ``principal`` as the environment that authenticates with it."""
    created = json.loads(ok(cli("access-key", "create", principal, "--json")).stdout)
    return {
        "ROTOR_ACCESS_KEY_ID": created["access_key_id"],
        "ROTOR_ACCESS_KEY_SECRET": created["access_key_secret"],
    }


def test_principals_are_created_listed_shown_and_deleted(cli: Invoke, uid: str) -> None:
    user, role = f"cli-user-{uid}", f"cli-role-{uid}"
    assert ok(cli("principal", "create", user)).stdout.strip() == f"Created user {user}."
    assert ok(cli("principal", "create", role, "--role")).stdout.strip() == f"Created role {role}."
    failed(cli("principal", "create", user), 4)
    failed(cli("principal", "create", "bad name"), 2)

    listed = ok(cli("principal", "list")).stdout
    (row,) = [line for line in listed.splitlines() if user in line]
    assert [cell.strip() for cell in row.split("│")[1:3]] == [user, "user"]
    as_json = json.loads(ok(cli("principal", "list", "--json")).stdout)
    assert {"name": role, "kind": "role"}.items() <= next(
        p for p in as_json if p["name"] == role
    ).items()

    new_key(cli, user)
    shown = ok(cli("principal", "show", user)).stdout
    assert "Policies" in shown
    assert "long-term" in shown
    details = json.loads(ok(cli("principal", "show", user, "--json")).stdout)
    assert details["policies"] == []
    assert len(details["access_keys"]) == 1
    assert "access_key_secret" not in details["access_keys"][0]

    deleted = ok(cli("principal", "delete", user)).stdout
    assert deleted.strip() == f"Deleted user {user} and its keys."
    assert "not found" in failed(cli("principal", "show", user), 3)


def test_an_access_key_secret_is_shown_once(cli: Invoke, uid: str) -> None:
    user = f"cli-keys-{uid}"
    ok(cli("principal", "create", user))
    created = ok(cli("access-key", "create", user, "--expires-in", "2h"))
    assert "shown only this once" in created.stderr
    lines = dict(
        line.split("=", 1) for line in created.stdout.splitlines() if line.startswith("ROTOR_")
    )
    key_id, secret = lines["ROTOR_ACCESS_KEY_ID"], lines["ROTOR_ACCESS_KEY_SECRET"]
    assert "Expires" in created.stdout

    listed = ok(cli("access-key", "list", user)).stdout
    assert key_id in listed
    assert secret not in listed
    keys = json.loads(ok(cli("access-key", "list", user, "--json")).stdout)
    (key,) = keys
    assert key["access_key_id"] == key_id
    assert secret not in json.dumps(keys)
    expires = dt.datetime.fromisoformat(key["expires_at"])
    assert dt.timedelta(minutes=119) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=2)

    env = {"ROTOR_ACCESS_KEY_ID": key_id, "ROTOR_ACCESS_KEY_SECRET": secret}
    assert user in ok(cli("whoami", env=env)).stdout
    assert "Disabled" in ok(cli("access-key", "disable", key_id)).stdout
    assert failed(cli("whoami", env=env), 5) == "Error: Authentication required.\n"
    assert "Enabled" in ok(cli("access-key", "enable", key_id)).stdout
    ok(cli("whoami", env=env))
    assert "Deleted" in ok(cli("access-key", "delete", key_id)).stdout
    failed(cli("whoami", env=env), 5)
    failed(cli("access-key", "delete", key_id), 3)
    failed(cli("access-key", "create", user, "--expires-in", "soon"), 2)


def test_policies_from_the_reference_are_shown_with_what_grants_nothing(
    cli: Invoke, uid: str, tmp_path: Path
) -> None:
    rds, mysql, user = f"cli-rds-{uid}", f"cli-mysql-{uid}", f"cli-fn-{uid}"
    created = ok(
        cli("policy", "create", rds, "--file", str(write_policy(tmp_path, REFERENCE_RDS_POLICY)))
    )
    assert created.stdout.startswith(f"Created policy {rds}.")
    assert "grant nothing in rotor: " + ", ".join(RDS_ACTIONS) in created.stdout
    ok(
        cli(
            "policy",
            "create",
            mysql,
            "--file",
            "-",
            "--description",
            "self-managed MySQL",
            input=REFERENCE_MYSQL_POLICY,
        )
    )
    ok(cli("principal", "create", user, "--role"))
    attached = ok(cli("policy", "attach", rds, "--to", user)).stdout
    assert f"Attached {rds} to {user}" in attached

    shown = ok(cli("policy", "show", rds)).stdout
    (attached_line,) = [line for line in shown.splitlines() if line.startswith("Attached to")]
    assert attached_line.split() == ["Attached", "to", user]
    assert '"rds:CreateAccount"' in shown
    assert (
        "These actions match no rotor operation and grant nothing in rotor: "
        + ", ".join(RDS_ACTIONS)
    ) in shown
    mysql_shown = ok(cli("policy", "show", mysql)).stdout
    assert "grant nothing in rotor: kms:Decrypt, kms:GenerateDataKey" in mysql_shown
    assert "self-managed MySQL" in mysql_shown
    as_json = json.loads(ok(cli("policy", "show", rds, "--json")).stdout)
    assert as_json["unmatched_actions"] == list(RDS_ACTIONS)
    assert as_json["attached_to"] == [user]
    assert as_json["document"] == json.loads(REFERENCE_RDS_POLICY)

    listed = ok(cli("policy", "list")).stdout
    assert rds in listed
    assert mysql in listed
    assert rds in {p["name"] for p in json.loads(ok(cli("policy", "list", "--json")).stdout)}
    assert "attached to" in failed(cli("policy", "delete", rds), 4)
    assert "policies left: none" in ok(cli("policy", "detach", rds, "--from", user)).stdout
    failed(cli("policy", "detach", rds, "--from", user), 3)
    assert ok(cli("policy", "delete", rds)).stdout.strip() == f"Deleted policy {rds}."
    replaced = ok(
        cli("policy", "create", mysql, "--file", str(write_policy(tmp_path, REFERENCE_RDS_POLICY)))
    )
    assert replaced.stdout.startswith(f"Replaced policy {mysql}.")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not json", "the policy is not valid JSON"),
        (
            {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms", "Resource": "*"}]},
            "action 'kms' is not service:Name",
        ),
        (
            {
                "Version": "1",
                "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "a b"}],
            },
            "resource 'a b' must be 1-1024 printable characters",
        ),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_problem(
    cli: Invoke, uid: str, tmp_path: Path, document: str | dict[str, object], problem: str
) -> None:
    path = write_policy(tmp_path, document)
    assert problem in failed(cli("policy", "create", f"cli-bad-{uid}", "--file", str(path)), 2)
    failed(cli("policy", "show", f"cli-bad-{uid}"), 3)


def test_a_missing_policy_file_is_an_input_error(cli: Invoke, tmp_path: Path) -> None:
    message = failed(cli("policy", "create", "p", "--file", str(tmp_path / "missing.json")), 2)
    assert "cannot read" in message


def test_whoami(cli: Invoke) -> None:
    shown = ok(cli("whoami")).stdout
    assert "admin (user)" in shown
    assert "AdministratorAccess" in shown
    me = json.loads(ok(cli("whoami", "--json")).stdout)
    assert (me["principal"], me["session"]) == ("admin", False)
    assert json.loads(ok(cli("whoami", "--json", "--sign")).stdout) == me


def test_assume_role_prints_credentials_that_work(cli: Invoke, uid: str, tmp_path: Path) -> None:
    role, secret = f"cli-assumed-{uid}", f"cli-assume-{uid}/db"
    ok(cli("secret", "create", secret, "--value", "role-reads-this"))
    ok(cli("principal", "create", role, "--role"))
    read = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:GetSecretValue", "kms:DescribeSecret"],
                "Resource": "*",
            }
        ],
    }
    ok(cli("policy", "create", f"{role}-read", "--file", str(write_policy(tmp_path, read))))
    ok(cli("policy", "attach", f"{role}-read", "--to", role))

    exports = ok(cli("assume-role", role, "--env", "--duration", "15m")).stdout
    env = {}
    for line in exports.splitlines():
        word, assignment = shlex.split(line)
        assert word == "export"
        name, _, value = assignment.partition("=")
        env[name] = value
    assert set(env) == {"ROTOR_ACCESS_KEY_ID", "ROTOR_ACCESS_KEY_SECRET", "ROTOR_SECURITY_TOKEN"}
    assert ok(cli("secret", "get", secret, env=env)).stdout == "role-reads-this"
    me = json.loads(ok(cli("whoami", "--json", env=env)).stdout)
    assert (me["principal"], me["session"]) == (role, True)
    signed = json.loads(ok(cli("whoami", "--json", "--sign", env=env)).stdout)
    assert signed == me
    without_token = {k: v for k, v in env.items() if k != "ROTOR_SECURITY_TOKEN"}
    failed(cli("secret", "get", secret, env=without_token), 5)

    narrow = {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "kms:DescribeSecret", "Resource": "*"}],
    }
    narrowed = json.loads(
        ok(
            cli(
                "assume-role",
                role,
                "--json",
                "--policy-file",
                str(write_policy(tmp_path, narrow)),
            )
        ).stdout
    )
    assert set(narrowed) == {
        "role",
        "access_key_id",
        "access_key_secret",
        "security_token",
        "expires_at",
    }
    narrowed_env = {
        "ROTOR_ACCESS_KEY_ID": narrowed["access_key_id"],
        "ROTOR_ACCESS_KEY_SECRET": narrowed["access_key_secret"],
        "ROTOR_SECURITY_TOKEN": narrowed["security_token"],
    }
    ok(cli("secret", "describe", secret, env=narrowed_env))
    failed(cli("secret", "get", secret, env=narrowed_env), 5)

    human = ok(cli("assume-role", role)).stdout
    assert f"Credentials of role {role}" in human
    assert "export ROTOR_SECURITY_TOKEN=" in human
    assert "between 900 and 43200" in failed(cli("assume-role", role, "--duration", "5m"), 2)
    failed(cli("assume-role", f"cli-nobody-{uid}"), 3)
    failed(cli("assume-role", role, "--env", "--json"), 2)


def test_audit_shows_filtered_events_and_never_a_value(
    cli: Invoke, uid: str, tmp_path: Path
) -> None:
    value = f"audit-value-{uid}"
    app, other = f"cli-audit-{uid}/db", f"cli-audit-other-{uid}/db"
    ok(cli("secret", "create", app, "--value", value))
    ok(cli("secret", "create", other, "--value", value))
    user = f"cli-audited-{uid}"
    ok(cli("principal", "create", user))
    read = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "kms:GetSecretValue",
                "Resource": f"acs:kms:*:*:secret/cli-audit-{uid}/*",
            }
        ],
    }
    ok(cli("policy", "create", f"{user}-read", "--file", str(write_policy(tmp_path, read))))
    ok(cli("policy", "attach", f"{user}-read", "--to", user))
    env = new_key(cli, user)
    ok(cli("secret", "get", app, env=env))
    ok(cli("secret", "get", app, env=env))
    failed(cli("secret", "get", other, env=env), 5)
    failed(cli("secret", "put", app, "--value", "x", env=env), 5)

    events = json.loads(ok(cli("audit", "--principal", user, "--json")).stdout)
    assert [(e["action"], e["secret"], e["outcome"]) for e in events] == [
        ("kms:PutSecretValue", app, "denied"),
        ("kms:GetSecretValue", other, "denied"),
        ("kms:GetSecretValue", app, "allowed"),
        ("kms:GetSecretValue", app, "allowed"),
    ]
    assert all(e["access_key_id"] == env["ROTOR_ACCESS_KEY_ID"] for e in events)
    denied = json.loads(
        ok(cli("audit", "--principal", user, "--outcome", "denied", "--json")).stdout
    )
    assert len(denied) == 2
    reads = json.loads(
        ok(cli("audit", "--secret", app, "--action", "kms:GetSecretValue", "--json")).stdout
    )
    assert [e["principal"] for e in reads] == [user, user]
    limited = json.loads(ok(cli("audit", "--principal", user, "--limit", "3", "--json")).stdout)
    assert limited == events[:3]
    recent = json.loads(ok(cli("audit", "--principal", user, "--since", "10m", "--json")).stdout)
    assert recent == events
    assert (
        json.loads(ok(cli("audit", "--principal", user, "--until", "10m", "--json")).stdout) == []
    )
    midpoint = events[2]["at"]
    assert (
        json.loads(ok(cli("audit", "--principal", user, "--since", midpoint, "--json")).stdout)
        == events[:3]
    )

    table = ok(cli("audit", "--principal", user)).stdout
    assert table.count("denied") == 2
    assert "No audit events match." in ok(cli("audit", "--principal", f"nobody-{uid}")).stdout
    everything = ok(cli("audit", "--since", "10m", "--limit", "1000", "--json")).stdout
    assert value not in everything
    assert env["ROTOR_ACCESS_KEY_SECRET"] not in everything

    failed(cli("audit", "--since", "last tuesday"), 2)
    failed(cli("audit", "--outcome", "maybe"), 2)
    failed(cli("audit", "--limit", "0"), 2)
    failed(cli("audit", env=env), 5)


def test_durations_and_times() -> None:
    assert timespec.parse_duration("90d", "--x") == 90 * 86400
    assert timespec.parse_duration("1H", "--x") == 3600
    assert timespec.parse_duration("15m", "--x") == 900
    assert timespec.parse_duration("45", "--x") == 45
    for bad in ("", "1.5h", "h", "-1h", "0", "1w"):
        with pytest.raises(errors.InvalidParameter):
            timespec.parse_duration(bad, "--x")
    now = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    assert timespec.parse_time("2h", "--since", now=now) == dt.datetime(
        2026, 5, 1, 10, 0, tzinfo=dt.UTC
    )
    assert timespec.parse_time("2026-05-01", "--since") == dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    assert timespec.parse_time("2026-05-01T14:00:00+02:00", "--since") == now
    assert timespec.parse_time("2026-05-01T12:00:00Z", "--since") == now
    with pytest.raises(errors.InvalidParameter):
        timespec.parse_time("yesterday", "--since")
