"""Every node is named: ``rotor node list`` shows the live ones from their heartbeats, and
rotation records, their events, audit events and log lines say which node did what."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import rotor
from tests.nodes.conftest import admin_http, json_of, new_master_key, wait_until
from tests.services.server import RunningServer, server_env, start_server, stop_server

#: Heartbeats every 0.2 s: a node that stops beating is not live after 0.6 s.
BEATS = {"ROTOR_HEARTBEAT_SECONDS": "0.2", "ROTOR_SCHEDULER_INTERVAL_SECONDS": "0.1"}


class Nodes:
    """Named nodes on one PostgreSQL store, each started with its own ROTOR_NODE_ID."""

    def __init__(self, root: Path, database_url: str) -> None:
        self.root = root
        self.env = {
            **BEATS,
            "ROTOR_DATABASE_URL": database_url,
            "ROTOR_MASTER_KEY": new_master_key(),
        }
        self.started: list[RunningServer] = []

    def start(self, node_id: str, extra: Mapping[str, str] | None = None) -> RunningServer:
        data_dir = self.root / node_id
        if self.started:
            data_dir.mkdir(mode=0o700, parents=True)
            copy = data_dir / "admin-credentials.json"
            shutil.copyfile(self.started[0].data_dir / "admin-credentials.json", copy)
            os.chmod(copy, 0o600)
        env = {**self.env, "ROTOR_NODE_ID": node_id, **(extra or {})}
        node = start_server(data_dir, env=env)
        self.started.append(node)
        return node

    def stop(self) -> None:
        for node in self.started:
            with contextlib.suppress(Exception):
                stop_server(node)


@pytest.fixture
def named(tmp_path: Path, postgres_database: str) -> Iterator[Nodes]:
    nodes = Nodes(tmp_path, postgres_database)
    try:
        yield nodes
    finally:
        nodes.stop()


def listed(node: RunningServer, *, all: bool = False) -> dict[str, dict[str, Any]]:
    """The nodes ``node`` lists, by node id."""
    with admin_http(node) as http:
        body = json_of(http.get("/v1/nodes", params={"all": "true"} if all else {}))
    return {item["node"]: item for item in body["nodes"]}


def cli(node: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = server_env({"ROTOR_URL": node.url, **node.credentials_env})
    return subprocess.run(
        [sys.executable, "-m", "rotor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_node_list_shows_live_nodes_their_version_and_heartbeat(named: Nodes) -> None:
    a, b = named.start("node-a"), named.start("node-b")
    seen = listed(a)
    assert set(seen) == {"node-a", "node-b"}
    assert all(n["live"] and n["version"] == rotor.__version__ for n in seen.values())
    assert seen["node-a"]["this_node"]
    assert not seen["node-b"]["this_node"]
    assert seen["node-b"]["url"] == b.url
    first = seen["node-a"]["last_heartbeat_at"]
    wait_until(lambda: listed(b)["node-a"]["last_heartbeat_at"] > first, "a newer heartbeat")

    shown = cli(a, "node", "list")
    assert shown.returncode == 0, shown.stderr
    assert "node-a (this node)" in shown.stdout
    assert "node-b" in shown.stdout
    assert shown.stdout.count("live") == 2


def test_a_stopped_node_leaves_the_list_and_a_killed_one_falls_silent(named: Nodes) -> None:
    a, b, c = named.start("node-a"), named.start("node-b"), named.start("node-c")
    assert set(listed(a)) == {"node-a", "node-b", "node-c"}
    stop_server(b)
    os.killpg(c.process.pid, signal.SIGKILL)
    c.process.wait()
    wait_until(lambda: set(listed(a)) == {"node-a"}, "only node-a live")
    every = listed(a, all=True)
    assert every["node-b"]["stopped_at"] is not None
    assert not every["node-b"]["live"]
    assert every["node-c"]["stopped_at"] is None
    assert not every["node-c"]["live"]
    shown = cli(a, "node", "list", "--all")
    assert "stopped" in shown.stdout, shown.stdout
    assert "silent" in shown.stdout, shown.stdout


def test_rotations_their_events_and_audit_events_name_the_node(named: Nodes) -> None:
    a, b = named.start("node-a"), named.start("node-b")
    with admin_http(a) as via_a, admin_http(b) as via_b:
        json_of(via_a.post("/v1/secrets", json={"name": "named/app", "value": "initial"}), 201)
        json_of(
            via_b.put(
                "/v1/secrets/named/app:rotation",
                json={"function": "generated-password", "rotate_now": True},
            )
        )
        rotation_id = wait_until(
            lambda: next(
                (
                    r["id"]
                    for r in json_of(via_a.get("/v1/secrets/named/app:rotations"))["rotations"]
                    if r["status"] == "succeeded"
                ),
                None,
            ),
            "the rotation to succeed",
        )
        rotation = json_of(via_a.get(f"/v1/rotations/{rotation_id}"))
        assert rotation["node"] == "node-b"
        assert rotation["events"]
        assert {e["node"] for e in rotation["events"]} == {"node-b"}
        json_of(via_a.get("/v1/secrets/named/app:value"))
        json_of(via_b.get("/v1/secrets/named/app:value"))

        def reads() -> list[dict[str, Any]] | None:
            # Another node's events reach the store within its audit flush (0.2 s).
            found = json_of(via_a.get("/v1/audit", params={"secret": "named/app"}))["events"]
            nodes = {e["node"] for e in found if e["action"] == "kms:GetSecretValue"}
            return found if nodes == {"node-a", "node-b"} else None

        events = wait_until(reads, "each node's read in the audit log, named")
    steps = {e["node"] for e in events if e["rotation_id"] == rotation_id}
    assert steps == {"node-b"}


def test_log_lines_name_the_node(named: Nodes) -> None:
    a = named.start("node-a")
    stop_server(a)
    lines = [line for line in a.output().splitlines() if " INFO " in line]
    assert lines
    assert all("[node-a]" in line for line in lines), lines
    assert "as node node-a" in a.output()


def test_a_node_id_that_is_not_a_name_is_refused_at_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rotor", "serve", "--data-dir", str(tmp_path / "d"), "--port", "0"],
        capture_output=True,
        text=True,
        env=server_env({"ROTOR_NODE_ID": "bad id; drop"}),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "ROTOR_NODE_ID must be 1 to 64 letters" in result.stderr
    assert not (tmp_path / "d").exists()
