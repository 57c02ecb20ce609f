"""A rolling upgrade: a node of the previous release keeps serving while a node of this one
migrates the shared store, and both keep reading, writing and rotating afterwards.

The previous release is the code as it was before the newest migration was added (taken
out of git with ``git archive``), run with its ``src`` first on ``PYTHONPATH``.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rotor.store.database import MIGRATIONS
from tests.nodes.conftest import FAST, admin_http, json_of, new_master_key, wait_until
from tests.services.server import RunningServer, start_server, stop_server

REPO = Path(__file__).resolve().parents[2]


def newest_revisions() -> tuple[str, str]:
    """(the revision before the newest migration, the newest): ``0006``, ``0007``."""
    newest = max((MIGRATIONS / "versions").glob("[0-9]*.py")).name.split("_")[0]
    return f"{int(newest) - 1:04d}", newest


def previous_release(into: Path) -> tuple[str, Path]:
    """(commit, its ``src``): the newest commit without the newest migration."""
    newest = max((MIGRATIONS / "versions").glob("[0-9]*.py"))
    path = newest.relative_to(REPO).as_posix()
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "-1", "--", path],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    commit = f"{added}^" if added else "HEAD"  # not committed yet: HEAD lacks it
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "src"], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    src = into / "src"
    assert not (src / "rotor" / "store" / "migrations" / "versions" / newest.name).exists()
    return commit, src


@pytest.fixture
def old_and_new(
    tmp_path: Path, postgres_database: str
) -> Iterator[tuple[RunningServer, Path, dict[str, str]]]:
    """A node of the previous release on a fresh store, where a new node's data dir goes,
    and the settings both share."""
    _, old_src = previous_release(tmp_path / "previous")
    env = {
        **FAST,
        "ROTOR_DATABASE_URL": postgres_database,
        "ROTOR_MASTER_KEY": new_master_key(),
    }
    old = start_server(tmp_path / "old", env={**env, "PYTHONPATH": str(old_src)})
    try:
        yield old, tmp_path, env
    finally:
        stop_server(old)


def rotated_once(http: httpx.Client, name: str) -> dict[str, Any] | None:
    found = json_of(http.get(f"/v1/secrets/{name}:rotations"))["rotations"]
    done = [r for r in found if r["status"] == "succeeded"]
    return done[0] if done else None


def test_a_node_of_the_previous_release_keeps_serving_while_a_new_one_migrates(
    old_and_new: tuple[RunningServer, Path, dict[str, str]],
) -> None:
    old, root, env = old_and_new
    previous, newest = newest_revisions()
    # It is the previous release's code: it migrated the store to the revision before.
    assert f"Running upgrade {int(previous) - 1:04d} -> {previous}" in old.output()
    assert f"-> {newest}" not in old.output()
    with admin_http(old) as via_old:
        json_of(via_old.post("/v1/secrets", json={"name": "up/before", "value": "v1"}), 201)
        # The new node migrates the store while the old one serves.
        new_dir = root / "new"
        new_dir.mkdir(mode=0o700)
        (new_dir / "admin-credentials.json").write_bytes(
            (old.data_dir / "admin-credentials.json").read_bytes()
        )
        (new_dir / "admin-credentials.json").chmod(0o600)
        new = start_server(new_dir, env={**env, "ROTOR_NODE_ID": "new-node"})
        try:
            assert f"Running upgrade {previous} -> {newest}" in new.output()
            with admin_http(new) as via_new:
                # The old node reads, writes and rotates on the migrated store.
                assert json_of(via_old.get("/v1/secrets/up/before:value"))["value"] == "v1"
                json_of(
                    via_old.post("/v1/secrets/up/before:versions", json={"value": "v2"}), 200, 201
                )
                assert json_of(via_new.get("/v1/secrets/up/before:value"))["value"] == "v2"
                json_of(via_old.post("/v1/secrets", json={"name": "up/old", "value": "o"}), 201)
                json_of(
                    via_old.put(
                        "/v1/secrets/up/old:rotation",
                        json={"function": "generated-password", "rotate_now": True},
                    )
                )
                wait_until(lambda: rotated_once(via_old, "up/old"), "the old node's rotation")
                # The new node reads what the old one wrote, and rotates too.
                assert json_of(via_new.get("/v1/secrets/up/old:value"))["value"] != "o"
                json_of(via_new.post("/v1/secrets", json={"name": "up/new", "value": "n"}), 201)
                assert json_of(via_old.get("/v1/secrets/up/new:value"))["value"] == "n"
                json_of(
                    via_new.put(
                        "/v1/secrets/up/new:rotation",
                        json={"function": "generated-password", "rotate_now": True},
                    )
                )
                done = wait_until(
                    lambda: rotated_once(via_old, "up/new"), "the new node's rotation"
                )
                # Started by the new node (which node's runner ran it depends on leases:
                # under load the old node may take it over, and may).
                shown = json_of(via_new.get(f"/v1/rotations/{done['id']}"))
                assert shown["events"][0]["kind"] == "started"
                assert shown["events"][0]["node"] == "new-node"
                # The old node's audit events are still written, and listed by the new one.
                events = json_of(via_new.get("/v1/audit", params={"secret": "up/before"}))
                old_node = f":{old.process.pid}"
                assert any((e["node"] or old_node).endswith(old_node) for e in events["events"])
        finally:
            stop_server(new)
