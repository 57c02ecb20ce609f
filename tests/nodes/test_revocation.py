"""A key disabled or a policy revoked through one node is refused by every other node on its
next request, though each node caches the keys it verified (the access generation in the
store tells them). Shown on two nodes of one PostgreSQL, and on one node's worker processes
sharing an SQLite store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rotor.client import _signing
from tests.nodes.conftest import Cluster, admin_http, json_of, wait_until
from tests.services.server import RunningServer, start_server, stop_server

#: Requests per check: enough that each of three workers answers some (the kernel spreads
#: connections over the processes accepting on the socket).
REQUESTS = 20
READ_APP: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["kms:GetSecretValue"],
            "Resource": ["acs:kms:*:*:secret/app/*"],
        }
    ],
}


@pytest.fixture(params=["two-nodes", "three-workers"])
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, make_cluster: Callable[..., Cluster]
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """(where the admin changes access, where the user's requests go)."""
    if request.param == "two-nodes":
        cluster = make_cluster(2)
        yield cluster.nodes[0], cluster.nodes[1]
        return
    node = start_server(
        tmp_path / "data",
        env={"ROTOR_WORKERS": "3", "ROTOR_CREDENTIAL_CACHE_SECONDS": "600"},
    )
    try:
        yield node, node
    finally:
        stop_server(node)


def done(response: httpx.Response) -> None:
    assert response.is_success, (response.status_code, response.text)


def user_key(admin: httpx.Client, name: str, policy: str) -> tuple[str, str]:
    json_of(admin.post("/v1/principals", json={"name": name}), 200, 201)
    json_of(admin.put(f"/v1/policies/{policy}", json={"document": READ_APP}), 200, 201)
    done(admin.put(f"/v1/principals/{name}/policies/{policy}"))
    key = json_of(admin.post(f"/v1/principals/{name}/access-keys", json={}), 200, 201)
    return key["access_key_id"], key["access_key_secret"]


def statuses(node: RunningServer, key_id: str, secret: str, *, signed: bool = False) -> list[int]:
    """The status of REQUESTS reads of app/db with that key (a bearer key, or ``signed``
    with ROTOR-HMAC-SHA256), each on a new connection (so every worker gets some)."""
    found = []
    for _ in range(REQUESTS):
        with httpx.Client(base_url=node.url, timeout=30) as http:
            request = http.build_request("GET", "/v1/secrets/app/db:value")
            request.headers["Authorization"] = (
                _signing.authorization(request, access_key_id=key_id, access_key_secret=secret)
                if signed
                else f"Bearer {key_id}.{secret}"
            )
            found.append(http.send(request).status_code)
    return found


def answered_by(admin: httpx.Client, key_id: str) -> set[str]:
    events = json_of(admin.get("/v1/audit", params={"action": "kms:GetSecretValue"}))["events"]
    return {e["node"] for e in events if e["access_key_id"] == key_id}


@pytest.mark.parametrize("signed", [False, True], ids=["bearer", "signed"])
def test_a_disabled_key_is_refused_everywhere_on_the_next_request(
    pair: tuple[RunningServer, RunningServer], signed: bool
) -> None:
    changes, serves = pair
    with admin_http(changes) as admin:
        json_of(admin.post("/v1/secrets", json={"name": "app/db", "value": "v1"}), 201)
        key_id, secret = user_key(admin, "reader", "read-app")
        # Cached wherever served.
        assert statuses(serves, key_id, secret, signed=signed) == [200] * REQUESTS
        if changes is serves:  # the workers: more than one of them cached the key
            wait_until(lambda: len(answered_by(admin, key_id)) > 1, "reads on several workers")
        done(admin.post(f"/v1/access-keys/{key_id}:disable"))
        assert statuses(serves, key_id, secret, signed=signed) == [401] * REQUESTS
        done(admin.post(f"/v1/access-keys/{key_id}:enable"))
        assert statuses(serves, key_id, secret, signed=signed) == [200] * REQUESTS


def test_a_revoked_policy_is_refused_everywhere_on_the_next_request(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    changes, serves = pair
    with admin_http(changes) as admin:
        json_of(admin.post("/v1/secrets", json={"name": "app/db", "value": "v1"}), 201)
        key_id, secret = user_key(admin, "reader", "read-app")
        assert statuses(serves, key_id, secret) == [200] * REQUESTS
        done(admin.delete("/v1/principals/reader/policies/read-app"))
        assert statuses(serves, key_id, secret) == [403] * REQUESTS
        done(admin.put("/v1/principals/reader/policies/read-app"))
        assert statuses(serves, key_id, secret) == [200] * REQUESTS
        narrowed = {**READ_APP, "Statement": [{**READ_APP["Statement"][0], "Resource": ["x"]}]}
        json_of(admin.put("/v1/policies/read-app", json={"document": narrowed}), 200, 201)
        assert statuses(serves, key_id, secret) == [403] * REQUESTS
        done(admin.delete(f"/v1/access-keys/{key_id}"))
        assert statuses(serves, key_id, secret) == [401] * REQUESTS
