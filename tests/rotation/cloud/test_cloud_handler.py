"""A cloud-function rotation handler run unchanged by a real ``rotor serve``.

``handler_mysql.py`` is written for the cloud function runtime: the official V1 SDK
with ``context.credentials`` (STS), its own cloud KMS endpoint, PyMySQL, the
alternating accounts. An administrator registers it as a ``python-handler`` under the
interpreter of its own dependencies (``.venv-cloud``), with the role it may be given and
the master secrets it may read; a principal who holds those (and may delegate them)
configures the rotation, driven by the reference's workflow definition verbatim, and the
handler runs with short-lived credentials of the role holding the reference's KMS policy.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.access.conftest import REFERENCE_MYSQL_POLICY
from tests.rotation.mysql.support import Database, unique_name
from tests.rotation.test_flows import SELF_MANAGED_FLOW
from tests.services.mariadb import MariaDBServer
from tests.services.server import (
    RunningServer,
    secret_values_leaked,
    start_server,
    stop_server,
)

HANDLER = Path(__file__).with_name("handler_mysql.py")
REGION = "cn-hangzhou"
FAST = {
    "ROTOR_ROTATION_LEASE_SECONDS": "5",
    "ROTOR_ROTATION_RETRY_SECONDS": "0.1",
    "ROTOR_SCHEDULER_INTERVAL_SECONDS": "0.2",
}
STEP_NAMES = ["RotateSecretNew", "RotateSecretSet", "RotateSecretTest", "RotateSecretEnd"]
INITIAL_PASSWORD = "Initial-pass-123"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "data", env=FAST)
    try:
        yield running
    finally:
        stop_server(running)
    assert secret_values_leaked(running) == []


@pytest.fixture
def db(mariadb_server: MariaDBServer) -> Database:
    return Database(server=mariadb_server, parameters={})


def _http(server: RunningServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}"},
        timeout=30,
    )


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


def _wait(http: httpx.Client, rotation_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = _ok(http.get(f"/v1/rotations/{rotation_id}"))
        if body["status"] != "running":
            return body
        time.sleep(0.1)
    raise AssertionError(f"rotation {rotation_id} still running after {timeout}s")


def _value(http: httpx.Client, name: str, stage: str = "Current") -> dict[str, Any]:
    body = _ok(http.get(f"/v1/secrets/{name}:value", params={"stage": stage}))
    parsed: dict[str, Any] = json.loads(body["value"])
    return {**parsed, "_version": body["version_id"]}


def _role(server: RunningServer, policy: str) -> str:
    """A role holding ``policy`` (JSON text), for the function to run as."""
    name = f"cloud-fn-{uuid.uuid4().hex[:8]}"
    with server.client() as client:
        client.create_principal(name, kind="role")
        client.put_policy(name, policy, description="the rotation function's KMS access")
        client.attach_policy(name, name)
    return name


def _configurer(server: RunningServer, function: str, role: str, suffix: str) -> httpx.Client:
    """A principal ``ops`` who may manage ``db/*-SUFFIX``, attach ``function``, pass ``role``
    and delegate the master secret (its policy ``ops-SUFFIX-master``); its HTTP client."""
    name = f"ops-{suffix}"
    secrets = f"acs:kms:*:*:secret/db/*-{suffix}"
    with server.client() as client:
        client.create_principal(name)
        for policy, statement in (
            (f"{name}-base", {"Action": "kms:*", "Resource": secrets}),
            (
                f"{name}-fn",
                {"Action": "rotor:AttachFunction", "Resource": f"rotor:function/{function}"},
            ),
            (f"{name}-role", {"Action": "rotor:PassRole", "Resource": f"rotor:principal/{role}"}),
            (
                f"{name}-master",
                {
                    "Action": ["kms:GetSecretValue", "rotor:PassSecret"],
                    "Resource": f"acs:kms:*:*:secret/db/master-{suffix}",
                },
            ),
        ):
            document = {"Version": "1", "Statement": [{"Effect": "Allow", **statement}]}
            client.put_policy(policy, json.dumps(document))
            client.attach_policy(policy, name)
        key = client.create_access_key(name)
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {key.access_key_id}.{key.access_key_secret}"},
        timeout=30,
    )


def _setup(
    server: RunningServer,
    http: httpx.Client,
    db: Database,
    database: str,
    role: str,
    cloud_python: Path,
) -> tuple[str, str, dict[str, Any]]:
    """An account with privileges on ``database``, its secret and master secret, the
    handler registered by the admin, and the rotation configured by ``ops`` (which starts
    the first rotation). Returns the account, the secret's name and the started rotation."""
    account = unique_name("app")
    db.create_account(account, INITIAL_PASSWORD)
    db.admin(
        f"GRANT SELECT, INSERT, UPDATE ON `{database}`.* TO '{account}'@'%'",
        f"GRANT PROCESS ON *.* TO '{account}'@'%' WITH MAX_USER_CONNECTIONS 7",
    )
    suffix = uuid.uuid4().hex[:8]
    master, name = f"db/master-{suffix}", f"db/app-{suffix}"
    _ok(
        http.post(
            "/v1/secrets",
            json={"name": master, "value": db.secret(db.server.user, db.server.password)},
        )
    )
    app_value = json.loads(db.secret(account, INITIAL_PASSWORD, master=master))
    _ok(
        http.post(
            "/v1/secrets", json={"name": name, "value": json.dumps({**app_value, "SSL": False})}
        )
    )
    function = f"reference-mysql-{suffix}"
    _ok(
        http.put(
            f"/v1/functions/{function}",
            json={
                "kind": "python-handler",
                "handler": f"{HANDLER}:handler",
                "python": str(cloud_python),
                "roles": [role],
                "secrets": ["db/master-*"],
            },
        )
    )
    with _configurer(server, function, role, suffix) as ops:
        configured = _ok(
            ops.put(
                f"/v1/secrets/{name}:rotation",
                json={
                    "function": function,
                    "parameters": {"RegionId": REGION, "Role": role},
                    "flow": SELF_MANAGED_FLOW,
                },
            )
        )
    started: dict[str, Any] = configured["started"]
    assert started is not None
    return account, name, started


def _messages(rotation: dict[str, Any]) -> list[str]:
    return [f"{e['kind']}: {e['message']}" for e in rotation["events"]]


def test_the_cloud_handler_rotates_twice_unchanged(
    server: RunningServer, db: Database, mariadb_database: str, cloud_python: Path
) -> None:
    role = _role(server, REFERENCE_MYSQL_POLICY)
    with _http(server) as http:
        account, name, started = _setup(server, http, db, mariadb_database, role, cloud_python)
        first = _wait(http, started["id"])
        assert first["status"] == "succeeded", _messages(first)
        assert [s["name"] for s in first["steps"]] == STEP_NAMES
        current = _value(http, name)
        previous = _value(http, name, "Previous")
        # new got no VersionId in its event and used context.requestId.
        assert current["_version"] == started["version_id"]
        assert current["AccountName"] == account + "_rt"
        assert previous["AccountName"] == account

        second_started = _ok(http.post(f"/v1/secrets/{name}:rotate", json={}))
        second = _wait(http, second_started["id"])
        assert second["status"] == "succeeded", _messages(second)
        latest = _value(http, name)
        assert latest["_version"] == second_started["version_id"]
        assert latest["AccountName"] == account
        assert _value(http, name, "Previous")["_version"] == current["_version"]
        described = _ok(http.get(f"/v1/secrets/{name}"))
        assert set(described["stages"]) == {"Current", "Previous"}

    # The other account exists with exactly the privileges of the first; both log in.
    assert db.hosts(account + "_rt") == ["%"]
    assert db.grants(account + "_rt") == db.grants(account)
    assert db.properties(account + "_rt")[1:] == db.properties(account)[1:]
    assert db.logs_in(account, latest["AccountPassword"])
    assert db.logs_in(account + "_rt", current["AccountPassword"])
    assert not db.logs_in(account, INITIAL_PASSWORD)

    # The handler's log lines are in the history, its passwords are not.
    for rotation, value in ((first, current), (second, latest)):
        history = "\n".join(_messages(rotation))
        assert "new: stored version" in history
        assert "test: logged in as" in history
        assert "***" in history  # the careless line of the test step, redacted
        for password in (value["AccountPassword"], db.server.password):
            assert password not in history


def test_a_role_without_put_secret_value_fails_at_new(
    server: RunningServer, db: Database, mariadb_database: str, cloud_python: Path
) -> None:
    policy = json.loads(REFERENCE_MYSQL_POLICY)
    policy["Statement"][0]["Action"].remove("kms:PutSecretValue")
    role = _role(server, json.dumps(policy))
    with _http(server) as http:
        account, name, started = _setup(server, http, db, mariadb_database, role, cloud_python)
        done = _wait(http, started["id"])
        assert done["status"] == "failed", _messages(done)
        # Access denied cannot pass on a retry: the step fails at once.
        assert done["error"].startswith("RotateSecretNew (new) failed (not retried):")
        assert done["steps"][0]["attempts"] == 1
        assert "Forbidden.NoPermission" in done["error"]
        failed = [e for e in done["events"] if e["kind"] == "step_failed"]
        assert failed
        assert all("Forbidden.NoPermission" in e["message"] for e in failed)
        assert [s["name"] for s in done["steps"] if s.get("attempts")] == ["RotateSecretNew"]
        # Nothing changed: Current is the initial value, there is no Pending, no new account.
        current = _value(http, name)
        assert current["AccountName"] == account
        assert current["AccountPassword"] == INITIAL_PASSWORD
        assert "Pending" not in _ok(http.get(f"/v1/secrets/{name}"))["stages"]
    assert db.hosts(account + "_rt") == []
    assert db.logs_in(account, INITIAL_PASSWORD)


def test_revoking_the_configurers_read_on_the_master_fails_the_next_rotation(
    server: RunningServer, db: Database, mariadb_database: str, cloud_python: Path
) -> None:
    role = _role(server, REFERENCE_MYSQL_POLICY)
    with _http(server) as http:
        _, name, started = _setup(server, http, db, mariadb_database, role, cloud_python)
        first = _wait(http, started["id"])
        assert first["status"] == "succeeded", _messages(first)
        current = _value(http, name)
        suffix = name.rsplit("-", 1)[1]
        ops = f"ops-{suffix}"
        # The handler's own KMS calls are audited as its role, for ops, with its rotation.
        events = _ok(http.get("/v1/audit", params={"secret": name}))["events"]
        mine = [e for e in events if e["function"] is not None]
        assert {e["action"] for e in mine} >= {"kms:GetSecretValue", "kms:PutSecretValue"}
        assert {
            (e["principal"], e["function"], e["on_behalf_of"], e["rotation_id"]) for e in mine
        } == {(role, f"reference-mysql-{suffix}", ops, first["id"])}
        _ok(http.delete(f"/v1/principals/{ops}/policies/{ops}-master"))
        second_started = _ok(http.post(f"/v1/secrets/{name}:rotate", json={}))
        second = _wait(http, second_started["id"])
        assert second["status"] == "failed"
        assert second["error"].startswith("DelegationDenied:"), second["error"]
        assert "master" in second["error"]
        assert ops in second["error"]
        assert not any(s.get("attempts") for s in second["steps"])  # no step ran
        assert _value(http, name) == current
    assert db.logs_in(current["AccountName"], current["AccountPassword"])
