"""Concurrent HTTP writers on one secret never lose a write nor break the stages."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api import support
from tests.api.support import all_versions

WRITERS = 8
PUTS_EACH = 10


def _writer(
    server: support.ApiServer, name: str, writer: int, start: threading.Barrier
) -> list[str]:
    """Put PUTS_EACH values, one after the other; returns their version ids in order."""
    written = []
    with server.client() as c:
        start.wait(timeout=30)
        for i in range(PUTS_EACH):
            version_id = f"w{writer}-{i}"
            response = c.post(
                f"/v1/secrets/{name}:versions",
                json={"value": f"value-{version_id}", "version_id": version_id},
            )
            assert response.status_code == 201, response.text
            assert response.json()["version_id"] == version_id
            written.append(version_id)
    return written


def test_concurrent_writers(client: httpx.Client, api_server: support.ApiServer) -> None:
    name = support.unique("concurrent")
    assert client.post("/v1/secrets", json={"name": name}).status_code == 201

    start = threading.Barrier(WRITERS)
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        futures = [pool.submit(_writer, api_server, name, w, start) for w in range(WRITERS)]
        per_writer = [f.result(timeout=120) for f in futures]
    written = {vid for ids in per_writer for vid in ids}
    assert len(written) == WRITERS * PUTS_EACH

    versions = all_versions(client, name, page_size=7)
    listed = [v["version_id"] for v in versions]
    assert len(listed) == WRITERS * PUTS_EACH
    assert set(listed) == written  # none lost, none twice

    current = [v["version_id"] for v in versions if "Current" in v["stages"]]
    previous = [v["version_id"] for v in versions if "Previous" in v["stages"]]
    assert len(current) == 1
    assert len(previous) == 1
    assert all(set(v["stages"]) <= {"Current", "Previous"} for v in versions)
    # Newest first: the last write is Current, and Previous is the write before it.
    assert listed[0] == current[0]
    assert listed[1] == previous[0]
    # Each writer's own puts appear in the order it made them.
    for ids in per_writer:
        positions = [listed.index(vid) for vid in ids]
        assert positions == sorted(positions, reverse=True)

    assert client.get(f"/v1/secrets/{name}").json()["stages"] == {
        "Current": current[0],
        "Previous": previous[0],
    }
    value = client.get(f"/v1/secrets/{name}:value").json()
    assert value["version_id"] == current[0]
    assert value["value"] == f"value-{current[0]}"
    before = client.get(f"/v1/secrets/{name}:value", params={"stage": "Previous"}).json()
    assert before["value"] == f"value-{previous[0]}"


def _put(server: support.ApiServer, name: str, version_id: str) -> None:
    with server.client() as c:
        response = c.post(
            f"/v1/secrets/{name}:versions", json={"value": version_id, "version_id": version_id}
        )
        assert response.status_code == 201, response.text


def test_newest_version_is_the_last_made_current(
    client: httpx.Client, api_server: support.ApiServer
) -> None:
    """Two writers queue for the store; the one that commits last is Current and newest.

    The test holds SQLite's write lock itself so both requests are waiting for it, then
    lets them race. Whichever wins, the listing must agree with the stages.
    """
    name = support.unique("queued")
    assert client.post("/v1/secrets", json={"name": name, "value": "v0"}).status_code == 201
    db = sqlite3.connect(api_server.data_dir / "rotor.db", timeout=30, isolation_level=None)
    try:
        for attempt in range(5):
            db.execute("BEGIN IMMEDIATE")
            try:
                with ThreadPoolExecutor(max_workers=2) as pool:
                    first = pool.submit(_put, api_server, name, f"a{attempt}")
                    time.sleep(0.3)  # the first writer now waits for the lock
                    second = pool.submit(_put, api_server, name, f"b{attempt}")
                    time.sleep(0.3)  # and so does the second
                    db.execute("COMMIT")
                    first.result(timeout=60)
                    second.result(timeout=60)
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")
            stages = client.get(f"/v1/secrets/{name}").json()["stages"]
            listed = [v["version_id"] for v in all_versions(client, name)]
            assert {stages["Current"], stages["Previous"]} == {f"a{attempt}", f"b{attempt}"}
            assert listed[:2] == [stages["Current"], stages["Previous"]], (attempt, stages, listed)
    finally:
        db.close()
