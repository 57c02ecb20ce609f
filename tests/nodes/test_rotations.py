"""Rotations on several nodes of one store: each due rotation runs once, on one node, and a
rotation whose node dies is finished by another with the same version and value."""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import os
import signal
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.nodes.conftest import (
    Cluster,
    admin_http,
    create_user_blocked,
    json_of,
    json_value,
    mysql_app,
    read_lock,
    wait_until,
)
from tests.rotation.mysql.support import Database

SECRETS = 200
#: The due time is put this far after the last secret was created, so that configuring
#: the 200 schedules (each with its dry run) is done before it. Only how much at once
#: they fall due depends on it: a schedule configured after its due time is due at once
#: (and rotates once), so a slow machine does not make the test fail.
DUE_AFTER = dt.timedelta(seconds=10)

#: Records every runner that takes a rotation's lease (rotations.lease_owner, which a
#: rotation's end clears), in a schema of the test's own beside the store's tables.
CLAIM_RECORDER = (
    "CREATE SCHEMA observer",
    "CREATE TABLE observer.claims (rotation_id text NOT NULL, lease_owner text NOT NULL)",
    """
    CREATE FUNCTION observer.record_claim() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.lease_owner IS NOT NULL
           AND (TG_OP = 'INSERT' OR NEW.lease_owner IS DISTINCT FROM OLD.lease_owner) THEN
            INSERT INTO observer.claims VALUES (NEW.id, NEW.lease_owner);
        END IF;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER observer_claims AFTER INSERT OR UPDATE OF lease_owner ON public.rotations "
    "FOR EACH ROW EXECUTE FUNCTION observer.record_claim()",
)


def _timestamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _yearly_cron(at: dt.datetime) -> str:
    """A cron expression (UTC, seconds last) due once a year, at ``at``."""
    return f"{at.minute} {at.hour} {at.day} {at.month} * {at.second}"


@pytest.mark.parametrize(
    ("nodes", "workers", "count"),
    [pytest.param(3, 1, SECRETS, id="three-nodes"), pytest.param(1, 3, 60, id="three-workers")],
)
def test_rotations_due_at_once_on_several_nodes_each_run_exactly_once(
    make_cluster: Callable[..., Cluster], nodes: int, workers: int, count: int
) -> None:
    """200 secrets due at once on three nodes (or 60 on one node's three workers)."""
    cluster = make_cluster(nodes, env={"ROTOR_WORKERS": str(workers)})
    store = sa.create_engine(cluster.database_url)
    with contextlib.ExitStack() as stack:
        stack.callback(store.dispose)
        with store.begin() as conn:
            for statement in CLAIM_RECORDER:
                conn.exec_driver_sql(statement)
        https = [stack.enter_context(admin_http(node)) for node in cluster.nodes]
        pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(6))
        names = [f"due/secret-{i:03d}" for i in range(count)]

        def via(i: int) -> httpx.Client:
            return https[i % len(https)]

        def create(i: int) -> tuple[str, str]:
            body = json_of(
                via(i).post("/v1/secrets", json={"name": names[i], "value": f"first-{i}"}), 201
            )
            return body["stages"]["Current"], f"first-{i}"

        originals = list(pool.map(create, range(count)))
        due = (dt.datetime.now(dt.UTC) + DUE_AFTER).replace(microsecond=0)
        cron = _yearly_cron(due)

        def configure(i: int) -> dict[str, Any]:
            body = {"function": "generated-password", "cron": cron, "rotate_now": False}
            return json_of(via(i).put(f"/v1/secrets/{names[i]}:rotation", json=body))

        for configured in pool.map(configure, range(count)):
            assert configured["started"] is None, configured
            assert _timestamp(configured["rotation"]["next_rotation_at"]) == due, configured

        def finished() -> bool:
            with store.connect() as conn:
                running, rotated = conn.execute(
                    sa.text(
                        "SELECT count(*) FILTER (WHERE status = 'running'), "
                        "count(DISTINCT secret_id) FILTER (WHERE status <> 'running') "
                        "FROM rotations"
                    )
                ).one()
            return bool(running == 0 and rotated == count)

        wait_until(finished, f"every one of the {count} secrets to be rotated", every=0.2)

        def outcome(i: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
            http = via(i + 1)  # another node than the one that created it
            history = json_of(http.get(f"/v1/secrets/{names[i]}:rotations"))["rotations"]
            versions = json_of(http.get(f"/v1/secrets/{names[i]}:versions"))["versions"]
            config = json_of(http.get(f"/v1/secrets/{names[i]}:rotation"))
            value = json_of(http.get(f"/v1/secrets/{names[i]}:value"))
            return history, versions, {"config": config, "value": value}

        outcomes = list(pool.map(outcome, range(count)))
        not_once = {
            names[i]: [(r["status"], r["started_by"], r["created_at"]) for r in history]
            for i, (history, _, _) in enumerate(outcomes)
            if [(r["status"], r["started_by"]) for r in history] != [("succeeded", "scheduler")]
        }
        assert not not_once, (
            f"{len(not_once)} of {count} secrets were not rotated exactly once "
            f"(status, started by, created at; newest first): {not_once}"
        )
        rotation_ids: set[str] = set()
        for i, (history, versions, seen) in enumerate(outcomes):
            original_version, original_value = originals[i]
            rotation = history[0]
            rotation_ids.add(rotation["id"])
            assert sorted((v["version_id"], v["stages"]) for v in versions) == sorted(
                [(original_version, ["Previous"]), (rotation["version_id"], ["Current"])]
            ), (names[i], versions)
            value = seen["value"]
            assert value["version_id"] == rotation["version_id"]
            assert value["value"] != original_value
            # Next due a year on: no second rotation is coming.
            next_at = _timestamp(seen["config"]["next_rotation_at"])
            assert next_at - due > dt.timedelta(days=300), seen["config"]
        with store.connect() as conn:
            claims = conn.execute(
                sa.text("SELECT rotation_id, lease_owner FROM observer.claims")
            ).all()
        listed = json_of(https[0].get("/v1/nodes", params={"all": "true"}))["nodes"]
    assert {rotation_id for rotation_id, _ in claims} == rotation_ids
    # A lease names the runner's node id and a random part: NODE#TOKEN.
    per_node: Counter[str] = Counter(owner.split("#")[0] for _, owner in claims)
    assert set(per_node) <= {n["node"] for n in listed}, (per_node, listed)
    assert len(per_node) > 1, f"every rotation ran on one node: {per_node}"


def test_a_node_killed_in_a_blocked_set_step_is_replaced_and_the_password_changes_once(
    make_cluster: Callable[..., Cluster], plain_db: Database, mariadb_database: str
) -> None:
    app = mysql_app(plain_db, mariadb_database)
    cluster = make_cluster(1)
    store = sa.create_engine(cluster.database_url)
    try:
        with admin_http(cluster.nodes[0]) as http, read_lock(plain_db) as release:
            for name, value in ((app.master_name, app.master_value), (app.name, app.value)):
                json_of(http.post("/v1/secrets", json={"name": name, "value": value}), 201)
            original = json_of(http.get(f"/v1/secrets/{app.name}:value"))
            configured = http.put(
                f"/v1/secrets/{app.name}:rotation", json={"function": "mysql-alternating"}
            )
            started = json_of(configured)["started"]
            wait_until(lambda: create_user_blocked(plain_db), "the set step to wait for the lock")
            pending = json_of(
                http.get(f"/v1/secrets/{app.name}:value", params={"stage": "Pending"})
            )
            assert pending["version_id"] == started["version_id"]
            # A second node joins while the first holds the rotation.
            cluster.add_node()
            with store.connect() as conn:
                lease_owner = conn.execute(
                    sa.text("SELECT lease_owner FROM rotations WHERE id = :id"),
                    {"id": started["id"]},
                ).scalar_one()
            holder = cluster.owner_node(lease_owner)
            assert holder is not None, lease_owner
            survivor = next(node for node in cluster.nodes if node is not holder)
            resumed_before = [
                e
                for e in json_of(http.get(f"/v1/rotations/{started['id']}"))["events"]
                if e["kind"] == "resumed"
            ]
            os.killpg(holder.process.pid, signal.SIGKILL)
            assert holder.process.wait(timeout=60) == -signal.SIGKILL
            release()
    finally:
        store.dispose()

    with admin_http(survivor) as http:

        def ended() -> dict[str, Any] | None:
            rotation = json_of(http.get(f"/v1/rotations/{started['id']}"))
            return rotation if rotation["status"] != "running" else None

        done = wait_until(ended, "the survivor to finish the rotation", every=0.1)
        assert done["status"] == "succeeded", done
        assert done["version_id"] == started["version_id"]
        resumed = [e for e in done["events"] if e["kind"] == "resumed"]
        assert len(resumed) == len(resumed_before) + 1, done["events"]
        # The history names the node that took over and the one that died.
        dead, alive = lease_owner.split("#")[0], resumed[-1]["node"]
        assert resumed[-1]["message"].startswith(f"resumed by node {alive} "), resumed
        assert f"node {dead} had stopped running it" in resumed[-1]["message"], resumed
        assert alive.endswith(f":{survivor.process.pid}"), (alive, survivor.process.pid)
        assert done["node"] == alive
        current = json_of(http.get(f"/v1/secrets/{app.name}:value"))
        previous = json_of(http.get(f"/v1/secrets/{app.name}:value", params={"stage": "Previous"}))
        versions = json_of(http.get(f"/v1/secrets/{app.name}:versions"))["versions"]
    # The version the dead node made, with the password it generated: made once, kept.
    assert current["version_id"] == started["version_id"]
    assert current["value"] == pending["value"]
    assert (previous["version_id"], previous["value"]) == (original["version_id"], app.value)
    assert sorted(v["version_id"] for v in versions) == sorted(
        [original["version_id"], started["version_id"]]
    )
    new, old = json_value(current["value"]), json_value(previous["value"])
    assert new["AccountName"] == app.account + "_rt"
    assert old["AccountName"] == app.account
    assert plain_db.logs_in(new["AccountName"], new["AccountPassword"]), "Current"
    assert plain_db.logs_in(old["AccountName"], old["AccountPassword"]), "Previous"
