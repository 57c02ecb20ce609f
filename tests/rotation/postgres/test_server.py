"""The PostgreSQL functions run by a real ``rotor serve``, killed with SIGKILL at a step,
then resumed by a second server on the same data dir.

Two ways to stop a rotation at a known point, neither racing a timeout:

- between steps, a task of the flow (a Python handler) that kills the server the first
  time it runs (as tests/rotation/mysql/test_server.py does after set);
- inside set, a statement blocked on a row lock the test holds: the server is killed
  while the rotation's connection waits on it (seen in ``pg_stat_activity``), then the
  lock is released. PostgreSQL finishes what it had been sent: an alternating set's
  transaction is rolled back (its client is gone before COMMIT), a single-user set's
  one ``ALTER ROLE … PASSWORD`` commits though the server never recorded it.

Either way the second server resumes the rotation (one ``resumed`` event), it succeeds
with the version the first one started, and the role's password was set exactly once:
one ``ALTER ROLE … PASSWORD`` in the server log (``log_statement = all``), and the
SCRAM verifier (a fresh salt each time) the same as right after the kill when set had
run by then.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.nodes.conftest import wait_until
from tests.rotation.mysql.test_server import CRASH_HANDLER, FAST
from tests.rotation.postgres.support import Database, unique_name
from tests.services.server import RunningServer, start_server, stop_server

ALTERNATING = "postgres-alternating"
SINGLE = "postgres-single-user"
MASTER = "db/master"
APP = "db/app"
PASSWORD = "Initial-pass-123"


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


def crash_flow(function: str, after: str) -> str:
    """The function's four steps, with a task killing the server after step ``after``."""
    tasks = []
    for step in ("new", "set", "test", "end"):
        tasks.append(_task(step.capitalize(), function, step))
        if step == after:
            # Labelled with the step that follows (the flow needs new first, end last).
            label = {"new": "set", "set": "test", "test": "test"}[step]
            tasks.append(
                _task(f"Crash{step.capitalize()}", "crash", label, "Marker: $input.payload.Marker")
            )
    return "version: v1\ntype: flow\nsteps:\n" + "\n".join(tasks)


def _http(server: RunningServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}"},
        timeout=30,
    )


def _finished(http: httpx.Client, rotation_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = http.get(f"/v1/rotations/{rotation_id}").json()
        return body if body["status"] != "running" else None

    return wait_until(done, f"rotation {rotation_id} to finish", timeout=60)


def _password_statements(pg: Database, role: str) -> int:
    return pg.log_path.read_text(errors="replace").count(f'ALTER ROLE "{role}" PASSWORD ')


def _verifier(pg: Database, role: str) -> str | None:
    rows = pg.admin("SELECT rolpassword FROM pg_authid WHERE rolname = %s", args=(role,))
    return str(rows[0][0]) if rows else None


def _start_rotation(
    server: RunningServer,
    pg: Database,
    function: str,
    account: str,
    *,
    flow: str | None = None,
    marker: Path | None = None,
    handler: Path | None = None,
) -> dict[str, Any]:
    """The secrets, the crash function (for a flow), and a rotation started now."""
    with _http(server) as http:
        master = pg.secret(pg.server.user, pg.server.password)
        app = pg.secret(account, PASSWORD, master=MASTER if function == ALTERNATING else None)
        for name, value in ((MASTER, master), (APP, app)):
            created = http.post("/v1/secrets", json={"name": name, "value": value})
            assert created.status_code in (200, 201), created.text
        body: dict[str, Any] = {"function": function}
        if flow is not None:
            # Every function of the flow is given the master, so it is registered for it.
            registered = http.put(
                "/v1/functions/crash",
                json={
                    "kind": "python-handler",
                    "handler": f"{handler}:handler",
                    "secrets": [MASTER],
                },
            )
            assert registered.status_code == 201, registered.text
            body |= {"flow": flow, "parameters": {"Marker": str(marker)}}
        response = http.put(f"/v1/secrets/{APP}:rotation", json=body)
        assert response.status_code == 200, response.text
        started: dict[str, Any] = response.json()["started"]
        return started


def _resume(
    data_dir: Path, rotation_id: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A second server on ``data_dir``: the finished rotation, Current and Previous values."""
    server = start_server(data_dir, env=FAST)
    try:
        with _http(server) as http:
            done = _finished(http, rotation_id)
            current = http.get(f"/v1/secrets/{APP}:value").json()
            previous = http.get(f"/v1/secrets/{APP}:value", params={"stage": "Previous"}).json()
    finally:
        stop_server(server)
    return done, current, previous


def _resumed_once(done: dict[str, Any]) -> None:
    assert done["status"] == "succeeded", done
    kinds = [event["kind"] for event in done["events"]]
    assert kinds.count("resumed") == 1, kinds


@pytest.mark.parametrize("after", ["new", "set", "test"])
def test_alternating_killed_after_a_step_resumes_with_one_password_change(
    tmp_path: Path, logged_pg: Database, after: str
) -> None:
    pg = logged_pg
    account = unique_name("app")
    other = account + "_rt"
    pg.create_role(account, PASSWORD)
    handler = tmp_path / "crash.py"
    handler.write_text(CRASH_HANDLER)
    marker = tmp_path / "crashed"

    first = start_server(tmp_path / "data", env=FAST)
    try:
        started = _start_rotation(
            first,
            pg,
            ALTERNATING,
            account,
            flow=crash_flow(ALTERNATING, after),
            marker=marker,
            handler=handler,
        )
        assert first.process.wait(timeout=60) == -signal.SIGKILL
    finally:
        stop_server(first)
    assert marker.read_text() == started["version_id"]
    # Set had run by the kill, or had not.
    at_kill = _verifier(pg, other)
    assert (at_kill is not None) == (after != "new")

    done, current, previous = _resume(tmp_path / "data", started["id"])
    _resumed_once(done)
    attempts = {step["name"]: step["attempts"] for step in done["steps"]}
    assert attempts[f"Crash{after.capitalize()}"] == 2
    assert {name: n for name, n in attempts.items() if not name.startswith("Crash")} == {
        "New": 1,
        "Set": 1,
        "Test": 1,
        "End": 1,
    }
    assert current["version_id"] == started["version_id"]
    value = json.loads(current["value"])
    assert value["AccountName"] == other
    assert pg.logs_in(other, value["AccountPassword"])
    assert pg.logs_in(account, json.loads(previous["value"])["AccountPassword"])
    if at_kill is not None:
        assert _verifier(pg, other) == at_kill
    wait_until(lambda: _password_statements(pg, other) >= 1, "the password statement logged")
    assert _password_statements(pg, other) == 1


@contextlib.contextmanager
def _role_row_locked(pg: Database, role: str) -> Iterator[psycopg.Connection[Any]]:
    """A transaction holding ``role``'s pg_authid row (or, for a role that does not exist
    yet, its name), rolled back on leaving: another ALTER ROLE or CREATE ROLE of it waits."""
    with pg.server.connect(pg.name, autocommit=False) as conn:
        if pg.role_exists(role):
            conn.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT -1')
        else:
            conn.execute(f'CREATE ROLE "{role}"')
        try:
            yield conn
        finally:
            conn.rollback()


def _rotation_waits_on_a_lock(pg: Database, statement: str) -> bool:
    rows = pg.admin(
        "SELECT query FROM pg_stat_activity WHERE application_name = 'rotor-rotation' "
        "AND wait_event_type = 'Lock'"
    )
    return any(str(query).startswith(statement) for (query,) in rows)


def _rotation_connections(pg: Database) -> int:
    rows = pg.admin(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rotor-rotation'"
    )
    return int(rows[0][0])


def test_alternating_killed_inside_set_is_rolled_back_and_set_again_once(
    tmp_path: Path, logged_pg: Database
) -> None:
    pg = logged_pg
    account = unique_name("app")
    other = account + "_rt"
    pg.create_role(account, PASSWORD)
    first = start_server(tmp_path / "data", env=FAST)
    try:
        with _role_row_locked(pg, other):
            started = _start_rotation(first, pg, ALTERNATING, account)
            wait_until(
                lambda: _rotation_waits_on_a_lock(pg, f'CREATE ROLE "{other}"'),
                "set's CREATE ROLE to wait on the lock",
            )
            os.kill(first.process.pid, signal.SIGKILL)
            assert first.process.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop_server(first)
    # The killed set's backend goes once it sees its client gone; nothing it did stays.
    wait_until(lambda: _rotation_connections(pg) == 0, "the killed set's connection to end")
    assert not pg.role_exists(other)

    done, current, previous = _resume(tmp_path / "data", started["id"])
    _resumed_once(done)
    assert current["version_id"] == started["version_id"]
    value = json.loads(current["value"])
    assert value["AccountName"] == other
    assert pg.logs_in(other, value["AccountPassword"])
    assert pg.logs_in(account, json.loads(previous["value"])["AccountPassword"])
    wait_until(lambda: _password_statements(pg, other) >= 1, "the password statement logged")
    assert _password_statements(pg, other) == 1


def test_single_user_killed_inside_set_after_the_change_resumes_without_a_second(
    tmp_path: Path, logged_pg: Database
) -> None:
    pg = logged_pg
    account = unique_name("app")
    pg.create_role(account, PASSWORD)
    before = _verifier(pg, account)
    first = start_server(tmp_path / "data", env=FAST)
    try:
        with _role_row_locked(pg, account):
            started = _start_rotation(first, pg, SINGLE, account)
            wait_until(
                lambda: _rotation_waits_on_a_lock(pg, f'ALTER ROLE "{account}" PASSWORD'),
                "set's ALTER ROLE to wait on the lock",
            )
            os.kill(first.process.pid, signal.SIGKILL)
            assert first.process.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop_server(first)
    # The statement had been sent whole: it runs and commits once the lock is released,
    # though the server that sent it never learnt so.
    changed = wait_until(
        lambda: (v := _verifier(pg, account)) != before and v, "the password change to commit"
    )
    assert not pg.logs_in(account, PASSWORD)

    done, current, _ = _resume(tmp_path / "data", started["id"])
    _resumed_once(done)
    assert current["version_id"] == started["version_id"]
    value = json.loads(current["value"])
    assert pg.logs_in(account, value["AccountPassword"])
    assert not pg.logs_in(account, PASSWORD)
    assert _verifier(pg, account) == changed
    assert _password_statements(pg, account) == 1
    history = [event["message"] or "" for event in done["events"]]
    assert any("already logs in with the new password" in line for line in history), history
