"""``mysql-alternating`` run by a real ``rotor serve``, killed with SIGKILL right after set."""

from __future__ import annotations

import json
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from tests.rotation.mysql.support import Database, unique_name
from tests.services.server import RunningServer, start_server, stop_server

FAST = {
    "ROTOR_ROTATION_LEASE_SECONDS": "1",
    "ROTOR_ROTATION_RETRY_SECONDS": "0.1",
    "ROTOR_SCHEDULER_INTERVAL_SECONDS": "0.1",
}

# Kills the rotor server (its parent) the first time it runs, then does nothing.
CRASH_HANDLER = textwrap.dedent(
    """
    import json, os, signal
    from pathlib import Path

    def handler(event, context):
        evt = json.loads(event)
        marker = Path(evt["Marker"])
        if not marker.exists():
            marker.write_text(evt["VersionId"])
            os.kill(os.getppid(), signal.SIGKILL)
            os._exit(1)
        return {"VersionId": evt["VersionId"]}
    """
)


def _task(name: str, function: str, step: str, *extra: str) -> str:
    mappings = ["SecretName: $input.payload.SecretName", f"Step: {step}"]
    if step != "new":
        mappings.append("VersionId: $local.VersionId")
    mappings += list(extra)
    lines = [f"  - type: task\n    name: {name}\n    resourceArn: {function}\n    inputMappings:"]
    for mapping in mappings:
        target, source = mapping.split(": ", 1)
        lines.append(f"      - target: {target}\n        source: {source}")
    return "\n".join(lines)


FLOW = "version: v1\ntype: flow\nsteps:\n" + "\n".join(
    [
        _task("New", "mysql-alternating", "new"),
        _task("Set", "mysql-alternating", "set"),
        _task("CrashAfterSet", "crash-after-set", "test", "Marker: $input.payload.Marker"),
        _task("Test", "mysql-alternating", "test"),
        _task("End", "mysql-alternating", "end"),
    ]
)


def _http(server: RunningServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}"},
        timeout=30,
    )


def _wait(http: httpx.Client, rotation_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = http.get(f"/v1/rotations/{rotation_id}").json()
        if body["status"] != "running":
            return body
        time.sleep(0.05)
    raise AssertionError(f"rotation {rotation_id} still running after {timeout}s")


def test_a_server_killed_after_set_resumes_and_completes(
    tmp_path: Path, plain_db: Database, mariadb_database: str
) -> None:
    account = unique_name("app")
    plain_db.create_account(account, "Initial-pass-123")
    plain_db.admin(f"GRANT SELECT, INSERT ON `{mariadb_database}`.* TO '{account}'@'%'")
    handler = tmp_path / "crash.py"
    handler.write_text(CRASH_HANDLER)
    marker = tmp_path / "crashed"

    first = start_server(tmp_path / "data", env=FAST)
    try:
        with _http(first) as http:
            master = plain_db.secret(plain_db.server.user, plain_db.server.password)
            app = plain_db.secret(account, "Initial-pass-123", master="db/master")
            for name, value in (("db/master", master), ("db/app", app)):
                created = http.post("/v1/secrets", json={"name": name, "value": value})
                assert created.status_code in (200, 201), created.text
            # The crashing task's handler, registered by the admin; every function of the
            # flow is given the master, so it must be registered for it.
            registered = http.put(
                "/v1/functions/crash-after-set",
                json={
                    "kind": "python-handler",
                    "handler": f"{handler}:handler",
                    "secrets": ["db/master"],
                },
            )
            assert registered.status_code == 201, registered.text
            response = http.put(
                "/v1/secrets/db/app:rotation",
                json={
                    "function": "mysql-alternating",
                    "parameters": {"Marker": str(marker)},
                    "flow": FLOW,
                },
            )
            assert response.status_code == 200, response.text
            started = response.json()["started"]
        assert first.process.wait(timeout=60) == -signal.SIGKILL
    finally:
        stop_server(first)
    assert marker.read_text() == started["version_id"]
    # set completed before the crash: the other account exists with the new password.
    assert plain_db.hosts(account + "_rt") == ["%"]

    second = start_server(tmp_path / "data", env=FAST)
    try:
        with _http(second) as http:
            done = _wait(http, started["id"])
            assert done["status"] == "succeeded", done
            attempts = {step["name"]: step["attempts"] for step in done["steps"]}
            assert attempts == {"New": 1, "Set": 1, "CrashAfterSet": 2, "Test": 1, "End": 1}
            current = http.get("/v1/secrets/db/app:value").json()
            previous = http.get("/v1/secrets/db/app:value", params={"stage": "Previous"}).json()
    finally:
        stop_server(second)
    assert current["version_id"] == started["version_id"]
    value = json.loads(current["value"])
    assert value["AccountName"] == account + "_rt"
    assert plain_db.logs_in(value["AccountName"], value["AccountPassword"])
    assert plain_db.logs_in(account, json.loads(previous["value"])["AccountPassword"])
    assert plain_db.grants(account + "_rt") == plain_db.grants(account)
