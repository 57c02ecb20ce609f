"""Lambda-style rotation handlers run by a real ``rotor serve``, driven through boto3.

``lambda_mysql_multiuser.py`` is written for AWS Lambda and Secrets Manager (the public
templates' alternating-users strategy: boto3 with no arguments, PyMySQL): registered as
a ``lambda-handler``, it rotates a MariaDB user twice through RotateSecret while an
application logs in throughout. ``lambda_probe.py`` holds a rotation open to show what
AWS shows of a rotation in progress, and tries to reach beyond its delegation.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pymysql
import pytest
from botocore.exceptions import ClientError

from tests.aws.conftest import sm_client
from tests.rotation.cloud import test_cloud_handler
from tests.rotation.cloud.test_cloud_handler import _http, _messages, _ok
from tests.rotation.mysql.support import Database, unique_name
from tests.services.mariadb import MariaDBServer
from tests.services.server import RunningServer

HERE = Path(__file__).parent
MULTIUSER = HERE / "lambda_mysql_multiuser.py"
PROBE = HERE / "lambda_probe.py"
INITIAL_PASSWORD = "Initial-pass-123"

#: A ``rotor serve`` of the test's own, retrying fast; no value leaked once it stopped.
server = test_cloud_handler.server


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with _http(server) as client:
        yield client


@pytest.fixture
def sm(server: RunningServer) -> Any:
    return sm_client(server, server.access_key_id, server.access_key_secret)


def _register(http: httpx.Client, handler: Path, secrets: list[str]) -> str:
    function = f"lambda-{uuid.uuid4().hex[:8]}"
    registered = _ok(
        http.put(
            f"/v1/functions/{function}",
            json={
                "kind": "lambda-handler",
                "handler": f"{handler}:lambda_handler",
                "secrets": secrets,
            },
        )
    )
    assert registered["kind"] == "lambda-handler"
    return function


def _configure(http: httpx.Client, name: str, function: str, **parameters: str) -> None:
    """Rotation of ``name`` by ``function``, its parameters delegating what it reads."""
    configured = _ok(
        http.put(
            f"/v1/secrets/{name}:rotation",
            json={"function": function, "parameters": parameters, "rotate_now": False},
        )
    )
    assert configured["started"] is None


def _finished(http: httpx.Client, name: str, token: str, timeout: float = 120) -> dict[str, Any]:
    """The rotation of ``name`` with version ``token``, once it ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = _ok(http.get(f"/v1/secrets/{name}:rotations"))["rotations"]
        mine = [r for r in listed if r["version_id"] == token]
        if mine and mine[0]["status"] != "running":
            return _ok(http.get(f"/v1/rotations/{mine[0]['id']}"))
        time.sleep(0.1)
    raise AssertionError(f"the rotation of {name} with {token} did not end in {timeout}s")


def _value(sm: Any, name: str, stage: str = "AWSCURRENT") -> dict[str, Any]:
    got = sm.get_secret_value(SecretId=name, VersionStage=stage)
    return {**json.loads(got["SecretString"]), "_version": got["VersionId"]}


def _mysql_secret(db: Database, user: str, password: str, **extra: str) -> str:
    return json.dumps(
        {
            "engine": "mysql",
            "host": db.server.host,
            "port": db.server.port,
            "username": user,
            "password": password,
            **extra,
        }
    )


class _Application(threading.Thread):
    """Logs in with the secret's AWSCURRENT, read through boto3, until stopped: every
    login and every failure is counted."""

    def __init__(self, server: RunningServer, db: Database, name: str) -> None:
        super().__init__(daemon=True)
        self.sm = sm_client(server, server.access_key_id, server.access_key_secret)
        self.db, self.name = db, name
        self.stop = threading.Event()
        self.logins = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            value = _value(self.sm, self.name)
            try:
                self.db.connect(value["username"], value["password"]).close()
                self.logins += 1
            except pymysql.err.OperationalError as exc:
                self.failures.append(f"{value['username']}: {exc}")
            self.stop.wait(0.02)


def test_the_multi_user_template_rotates_twice_through_rotate_secret(
    server: RunningServer,
    http: httpx.Client,
    sm: Any,
    mariadb_server: MariaDBServer,
    mariadb_database: str,
) -> None:
    db = Database(server=mariadb_server, parameters={})
    user = unique_name("app")
    db.create_account(user, INITIAL_PASSWORD)
    db.admin(f"GRANT SELECT, INSERT ON `{mariadb_database}`.* TO '{user}'@'%'")
    suffix = uuid.uuid4().hex[:8]
    master, name = f"lambda/master-{suffix}", f"lambda/app-{suffix}"
    master_arn = sm.create_secret(
        Name=master, SecretString=_mysql_secret(db, db.server.user, db.server.password)
    )["ARN"]
    # As AWS's templates name it: by ARN in the value's masterarn, which delegates it.
    sm.create_secret(
        Name=name, SecretString=_mysql_secret(db, user, INITIAL_PASSWORD, masterarn=master_arn)
    )
    function = _register(http, MULTIUSER, ["lambda/master-*"])
    _configure(http, name, function)

    application = _Application(server, db, name)
    application.start()
    try:
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        started = sm.rotate_secret(SecretId=name, ClientRequestToken=first)
        assert started["VersionId"] == first
        done = _finished(http, name, first)
        assert done["status"] == "succeeded", _messages(done)
        current, previous = _value(sm, name), _value(sm, name, "AWSPREVIOUS")
        assert current["_version"] == first
        assert (current["username"], previous["username"]) == (user + "_clone", user)
        # AWSPENDING is gone once the version is AWSCURRENT, as AWS leaves it.
        stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
        assert stages[first] == ["AWSCURRENT"]

        again = sm.rotate_secret(SecretId=name, ClientRequestToken=second)
        assert again["VersionId"] == second
        done = _finished(http, name, second)
        assert done["status"] == "succeeded", _messages(done)
        latest = _value(sm, name)
        assert (latest["_version"], latest["username"]) == (second, user)
        assert _value(sm, name, "AWSPREVIOUS")["_version"] == first
    finally:
        application.stop.set()
        application.join()
    assert application.failures == []
    assert application.logins > 0

    # Both users log in with what the secret says; the clone has the first user's grants.
    assert db.logs_in(user, latest["password"])
    assert db.logs_in(user + "_clone", current["password"])
    assert not db.logs_in(user, INITIAL_PASSWORD)
    assert db.grants(user + "_clone") == db.grants(user)
    history = "\n".join(_messages(done))
    assert "createSecret: stored version" in history
    assert f"testSecret: logged in as {user}@" in history
    assert latest["password"] not in history
    described = sm.describe_secret(SecretId=name)
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"].endswith(f":function:{function}")
    assert described["LastRotatedDate"] is not None


def test_a_rotation_in_progress_looks_as_in_aws_until_it_is_cancelled(
    http: httpx.Client, sm: Any, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    name = f"lambda/gate-{uuid.uuid4().hex[:8]}"
    created = sm.create_secret(
        Name=name, SecretString=json.dumps({"probe": "gate", "gate": str(gate)})
    )
    function = _register(http, PROBE, [])
    _configure(http, name, function)
    token = str(uuid.uuid4())
    try:
        sm.rotate_secret(SecretId=name, ClientRequestToken=token)
        deadline = time.monotonic() + 60
        while not Path(f"{gate}.started").exists():
            assert time.monotonic() < deadline, "the handler did not start"
            time.sleep(0.05)
        described = sm.describe_secret(SecretId=name)
        assert described["RotationEnabled"] is True
        assert described["VersionIdsToStages"] == {
            created["VersionId"]: ["AWSCURRENT"],
            token: ["AWSPENDING"],
        }
        for kwargs in ({}, {"VersionStage": "AWSPENDING"}):
            with pytest.raises(ClientError) as raised:
                sm.get_secret_value(SecretId=name, VersionId=token, **kwargs)
            assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"

        cancelled = sm.cancel_rotate_secret(SecretId=name)
        assert cancelled["VersionId"] == token
        described = sm.describe_secret(SecretId=name)
        assert described["RotationEnabled"] is False
        assert described["VersionIdsToStages"] == {created["VersionId"]: ["AWSCURRENT"]}
    finally:
        Path(f"{gate}.release").touch()
    assert _finished(http, name, token)["status"] == "cancelled"


def test_the_handlers_credentials_reach_only_its_delegation(http: httpx.Client, sm: Any) -> None:
    suffix = uuid.uuid4().hex[:8]
    victim, delegated, name = (f"lambda/{w}-{suffix}" for w in ("victim", "master", "probe"))
    sm.create_secret(Name=victim, SecretString="the victim's value")
    sm.create_secret(Name=delegated, SecretString="the delegated value")
    sm.create_secret(
        Name=name,
        SecretString=json.dumps({"probe": "reach", "victim": victim, "delegated": delegated}),
    )
    function = _register(http, PROBE, ["lambda/master-*"])
    _configure(http, name, function, MasterSecret=delegated)
    token = str(uuid.uuid4())
    sm.rotate_secret(SecretId=name, ClientRequestToken=token)
    done = _finished(http, name, token)
    history = "\n".join(_messages(done))
    for what in (
        "GetSecretValue victim",
        "DescribeSecret victim",
        "PutSecretValue victim",
        "PutSecretValue delegated",
        "CreateSecret",
    ):
        assert f"denied {what}: AccessDeniedException" in history, history
    assert "allowed GetSecretValue delegated" in history
    assert "allowed" not in history.replace("allowed GetSecretValue delegated", "")
    # The probe wrote nothing, so rotor does not claim a rotation happened.
    assert done["status"] == "failed"
    for secret, value in ((victim, "the victim's value"), (delegated, "the delegated value")):
        assert sm.get_secret_value(SecretId=secret)["SecretString"] == value
        assert len(sm.list_secret_version_ids(SecretId=secret)["Versions"]) == 1
    with pytest.raises(ClientError):
        sm.describe_secret(SecretId=victim + "-x")
