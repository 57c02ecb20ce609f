"""SIGTERM while a rotation step is blocked in the database: the server stops within its
grace period, abandoning the blocked statement, and the next start resumes the rotation."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx

from tests.rotation.mysql.support import Database, unique_name
from tests.services.server import RunningServer, start_server, stop_server

FAST = {
    "ROTOR_ROTATION_LEASE_SECONDS": "1",
    "ROTOR_ROTATION_RETRY_SECONDS": "0.1",
    "ROTOR_SCHEDULER_INTERVAL_SECONDS": "0.1",
    "ROTOR_SHUTDOWN_GRACE_SECONDS": "1",
}
DEADLINE = 60.0


def _http(server: RunningServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}"},
        timeout=30,
    )


def _blocked(db: Database) -> bool:
    rows = db.admin(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE STATE LIKE 'Waiting for%%lock%%' AND INFO LIKE 'CREATE USER%%'"
    )
    return bool(rows[0][0])


def test_sigterm_during_a_blocked_step_stops_and_the_rotation_resumes(
    tmp_path: Path, plain_db: Database, mariadb_database: str
) -> None:
    account = unique_name("app")
    plain_db.create_account(account, "Initial-pass-123")
    plain_db.admin(f"GRANT SELECT ON `{mariadb_database}`.* TO '{account}'@'%'")
    master = plain_db.secret(plain_db.server.user, plain_db.server.password)
    app = plain_db.secret(account, "Initial-pass-123", master="db/master")
    lock = plain_db.connect(plain_db.server.user, plain_db.server.password)
    first = start_server(tmp_path / "data", env=FAST)
    try:
        with _http(first) as http:
            for name, value in (("db/master", master), ("db/app", app)):
                assert http.post("/v1/secrets", json={"name": name, "value": value}).is_success
            with lock.cursor() as cur:
                cur.execute("FLUSH TABLES WITH READ LOCK")  # set's CREATE USER will wait
            response = http.put(
                "/v1/secrets/db/app:rotation", json={"function": "mysql-alternating"}
            )
            assert response.status_code == 200, response.text
            started = response.json()["started"]
        deadline = time.monotonic() + DEADLINE
        while not _blocked(plain_db):
            assert time.monotonic() < deadline, "the set step never reached the database"
            time.sleep(0.05)
        first.process.send_signal(signal.SIGTERM)
        # It exits while the lock is still held: the blocked statement is abandoned.
        assert first.process.wait(timeout=DEADLINE) == 0
        # (The server only notices the client is gone when the statement can go on: set
        # is idempotent, so the resumed rotation copes with it having completed.)
        log = first.log_path.read_text()
        assert "abandoning 1 running rotation(s)" in log
    finally:
        with lock.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        lock.close()
        stop_server(first)

    second = start_server(tmp_path / "data", env=FAST)
    try:
        with _http(second) as http:
            deadline = time.monotonic() + DEADLINE
            while (done := http.get(f"/v1/rotations/{started['id']}").json())[
                "status"
            ] == "running":
                assert time.monotonic() < deadline, done
                time.sleep(0.1)
            assert done["status"] == "succeeded", done
            assert [e["kind"] for e in done["events"]].count("resumed") == 1
            current = json.loads(http.get("/v1/secrets/db/app:value").json()["value"])
    finally:
        stop_server(second)
    assert current["AccountName"] == account + "_rt"
    assert plain_db.logs_in(current["AccountName"], current["AccountPassword"])
