"""``rds-alternating`` in a real ``rotor serve``, killed with SIGKILL mid-rotation and resumed."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from rotor.rds_standin import server as rds_standin
from rotor.rds_standin.server import Fault
from tests.rotation.rds.conftest import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    AppAccount,
    can_log_in,
    privileges_of,
    rotation_parameters,
    sdk_client,
)
from tests.services.mariadb import MariaDBServer
from tests.services.server import RunningServer, start_server, stop_server

FAST = {
    "ROTOR_ROTATION_LEASE_SECONDS": "2",
    "ROTOR_ROTATION_RETRY_SECONDS": "0.1",
    "ROTOR_SCHEDULER_INTERVAL_SECONDS": "0.2",
}


def _admin(server: RunningServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}"},
        timeout=30,
    )


def _until(condition: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _finished(http: httpx.Client, rotation_id: str) -> dict[str, Any] | None:
    body: dict[str, Any] = http.get(f"/v1/rotations/{rotation_id}").json()
    return None if body["status"] == "running" else body


def test_rotor_serve_killed_mid_set_resumes_and_completes(
    tmp_path: Path,
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    app_account: AppAccount,
) -> None:
    name = f"db/{app_account.name}"
    first = start_server(tmp_path / "data", env=FAST)
    try:
        with _admin(first) as http:
            credentials = {"AccessKeyId": ACCESS_KEY_ID, "AccessKeySecret": ACCESS_KEY_SECRET}
            for secret, value in (
                ("cloud/rds-key", credentials),
                (
                    name,
                    {
                        "AccountName": app_account.name,
                        "AccountPassword": app_account.password,
                        "Endpoint": mariadb_server.host,
                        "Port": mariadb_server.port,
                    },
                ),
            ):
                created = http.post(
                    "/v1/secrets", json={"name": secret, "value": json.dumps(value)}
                )
                assert created.status_code in (200, 201), created.text
            # The grants hang: the server dies inside set, after CreateAccount.
            standin.calls.clear()
            standin.inject(Fault.SLOW, action="GrantAccountPrivilege", delay_seconds=5)
            response = http.put(
                f"/v1/secrets/{name}:rotation",
                json={"function": "rds-alternating", "parameters": rotation_parameters(standin)},
            )
            assert response.status_code == 200, response.text
            started = response.json()["started"]
        _until(
            lambda: [c for c in standin.calls_of("CreateAccount") if c.status == 200],
            "CreateAccount",
        )
    finally:
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
    assert first.process.returncode == -signal.SIGKILL

    second = start_server(tmp_path / "data", env=FAST)
    try:
        with _admin(second) as http:
            done = _until(lambda: _finished(http, started["id"]), "the resumed rotation")
            assert done["status"] == "succeeded", done
            value = http.get(f"/v1/secrets/{name}:value").json()
    finally:
        stop_server(second)
    assert value["version_id"] == started["version_id"]
    current = json.loads(value["value"])
    alternate = f"{app_account.name}_rt"
    assert current["AccountName"] == alternate
    assert can_log_in(mariadb_server, alternate, current["AccountPassword"])
    assert can_log_in(mariadb_server, app_account.name, app_account.password)
    client = sdk_client(standin)
    assert privileges_of(client, alternate) == privileges_of(client, app_account.name)
    # Created once, by the first server; the second one only reset the password.
    assert [c.status for c in standin.calls_of("CreateAccount")] == [200]
    assert len(standin.calls_of("ResetAccountPassword")) == 1
    events = [e["kind"] for e in done["events"]]
    assert events.count("step_succeeded") == 4
