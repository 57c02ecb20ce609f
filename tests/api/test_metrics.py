"""``GET /metrics``: Prometheus's text format, behind its own permission, counting requests
and rotations (summed over a node's worker processes) and what the store says at scrape
time; never a secret value."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import rotor
from tests.nodes.conftest import wait_until
from tests.rotation.mysql.support import Database, unique_name
from tests.services.mariadb import MariaDBServer
from tests.services.server import RunningServer, start_server, stop_server

FAST = {"ROTOR_ROTATION_RETRY_SECONDS": "0.1", "ROTOR_HEARTBEAT_SECONDS": "0.2"}


def admin(server: RunningServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}"},
        timeout=60,
    )


def samples(http: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    started = start_server(tmp_path / "data", env=FAST)
    try:
        yield started
    finally:
        stop_server(started)


def test_metrics_need_their_own_permission(server: RunningServer) -> None:
    with admin(server) as http:
        assert httpx.get(f"{server.url}/metrics", timeout=30).status_code == 401
        http.post("/v1/principals", json={"name": "reader"})
        key = http.post("/v1/principals/reader/access-keys", json={}).json()
        bearer = {"Authorization": f"Bearer {key['access_key_id']}.{key['access_key_secret']}"}
        refused = httpx.get(f"{server.url}/metrics", headers=bearer, timeout=30)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "AccessDenied"
        policy = {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": ["rotor:GetMetrics"], "Resource": ["rotor:metrics"]}
            ],
        }
        http.put("/v1/policies/metrics", json={"document": policy})
        http.put("/v1/principals/reader/policies/metrics")
        allowed = httpx.get(f"{server.url}/metrics", headers=bearer, timeout=30)
        assert allowed.status_code == 200, allowed.text
        assert f'rotor_build_info{{version="{rotor.__version__}"}} 1.0' in allowed.text


def test_requests_are_counted_by_dialect_action_and_outcome(server: RunningServer) -> None:
    with admin(server) as http:
        http.post("/v1/secrets", json={"name": "m/app", "value": "metric-secret-value-1"})
        for _ in range(5):
            assert http.get("/v1/secrets/m/app:value").status_code == 200
        assert http.get("/v1/secrets/m/missing:value").status_code == 404
        found = samples(http)
    read = {"dialect": "native", "action": "kms:GetSecretValue"}
    assert value(found, "rotor_requests_total", **read, outcome="allowed") == 5
    assert value(found, "rotor_requests_total", **read, outcome="failed") == 1
    assert value(found, "rotor_request_duration_seconds_count", **read) == 6
    assert "metric-secret-value-1" not in json.dumps([list(k) for k in found])


def test_a_made_up_action_is_counted_as_other(server: RunningServer) -> None:
    with admin(server) as http:
        for i in range(3):
            http.get(f"/v1/no-such-route-{i}")
        found = samples(http)
    labels = {labels for (name, labels) in found if name == "rotor_requests_total"}
    actions = {dict(label)["action"] for label in labels}
    assert "other" in actions
    assert not any("no-such-route" in action for action in actions)


@pytest.fixture
def plain_db(mariadb_server: MariaDBServer) -> Database:
    return Database(server=mariadb_server, parameters={}, ssl_field=False)


def test_a_failed_rotation_is_counted_with_its_step_and_the_secret_counts_as_failing(
    server: RunningServer, plain_db: Database, mariadb_database: str
) -> None:
    account, password = unique_name("app"), "Initial-pass-123"
    plain_db.create_account(account, password)
    plain_db.admin(f"GRANT SELECT ON `{mariadb_database}`.* TO '{account}'@'%'")
    master = plain_db.secret(plain_db.server.user, plain_db.server.password)
    with admin(server) as http:
        http.post("/v1/secrets", json={"name": "m/master", "value": master})
        app = plain_db.secret(account, password, master="m/master")
        http.post("/v1/secrets", json={"name": "m/db", "value": app})
        configured = http.put("/v1/secrets/m/db:rotation", json={"function": "mysql-alternating"})
        assert configured.status_code == 200, configured.text
        first = configured.json()["started"]["id"]
        _wait(http, first)
        # The master's password is now wrong: the next rotation fails at set.
        wrong = plain_db.secret(plain_db.server.user, "not-the-password-" + unique_name("x"))
        http.post("/v1/secrets/m/master:versions", json={"value": wrong})
        second = http.post("/v1/secrets/m/db:rotate", json={}).json()["id"]
        done = _wait(http, second)
        assert done["status"] == "failed", done
        found = samples(http)
    fn = {"function": "mysql-alternating"}
    assert value(found, "rotor_rotations_started_total", **fn) == 2
    assert value(found, "rotor_rotations_finished_total", **fn, status="succeeded", step="") == 1
    assert value(found, "rotor_rotations_finished_total", **fn, status="failed", step="set") == 1
    assert value(found, "rotor_rotation_duration_seconds_count", **fn, status="failed") == 1
    assert value(found, "rotor_rotations_failing") == 1
    assert value(found, "rotor_rotations_configured") == 1
    text = json.dumps([list(k) for k in found])
    assert plain_db.server.password not in text
    assert password not in text


def _wait(http: httpx.Client, rotation_id: str) -> dict[str, object]:
    def ended() -> dict[str, object] | None:
        body: dict[str, object] = http.get(f"/v1/rotations/{rotation_id}").json()
        return body if body["status"] != "running" else None

    return wait_until(ended, f"rotation {rotation_id} to end")


def test_an_overdue_rotation_and_the_scheduler_lag_are_reported(tmp_path: Path) -> None:
    # The scheduler looks once at start, then not for an hour: a due time put in the past
    # afterwards stays due, and late.
    server = start_server(
        tmp_path / "data",
        env={
            **FAST,
            "ROTOR_SCHEDULER_INTERVAL_SECONDS": "3600",
            "ROTOR_OVERDUE_GRACE_SECONDS": "60",
        },
    )
    try:
        with admin(server) as http:
            http.post("/v1/secrets", json={"name": "m/late", "value": "v"})
            body = {"function": "generated-password", "every": "1d", "rotate_now": False}
            assert http.put("/v1/secrets/m/late:rotation", json=body).status_code == 200
            found = samples(http)
            assert value(found, "rotor_rotations_overdue") == 0
            with sqlite3.connect(server.data_dir / "rotor.db") as db:
                db.execute(
                    "UPDATE rotation_configs SET next_rotation_at = '2026-01-01 00:00:00.000000'"
                )
            found = samples(http)
        assert value(found, "rotor_rotations_overdue") == 1
        assert value(found, "rotor_scheduler_lag_seconds") > 86400
    finally:
        stop_server(server)


def test_per_secret_series_only_when_asked_for(tmp_path: Path) -> None:
    for per_secret in ("false", "true"):
        server = start_server(
            tmp_path / per_secret, env={**FAST, "ROTOR_METRICS_PER_SECRET": per_secret}
        )
        try:
            with admin(server) as http:
                http.post("/v1/secrets", json={"name": "m/each", "value": "v"})
                body = {"function": "generated-password", "every": "1d"}
                rotation = http.put("/v1/secrets/m/each:rotation", json=body).json()["started"]
                _wait(http, rotation["id"])
                found = samples(http)
        finally:
            stop_server(server)
        series = [labels for name, labels in found if name.startswith("rotor_secret_")]
        if per_secret == "true":
            assert series == [(("secret", "m/each"),)]
        else:
            assert series == []
            assert not any("secret" in dict(labels) for _, labels in found)


def test_several_workers_are_summed(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", env={**FAST, "ROTOR_WORKERS": "3"})
    try:
        with admin(server) as http:
            http.post("/v1/secrets", json={"name": "m/w", "value": "v"})
        for _ in range(30):  # each on a new connection, so every worker gets some
            with admin(server) as http:
                assert http.get("/v1/secrets/m/w:value").status_code == 200
        with admin(server) as http:
            events = http.get("/v1/audit", params={"secret": "m/w"}).json()["events"]
            answered = {e["node"] for e in events if e["action"] == "kms:GetSecretValue"}
            found = samples(http)
        read = {"dialect": "native", "action": "kms:GetSecretValue", "outcome": "allowed"}
        assert value(found, "rotor_requests_total", **read) == 30
        assert value(found, "rotor_build_info", version=rotor.__version__) == 1
        assert len(answered) > 1, answered
        # Each worker samples its pool at every heartbeat (0.2 s); the gauges sum them.
        with admin(server) as http:
            wait_until(
                lambda: ("rotor_store_connections", (("state", "idle"),)) in samples(http),
                "the workers' pool gauges",
            )
    finally:
        stop_server(server)
