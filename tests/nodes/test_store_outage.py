"""PostgreSQL stopped while a rotation runs: the node answers 503 at once (a JSON error, no
hang, no 500), and once PostgreSQL is back the rotation completes and nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.nodes.conftest import (
    DEADLINE,
    admin_http,
    create_user_blocked,
    json_of,
    json_value,
    mysql_app,
    postgres_reachable,
    read_lock,
    restartable_postgres,
    running_cluster,
    wait_until,
)
from tests.nodes.test_requests import kms_request
from tests.rotation.mysql.support import Database
from tests.services.server import RunningServer

#: A client that waits this long for an answer: a node that hangs on the store fails here.
CLIENT_TIMEOUT = 10.0


def _unavailable(response: httpx.Response) -> None:
    """A 503 ServiceUnavailable with rotor's JSON error body."""
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["code"] == "ServiceUnavailable", body
    assert body["message"], body
    assert body["request_id"], body


def _reads(node: RunningServer, key: dict[str, str], name: str) -> list[httpx.Response]:
    """A value read, a stage read and a describe, with the admin key and with ``key``."""
    answers = []
    for headers in (
        {"Authorization": f"Bearer {node.access_key_id}.{node.access_key_secret}"},
        {"Authorization": f"Bearer {key['access_key_id']}.{key['access_key_secret']}"},
    ):
        with httpx.Client(base_url=node.url, headers=headers, timeout=CLIENT_TIMEOUT) as http:
            answers += [
                http.get(f"/v1/secrets/{name}:value"),
                http.get(f"/v1/secrets/{name}:value", params={"stage": "Pending"}),
                http.get(f"/v1/secrets/{name}"),
            ]
    return answers


def test_postgresql_restarted_mid_rotation_answers_503_then_loses_nothing(
    tmp_path: Path, plain_db: Database, mariadb_database: str
) -> None:
    app = mysql_app(plain_db, mariadb_database)
    with (
        restartable_postgres() as postgres,
        running_cluster(tmp_path / "cluster", postgres.create_database(), 1) as cluster,
        admin_http(cluster.nodes[0], timeout=CLIENT_TIMEOUT) as http,
        read_lock(plain_db) as release,
    ):
        node = cluster.nodes[0]
        for name, value in ((app.master_name, app.master_value), (app.name, app.value)):
            json_of(http.post("/v1/secrets", json={"name": name, "value": value}), 201)
        # A key this node has never checked: while the store is down, checking it needs the
        # store (the admin key's check may come from the node's cache).
        key = json_of(http.post("/v1/principals/admin/access-keys", json={}), 201)
        original = json_of(http.get(f"/v1/secrets/{app.name}:value"))
        started = json_of(
            http.put(f"/v1/secrets/{app.name}:rotation", json={"function": "mysql-alternating"})
        )["started"]
        wait_until(lambda: create_user_blocked(plain_db), "the set step to wait for the lock")
        pending = json_of(http.get(f"/v1/secrets/{app.name}:value", params={"stage": "Pending"}))
        assert pending["version_id"] == started["version_id"]

        postgres.stop()
        assert not postgres_reachable(postgres.server)
        for response in _reads(node, key, app.name):
            _unavailable(response)
        with httpx.Client(timeout=CLIENT_TIMEOUT) as plain:
            # A load balancer's readiness check, and the KMS dialect, say so too.
            _unavailable(plain.get(f"{node.url}/readyz"))
            kms = plain.send(kms_request(node, "GetSecretValue", {"SecretName": app.name}))
            assert kms.status_code == 503, kms.text
            assert node.access_key_secret not in kms.text
        # The set step goes on in MariaDB while the store is down, and ends there.
        release()
        wait_until(lambda: not create_user_blocked(plain_db), "the set statement to go on")
        for response in _reads(node, key, app.name):
            _unavailable(response)
        _unavailable(
            http.post(f"/v1/secrets/{app.name}:versions", json={"value": "written while down"})
        )
        assert node.process.poll() is None, node.output()
        # Each 503 of the read path is one ERROR line, as the routes' are.
        logged = node.log_path.read_text()
        assert f"ServiceUnavailable on GET /v1/secrets/{app.name}:value" in logged

        postgres.start()

        def rotated() -> dict[str, Any] | None:
            response = http.get(f"/v1/rotations/{started['id']}")
            if response.status_code != 200:
                _unavailable(response)  # the pool finds PostgreSQL back
                return None
            rotation: dict[str, Any] = response.json()
            return rotation if rotation["status"] != "running" else None

        done = wait_until(rotated, "the rotation to end after PostgreSQL is back", every=0.1)
        assert done["status"] == "succeeded", done
        assert done["version_id"] == started["version_id"]
        current = json_of(http.get(f"/v1/secrets/{app.name}:value"))
        previous = json_of(http.get(f"/v1/secrets/{app.name}:value", params={"stage": "Previous"}))
        versions = json_of(http.get(f"/v1/secrets/{app.name}:versions"))["versions"]
        master = json_of(http.get(f"/v1/secrets/{app.master_name}:value"))
        with httpx.Client(
            base_url=node.url,
            headers={"Authorization": f"Bearer {key['access_key_id']}.{key['access_key_secret']}"},
            timeout=DEADLINE,
        ) as other:
            assert json_of(other.get(f"/v1/secrets/{app.name}:value")) == current

    # Everything written before the outage is there, and the rotation's version is the one
    # it made before, with the password it generated then.
    assert (current["version_id"], current["value"]) == (started["version_id"], pending["value"])
    assert (previous["version_id"], previous["value"]) == (original["version_id"], app.value)
    assert sorted((v["version_id"], v["stages"]) for v in versions) == sorted(
        [(original["version_id"], ["Previous"]), (started["version_id"], ["Current"])]
    )
    assert json.loads(master["value"]) == json.loads(app.master_value)
    new, old = json_value(current["value"]), json_value(previous["value"])
    assert plain_db.logs_in(new["AccountName"], new["AccountPassword"]), "Current"
    assert plain_db.logs_in(old["AccountName"], old["AccountPassword"]), "Previous"
