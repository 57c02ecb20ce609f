"""Rotations run by a real ``rotor serve``: custom functions, kill -9 and resume, schedules."""

from __future__ import annotations

import json
import signal
import sqlite3
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

import rotor.client
from tests.services.server import RunningServer, start_server, stop_server

FAST = {
    "ROTOR_ROTATION_LEASE_SECONDS": "2",
    "ROTOR_ROTATION_RETRY_SECONDS": "0.1",
    "ROTOR_SCHEDULER_INTERVAL_SECONDS": "0.2",
    "ROTOR_ROTATION_MIN_INTERVAL_SECONDS": "1",
}

# A handler written the way cloud rotation functions are: it keeps a fake "target
# system" in a file, and can kill the rotor server (its parent) once at a chosen step.
HANDLER = textwrap.dedent(
    """
    import json, os, secrets, signal
    from pathlib import Path

    from rotor import errors
    from rotor.client import Client


    def handler(event, context):
        evt = json.loads(event)
        name, step = evt["SecretName"], evt["Step"]
        version = evt.get("VersionId") or context.requestId
        state = Path(evt["StateDir"])
        with (state / "calls.log").open("a") as log:
            log.write(f"{step} {version}\\n")
        marker = state / f"killed-at-{step}"
        if evt.get("KillAt") == step and not marker.exists():
            marker.write_text("killed")
            os.kill(os.getppid(), signal.SIGKILL)
            os._exit(1)
        client = Client()
        if step == "new":
            try:
                client.get_value(name, version_id=version)
            except errors.NotFound:
                client.put_value(name, "pw-" + secrets.token_hex(8), version_id=version,
                                 stages=["Pending"])
        elif step == "set":
            pending = client.get_value(name, version_id=version).value
            (state / "target.txt").write_text(pending)
        elif step == "test":
            pending = client.get_value(name, version_id=version).value
            if (state / "target.txt").read_text() != pending:
                raise ValueError("the target does not accept the pending password")
        elif step == "end":
            stages = client.describe_secret(name).stages
            if stages.get("Current") != version:
                client.update_stage(name, "Current", move_to_version=version)
            if stages.get("Pending") == version:
                client.update_stage(name, "Pending", remove_from_version=version)
        return {"VersionId": version}
    """
)


def _admin(server: RunningServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}"},
        timeout=30,
    )


def _wait_rotation(http: httpx.Client, rotation_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = http.get(f"/v1/rotations/{rotation_id}").json()
        if body["status"] != "running":
            return body
        time.sleep(0.1)
    raise AssertionError(f"rotation {rotation_id} still running after {timeout}s")


def _history(http: httpx.Client, name: str) -> list[dict[str, Any]]:
    rotations: list[dict[str, Any]] = http.get(f"/v1/secrets/{name}:rotations").json()["rotations"]
    return rotations


@pytest.fixture
def handler_dir(tmp_path: Path) -> Path:
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "target_handler.py").write_text(HANDLER)
    (tmp_path / "state").mkdir()
    return tmp_path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "data", env=FAST)
    yield running
    stop_server(running)


def register(http: httpx.Client, function: str, **definition: Any) -> None:
    """Register a custom function as an administrator does (python-handler by default)."""
    body = {"kind": "python-handler", **definition}
    response = http.put(f"/v1/functions/{function}", json=body)
    assert response.status_code in (200, 201), response.text


def _configure_handler(http: httpx.Client, name: str, base: Path, **extra: Any) -> dict[str, Any]:
    register(http, "target-handler", handler=f"{base / 'handlers' / 'target_handler.py'}:handler")
    response = http.put(
        f"/v1/secrets/{name}:rotation",
        json={
            "function": "target-handler",
            "parameters": {"StateDir": str(base / "state"), **extra},
        },
    )
    assert response.status_code == 200, response.text
    started: dict[str, Any] = response.json()["started"]
    return started


def test_python_handler_runs_all_four_steps(server: RunningServer, handler_dir: Path) -> None:
    with _admin(server) as http:
        http.post("/v1/secrets", json={"name": "svc/api-key", "value": "initial"})
        started = _configure_handler(http, "svc/api-key", handler_dir)
        done = _wait_rotation(http, started["id"])
        assert done["status"] == "succeeded", done
        value = http.get("/v1/secrets/svc/api-key:value").json()
        assert value["version_id"] == started["version_id"]
        assert value["stages"] == ["Current"]
        assert (handler_dir / "state" / "target.txt").read_text() == value["value"]
        calls = (handler_dir / "state" / "calls.log").read_text().split()
        assert calls[0::2] == ["new", "set", "test", "end"]
        assert set(calls[1::2]) == {started["version_id"]}
        described = http.get("/v1/secrets/svc/api-key").json()["stages"]
        assert set(described) == {"Current", "Previous"}
    # The short-lived keys minted for each call are gone: only the admin key is left.
    with sqlite3.connect(server.data_dir / "rotor.db") as db:
        assert db.execute("SELECT count(*) FROM access_keys").fetchone() == (1,)


@pytest.mark.parametrize("kill_at", ["new", "set", "test", "end"])
def test_kill_9_at_each_step_resumes_with_the_same_version(
    tmp_path: Path, handler_dir: Path, kill_at: str
) -> None:
    first = start_server(tmp_path / "data", env=FAST)
    with _admin(first) as http:
        http.post("/v1/secrets", json={"name": "svc/db", "value": "initial"})
        started = _configure_handler(http, "svc/db", handler_dir, KillAt=kill_at)
    assert first.process.wait(timeout=60) == -signal.SIGKILL
    assert (handler_dir / "state" / f"killed-at-{kill_at}").exists()
    second = start_server(tmp_path / "data", env=FAST)
    try:
        with _admin(second) as http:
            done = _wait_rotation(http, started["id"])
            assert done["status"] == "succeeded", done
            value = http.get("/v1/secrets/svc/db:value").json()
            assert value["version_id"] == started["version_id"]
            assert (handler_dir / "state" / "target.txt").read_text() == value["value"]
            assert len(_history(http, "svc/db")) == 1
            # The second server says it took over, naming itself and the dead one.
            (resumed,) = [e for e in done["events"] if e["kind"] == "resumed"]
            assert resumed["message"].startswith(f"resumed by node {resumed['node']} ")
            assert f":{first.process.pid} had stopped running it" in resumed["message"]
            assert resumed["node"].endswith(f":{second.process.pid}")
        log = second.log_path.read_text()
        warning = f"WARNING [{resumed['node']}] rotor.rotation.engine: rotation {started['id']}"
        assert log.count(warning) == 1
    finally:
        stop_server(second)
    calls = (handler_dir / "state" / "calls.log").read_text().split()
    steps, versions = calls[0::2], calls[1::2]
    expected = ["new", "set", "test", "end"]
    position = expected.index(kill_at)
    # Steps before the kill ran once, the killed one twice, the rest once.
    assert steps == expected[: position + 1] + expected[position:]
    assert set(versions) == {started["version_id"]}


def test_failing_handler_retries_then_fails_leaving_current(
    server: RunningServer, handler_dir: Path
) -> None:
    broken = handler_dir / "handlers" / "broken.py"
    broken.write_text(
        "import json\n"
        "from rotor.client import Client\n"
        "def handler(event, context):\n"
        "    evt = json.loads(event)\n"
        "    if evt['Step'] == 'new':\n"
        "        Client().put_value(evt['SecretName'], 'next', version_id=evt['VersionId'],\n"
        "                           stages=['Pending'])\n"
        "    if evt['Step'] == 'set':\n"
        "        raise ConnectionError('target database unreachable')\n"
        "    return {'VersionId': context.requestId}\n"
    )
    with _admin(server) as http:
        http.post("/v1/secrets", json={"name": "svc/broken", "value": "keep-me"})
        register(http, "broken", handler=f"{broken}:handler")
        response = http.put("/v1/secrets/svc/broken:rotation", json={"function": "broken"})
        done = _wait_rotation(http, response.json()["started"]["id"])
        assert done["status"] == "failed"
        assert "RotateSecretSet (set) failed" in done["error"]
        assert "target database unreachable" in done["error"]
        assert done["steps"][1]["attempts"] == 3
        kinds = [e["kind"] for e in done["events"]]
        assert kinds.count("step_failed") == 3
        assert kinds[-1] == "failed"
        assert http.get("/v1/secrets/svc/broken:value").json()["value"] == "keep-me"
        # Pending is gone, so the next rotation starts clean.
        assert "Pending" not in http.get("/v1/secrets/svc/broken").json()["stages"]


class _Endpoint(BaseHTTPRequestHandler):
    """An HTTP rotation function: it calls rotor back with the credentials it is given."""

    target: dict[str, str] = {}
    seen: list[str] = []

    def do_POST(self) -> None:
        if self.headers["Authorization"] != "Bearer hook-token":
            self.send_response(403)
            self.end_headers()
            return
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name, step, version = event["SecretName"], event["Step"], event["VersionId"]
        self.seen.append(step)
        with rotor.client.Client(
            self.headers["X-Rotor-Url"],
            access_key_id=self.headers["X-Rotor-Access-Key-Id"],
            access_key_secret=self.headers["X-Rotor-Access-Key-Secret"],
            security_token=self.headers.get("X-Rotor-Security-Token"),
        ) as client:
            if step == "new":
                client.put_value(
                    name, f"http-{version[:8]}", version_id=version, stages=["Pending"]
                )
            elif step == "set":
                self.target[name] = str(client.get_value(name, version_id=version).value)
            elif step == "test":
                assert self.target[name] == client.get_value(name, version_id=version).value
            elif step == "end":
                client.update_stage(name, "Current", move_to_version=version)
                client.update_stage(name, "Pending", remove_from_version=version)
        body = json.dumps({"VersionId": version}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_http_function_runs_all_four_steps(server: RunningServer) -> None:
    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=endpoint.serve_forever, daemon=True)
    thread.start()
    try:
        with _admin(server) as http:
            hook = {"Headers": {"Authorization": "Bearer hook-token"}}
            http.post("/v1/secrets", json={"name": "hooks/rotator", "value": json.dumps(hook)})
            http.post("/v1/secrets", json={"name": "svc/http", "value": "initial"})
            register(
                http,
                "http-rotator",
                kind="http-function",
                url=f"http://127.0.0.1:{endpoint.server_address[1]}/rotate",
                headers_secret="hooks/rotator",
            )
            response = http.put("/v1/secrets/svc/http:rotation", json={"function": "http-rotator"})
            done = _wait_rotation(http, response.json()["started"]["id"])
            assert done["status"] == "succeeded", done
            value = http.get("/v1/secrets/svc/http:value").json()
            assert value["value"] == f"http-{done['version_id'][:8]}"
            assert _Endpoint.target["svc/http"] == value["value"]
            assert _Endpoint.seen[-4:] == ["new", "set", "test", "end"]
    finally:
        endpoint.shutdown()
        endpoint.server_close()
        thread.join()


REFERENCE_FLOW = textwrap.dedent(
    """
    version: v1
    type: flow
    steps:
      - type: task
        name: RotateSecretNew
        resourceArn: 已创建的函数arn
        inputMappings:
          - target: SecretName
            source: $input.payload.SecretName
          - target: StateDir
            source: $input.payload.StateDir
          - target: Step
            source: new
      - type: task
        name: RotateSecretSet
        resourceArn: 已创建的函数arn
        inputMappings:
          - target: SecretName
            source: $input.payload.SecretName
          - target: StateDir
            source: $input.payload.StateDir
          - target: Step
            source: set
          - target: VersionId
            source: $local.VersionId
      - type: task
        name: RotateSecretEnd
        resourceArn: 已创建的函数arn
        inputMappings:
          - target: SecretName
            source: $input.payload.SecretName
          - target: StateDir
            source: $input.payload.StateDir
          - target: Step
            source: end
          - target: VersionId
            source: $local.VersionId
    """
)


def test_a_reference_shaped_flow_runs_its_tasks(server: RunningServer, handler_dir: Path) -> None:
    with _admin(server) as http:
        http.post("/v1/secrets", json={"name": "svc/flow", "value": "initial"})
        register(
            http,
            "flow-handler",
            handler=f"{handler_dir / 'handlers' / 'target_handler.py'}:handler",
        )
        response = http.put(
            "/v1/secrets/svc/flow:rotation",
            json={
                "function": "flow-handler",
                "parameters": {"StateDir": str(handler_dir / "state")},
                "flow": REFERENCE_FLOW,
            },
        )
        assert response.status_code == 200, response.text
        done = _wait_rotation(http, response.json()["started"]["id"])
        assert done["status"] == "succeeded", done
        assert [s["name"] for s in done["steps"]] == [
            "RotateSecretNew",
            "RotateSecretSet",
            "RotateSecretEnd",
        ]
        calls = (handler_dir / "state" / "calls.log").read_text().split()
        assert calls[0::2] == ["new", "set", "end"]
        # new got no VersionId and used context.requestId: the same version throughout.
        assert set(calls[1::2]) == {done["version_id"]}


def test_malformed_flow_is_refused_naming_the_step(server: RunningServer) -> None:
    bad = REFERENCE_FLOW.replace("    resourceArn: 已创建的函数arn\n", "", 1)
    bad = bad.replace("name: RotateSecretNew\n", "name: RotateSecretNew\n    resourceArn: x\n")
    bad = bad.replace(
        "name: RotateSecretSet\n    resourceArn: 已创建的函数arn\n", "name: RotateSecretSet\n"
    )
    with _admin(server) as http:
        http.post("/v1/secrets", json={"name": "svc/badflow", "value": "v"})
        response = http.put(
            "/v1/secrets/svc/badflow:rotation",
            json={"function": "generated-password", "flow": bad},
        )
        assert response.status_code == 400
        assert response.json()["code"] == "InvalidParameter"
        assert "RotateSecretSet" in response.json()["message"]
        assert http.get("/v1/secrets/svc/badflow:rotation").status_code == 404
        assert _history(http, "svc/badflow") == []


def _succeeded(http: httpx.Client, name: str) -> list[dict[str, Any]]:
    return [r for r in _history(http, name) if r["status"] == "succeeded"]


def test_interval_schedule_fires_repeatedly(server: RunningServer) -> None:
    with _admin(server) as http:
        http.post("/v1/secrets", json={"name": "sched/interval", "value": "v0"})
        response = http.put(
            "/v1/secrets/sched/interval:rotation",
            json={"function": "generated-password", "every": "2s", "rotate_now": False},
        )
        assert response.status_code == 200, response.text
        assert response.json()["rotation"]["next_rotation_at"] is not None
        deadline = time.monotonic() + 15
        while len(_succeeded(http, "sched/interval")) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        done = _succeeded(http, "sched/interval")
        assert len(done) >= 2
        assert {r["started_by"] for r in done} == {"scheduler"}
        shown = http.get("/v1/secrets/sched/interval:rotation").json()
        assert shown["last_rotated_at"] is not None


def test_cron_schedule_fires(server: RunningServer) -> None:
    with _admin(server) as http:
        http.post("/v1/secrets", json={"name": "sched/cron", "value": "v0"})
        response = http.put(
            "/v1/secrets/sched/cron:rotation",
            json={"function": "generated-password", "cron": "* * * * * */2", "rotate_now": False},
        )
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 15
        while not _succeeded(http, "sched/cron") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _succeeded(http, "sched/cron")


def test_due_time_missed_while_down_rotates_once_after_restart(tmp_path: Path) -> None:
    first = start_server(tmp_path / "data", env=FAST)
    with _admin(first) as http:
        http.post("/v1/secrets", json={"name": "sched/restart", "value": "v0"})
        response = http.put(
            "/v1/secrets/sched/restart:rotation",
            json={"function": "generated-password", "every": "5s"},
        )
        assert _wait_rotation(http, response.json()["started"]["id"])["status"] == "succeeded"
    stop_server(first)
    time.sleep(7)  # the next due time passes while no server runs
    second = start_server(tmp_path / "data", env=FAST)
    try:
        with _admin(second) as http:
            deadline = time.monotonic() + 10
            while len(_succeeded(http, "sched/restart")) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(_succeeded(http, "sched/restart")) == 2
            time.sleep(2)  # well before the next due time (5 s after that rotation)
            history = _history(http, "sched/restart")
            assert len(history) == 2
            assert history[0]["started_by"] == "scheduler"
    finally:
        stop_server(second)


def test_function_credentials_reach_only_the_rotated_secret(
    server: RunningServer, handler_dir: Path
) -> None:
    probe = handler_dir / "handlers" / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            import json
            from pathlib import Path
            from rotor import errors
            from rotor.client import Client

            def handler(event, context):
                evt = json.loads(event)
                client = Client()
                if evt["Step"] == "new":
                    try:
                        client.get_value("unrelated/secret")
                        outcome = "read it"
                    except errors.AccessDenied:
                        outcome = "denied"
                    Path(evt["StateDir"], "probe.txt").write_text(outcome)
                    client.put_value(evt["SecretName"], "next-value", version_id=evt["VersionId"],
                                     stages=["Pending"])
                if evt["Step"] == "end":
                    client.update_stage(evt["SecretName"], "Current",
                                        move_to_version=evt["VersionId"])
                return {"VersionId": evt["VersionId"]}
            """
        )
    )
    with _admin(server) as http:
        http.post("/v1/secrets", json={"name": "unrelated/secret", "value": "not-for-you-123"})
        http.post("/v1/secrets", json={"name": "svc/probe", "value": "initial"})
        register(http, "probe", handler=f"{probe}:handler")
        response = http.put(
            "/v1/secrets/svc/probe:rotation",
            json={"function": "probe", "parameters": {"StateDir": str(handler_dir / "state")}},
        )
        done = _wait_rotation(http, response.json()["started"]["id"])
        assert done["status"] == "succeeded", done
    assert (handler_dir / "state" / "probe.txt").read_text() == "denied"
