"""Notifications: subscriptions behind their own permission, targets that cannot reach
internal services, and events delivered signed (Standard Webhooks) from a durable outbox,
retried, once, across restarts; never a secret value in a body, a metric or a log line."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.support import assert_error
from tests.cli.conftest import run_cli
from tests.nodes.conftest import json_of, wait_until
from tests.rotation.mysql.support import Database, unique_name
from tests.services.mariadb import MariaDBServer
from tests.services.server import RunningServer, running_server, start_server, stop_server
from tests.services.webhook_receiver import DELIVERING, Receiver

FAST = {**DELIVERING, "ROTOR_ROTATION_RETRY_SECONDS": "0.1", "ROTOR_HEARTBEAT_SECONDS": "0.2"}


def admin(server: RunningServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}"},
        timeout=60,
    )


def bearer(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['access_key_id']}.{key['access_key_secret']}"}


def principal_with(http: httpx.Client, name: str, statements: list[dict[str, Any]]) -> httpx.Client:
    """A client of a new principal allowed exactly ``statements``."""
    json_of(http.post("/v1/principals", json={"name": name}), 201)
    key = json_of(http.post(f"/v1/principals/{name}/access-keys", json={}), 201)
    if statements:
        document = {"Version": "1", "Statement": statements}
        json_of(http.put(f"/v1/policies/{name}", json={"document": document}), 200, 201)
        json_of(http.put(f"/v1/principals/{name}/policies/{name}"), 200)
    return httpx.Client(base_url=str(http.base_url), headers=bearer(key), timeout=60)


def allow(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def subscribe(http: httpx.Client, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    return json_of(
        http.post("/v1/notifications", json={"url": url, "events": events, **extra}), 201
    )


def deliveries(http: httpx.Client, **query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json_of(http.get("/v1/deliveries", params=query))["deliveries"]
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path / "data", env=FAST) as started:
        yield started


# -- who may subscribe, and to what ---------------------------------------------------------


def test_a_subscription_needs_its_own_permission_and_reaches_no_further_than_its_creator(
    server: RunningServer, receiver: Receiver
) -> None:
    body = {"url": receiver.url, "events": ["*"], "prefix": "team-a/"}
    with admin(server) as http:
        anyone = principal_with(http, "reader", [allow(["kms:*", "rotor:ListEvents"], ["*"])])
        team_a = principal_with(
            http,
            "team-a-admin",
            [
                allow(["rotor:CreateNotification"], ["rotor:notifications"]),
                allow(["rotor:ListEvents"], ["acs:kms:*:*:secret/team-a/*"]),
            ],
        )
        with anyone, team_a:
            refused = anyone.post("/v1/notifications", json=body)
            assert_error(refused, 403, "AccessDenied")
            # Allowed to create, and to read team-a's events: team-a's prefix only.
            created = json_of(team_a.post("/v1/notifications", json=body), 201)
            assert created["secret"].startswith("whsec_")
            for wider in ("", "team-", "team-b/"):
                refused = team_a.post("/v1/notifications", json={**body, "prefix": wider})
                assert_error(refused, 403, "AccessDenied")
            # Listing, deleting and retrying are permissions of their own.
            assert_error(team_a.get("/v1/notifications"), 403, "AccessDenied")
            assert_error(team_a.delete(f"/v1/notifications/{created['id']}"), 403, "AccessDenied")
            assert_error(team_a.get("/v1/deliveries"), 403, "AccessDenied")
        listed = json_of(http.get("/v1/notifications"))["notifications"]
        assert [n["id"] for n in listed] == [created["id"]]
        # The signing secret is shown once: never listed or shown again.
        assert "secret" not in listed[0]
        assert "secret" not in json_of(http.get(f"/v1/notifications/{created['id']}"))
        audit = json_of(http.get("/v1/audit", params={"action": "rotor:CreateNotification"}))
        outcomes = sorted(e["outcome"] for e in audit["events"])
        assert outcomes == ["allowed", "denied", "denied", "denied", "denied"], audit
        assert created["secret"] not in json.dumps(audit)
        deleted = json_of(http.delete(f"/v1/notifications/{created['id']}"))
        assert deleted["id"] == created["id"]
        assert_error(http.get(f"/v1/notifications/{created['id']}"), 404, "NotFound")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # plain http to a target nobody allowed
        "https://10.1.2.3/hook",  # a private address
        "https://[::1]:8443/hook",  # loopback
        "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "https://user:password@example.com/hook",  # credentials in the URL
        "ftp://example.com/hook",
        "https:///no-host",
        "not a url",
    ],
)
def test_a_target_that_could_reach_internal_services_is_refused(
    rotor_server: RunningServer, url: str
) -> None:
    with admin(rotor_server) as http:
        refused = http.post("/v1/notifications", json={"url": url, "events": ["*"]})
        body = assert_error(refused, 400, "InvalidParameter")
        assert "password" not in body["message"]


def test_unknown_event_types_and_bad_bodies_are_refused(rotor_server: RunningServer) -> None:
    with admin(rotor_server) as http:
        url = "https://hooks.example.com/rotor"
        unknown = http.post("/v1/notifications", json={"url": url, "events": ["rotation.exploded"]})
        assert "rotation.exploded" in assert_error(unknown, 400, "InvalidParameter")["message"]
        empty = http.post("/v1/notifications", json={"url": url, "events": []})
        assert_error(empty, 400, "InvalidParameter")
        extra = http.post("/v1/notifications", json={"url": url, "events": ["*"], "secret": "x"})
        assert_error(extra, 400, "InvalidParameter")
        assert_error(http.get("/v1/deliveries", params={"state": "lost"}), 400, "InvalidParameter")
        assert_error(http.post("/v1/deliveries/999999999:retry"), 404, "NotFound")


def test_a_name_that_resolves_to_loopback_is_refused_at_delivery(tmp_path: Path) -> None:
    """https to a host name is accepted when created (no DNS then), but the delivery
    resolves it, finds loopback, and connects nowhere."""
    receiver = Receiver().start()
    server = start_server(
        tmp_path / "data",
        env={**FAST, "ROTOR_NOTIFICATION_ALLOWED_TARGETS": "", "ROTOR_NOTIFICATION_ATTEMPTS": "1"},
    )
    try:
        with admin(server) as http:
            url = f"https://localhost:{receiver.port}/hook"
            subscribe(http, url, ["secret.created"])
            json_of(http.post("/v1/secrets", json={"name": "n/local", "value": "v"}), 201)
            failed = wait_until(lambda: deliveries(http, state="failed"), "the delivery to fail")
        assert "not a public address" in failed[0]["last_error"]
        assert failed[0]["last_status"] is None
        assert receiver.received == []
    finally:
        stop_server(server)
        receiver.stop()


# -- delivery ---------------------------------------------------------------------------------


@pytest.fixture
def plain_db(mariadb_server: MariaDBServer) -> Database:
    return Database(server=mariadb_server, parameters={}, ssl_field=False)


def test_a_failed_rotation_is_counted_logged_once_shown_and_notified_signed(
    server: RunningServer, receiver: Receiver, plain_db: Database, mariadb_database: str
) -> None:
    account, password = unique_name("app"), "Initial-pass-" + unique_name("p")
    plain_db.create_account(account, password)
    plain_db.admin(f"GRANT SELECT ON `{mariadb_database}`.* TO '{account}'@'%'")
    master = plain_db.secret(plain_db.server.user, plain_db.server.password)
    wrong_password = "not-the-password-" + unique_name("x")
    with admin(server) as http:
        hook = subscribe(
            http, receiver.url, ["rotation.failed", "rotation.succeeded"], prefix="e2e/"
        )
        json_of(http.post("/v1/secrets", json={"name": "e2e/master", "value": master}), 201)
        app = plain_db.secret(account, password, master="e2e/master")
        json_of(http.post("/v1/secrets", json={"name": "e2e/db", "value": app}), 201)
        configured = http.put("/v1/secrets/e2e/db:rotation", json={"function": "mysql-alternating"})
        first = json_of(configured)["started"]["id"]
        succeeded = receiver.wait_for("rotation.succeeded").verified(hook["secret"])
        assert succeeded["data"]["rotation_id"] == first
        # The master's password is now wrong: the next rotation fails at set.
        wrong = plain_db.secret(plain_db.server.user, wrong_password)
        json_of(http.post("/v1/secrets/e2e/master:versions", json={"value": wrong}), 200, 201)
        second = json_of(http.post("/v1/secrets/e2e/db:rotate", json={}), 200, 201, 202)["id"]
        received = receiver.wait_for("rotation.failed")
        event = received.verified(hook["secret"])
        metrics = http.get("/metrics").text
        status = run_cli(["status", "--url", server.url], env=server.credentials_env)
        values = [
            json.loads(v["value"])["AccountPassword"]
            for v in (
                json_of(http.get("/v1/secrets/e2e/db:value", params={"stage": s}))
                for s in ("Current", "Previous")
            )
        ]
    # The notification: signed (verified above), about that rotation, with step and code.
    assert received.path == "/hooks/rotor?team=ops"
    assert received.headers["webhook-id"] == event["id"]
    assert received.headers["content-type"] == "application/json"
    assert event["type"] == "rotation.failed"
    assert event["data"]["secret"] == "e2e/db"
    assert event["data"]["rotation_id"] == second
    assert event["data"]["function"] == "mysql-alternating"
    assert event["data"]["step"].endswith("(set)")
    assert event["data"]["error_code"]
    # A tampered body does not verify.
    tampered = type(received)(
        received.path, received.headers, received.body.replace(b"e2e", b"e2f")
    )
    with pytest.raises(Exception, match="signature"):
        tampered.verified(hook["secret"])
    # The failure counter, with its step.
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
    }
    failed_series = (
        "rotor_rotations_finished_total",
        (("function", "mysql-alternating"), ("status", "failed"), ("step", "set")),
    )
    assert found[failed_series] == 1
    # One ERROR line for it in the server's log.
    errors_logged = [
        line for line in server.output().splitlines() if " ERROR " in line and second in line
    ]
    assert len(errors_logged) == 1, errors_logged
    # rotor status exits non-zero, naming the secret as failing.
    assert status.exit_code == 1, status.output
    line = next(row for row in status.output.splitlines() if "e2e/db" in row)
    assert "failing" in line, status.output
    # No secret value in any notification, the metrics or the log.
    secrets_seen = [password, plain_db.server.password, wrong_password, hook["secret"], *values]
    bodies = b"".join(r.body for r in receiver.received).decode()
    log = server.log_path.read_text()
    for value in secrets_seen:
        assert value not in bodies
        assert value not in metrics
        assert value not in log


def test_a_receiver_that_is_down_gets_the_event_once_after_it_comes_back_and_a_restart(
    tmp_path: Path,
) -> None:
    receiver = Receiver()  # not started: the port refuses connections
    data_dir = tmp_path / "data"
    server = start_server(data_dir, env=FAST)
    try:
        with admin(server) as http:
            hook = subscribe(http, receiver.url, ["secret.created"])
            json_of(http.post("/v1/secrets", json={"name": "down/one", "value": "v"}), 201)

            def retried() -> list[dict[str, Any]]:
                return [d for d in deliveries(http, state="pending") if d["attempts"] >= 2]

            waiting = wait_until(retried, "two failed attempts")[0]
        assert "could not connect" in waiting["last_error"]
        assert waiting["event"]["type"] == "secret.created"
    finally:
        stop_server(server)
    receiver.start()
    try:
        server = start_server(data_dir, env=FAST)
        try:
            with admin(server) as http:
                received = receiver.wait_for("secret.created")

                def delivered() -> list[dict[str, Any]]:
                    return deliveries(http, state="delivered")

                done = wait_until(delivered, "the delivery to be recorded")
                # A second event after the first is recorded: the outbox is drained, the
                # first is not sent again (the receiver's list is in arrival order).
                json_of(http.post("/v1/secrets", json={"name": "down/two", "value": "v"}), 201)
                wait_until(lambda: len(receiver.of_type("secret.created")) == 2, "the second")
        finally:
            stop_server(server)
    finally:
        receiver.stop()
    assert received.verified(hook["secret"])["data"]["secret"] == "down/one"
    assert done[0]["attempts"] >= 3
    ids = [r.headers["webhook-id"] for r in receiver.of_type("secret.created")]
    assert len(ids) == len(set(ids)) == 2
    assert [r.event["data"]["secret"] for r in receiver.of_type("secret.created")] == [
        "down/one",
        "down/two",
    ]


def test_a_redirect_is_never_followed_and_a_failed_delivery_can_be_retried(tmp_path: Path) -> None:
    elsewhere = Receiver().start()
    receiver = Receiver().start()
    receiver.status, receiver.location = 307, elsewhere.url
    server = start_server(tmp_path / "data", env={**FAST, "ROTOR_NOTIFICATION_ATTEMPTS": "2"})
    try:
        with admin(server) as http:
            hook = subscribe(http, receiver.url, ["secret.created"])
            json_of(http.post("/v1/secrets", json={"name": "redirect/me", "value": "v"}), 201)
            failed = wait_until(lambda: deliveries(http, state="failed"), "the delivery to fail")
            assert failed[0]["attempts"] == 2
            assert failed[0]["last_status"] == 307
            assert "redirects are not followed" in failed[0]["last_error"]
            assert elsewhere.received == []
            assert len(receiver.received) == 2
            # Fixed receiver, then a retry by hand: delivered, with a fresh count.
            receiver.status, receiver.location = 204, None
            assert json_of(http.post(f"/v1/deliveries/{failed[0]['id']}:retry")) == {"retried": 1}
            # Only a failed delivery is retried (this one is pending or delivered now).
            again = http.post(f"/v1/deliveries/{failed[0]['id']}:retry")
            assert_error(again, 409, "Conflict")
            done = wait_until(lambda: deliveries(http, state="delivered"), "the retry")
            assert done[0]["attempts"] == 1
            assert done[0]["last_status"] == 204
            retried_all = http.post(f"/v1/notifications/{hook['id']}:retry")
            assert json_of(retried_all) == {"retried": 0}
            scraped = http.get("/metrics").text
        # Each attempt counted by its outcome: retried, then failed, then delivered.
        for outcome in ("retried", "failed", "delivered"):
            assert f'rotor_notification_deliveries_total{{outcome="{outcome}"}} 1.0' in scraped
        assert len(receiver.received) == 3
        assert receiver.received[-1].verified(hook["secret"])["data"]["secret"] == "redirect/me"
        assert elsewhere.received == []
    finally:
        stop_server(server)
        receiver.stop()
        elsewhere.stop()


def heartbeat_at(http: httpx.Client) -> dt.datetime:
    (node,) = json_of(http.get("/v1/nodes"))["nodes"]
    return dt.datetime.fromisoformat(node["last_heartbeat_at"])


def test_an_overdue_rotation_is_notified_once(tmp_path: Path, receiver: Receiver) -> None:
    # The scheduler looks once at start, then not for an hour: a due time put in the past
    # afterwards stays due, and becomes overdue.
    env = {**FAST, "ROTOR_SCHEDULER_INTERVAL_SECONDS": "3600", "ROTOR_OVERDUE_GRACE_SECONDS": "60"}
    server = start_server(tmp_path / "data", env=env)
    try:
        with admin(server) as http:
            hook = subscribe(http, receiver.url, ["rotation.overdue", "secret.created"])
            json_of(http.post("/v1/secrets", json={"name": "late/db", "value": "v"}), 201)
            body = {"function": "generated-password", "every": "1d", "rotate_now": False}
            json_of(http.put("/v1/secrets/late/db:rotation", json=body))
            with sqlite3.connect(server.data_dir / "rotor.db") as db:
                db.execute(
                    "UPDATE rotation_configs SET next_rotation_at = '2026-01-01 00:00:00.000000'"
                )
            overdue = receiver.wait_for("rotation.overdue").verified(hook["secret"])
            # Ten heartbeats later (each one looks for overdue rotations again), then a
            # later event: the overdue one was not sent again.
            first_beat = heartbeat_at(http)
            wait_until(
                lambda: heartbeat_at(http) - first_beat >= dt.timedelta(seconds=2),
                "ten more heartbeats",
            )
            json_of(http.post("/v1/secrets", json={"name": "late/other", "value": "v"}), 201)
            wait_until(lambda: len(receiver.of_type("secret.created")) == 2, "the later event")
    finally:
        stop_server(server)
    assert overdue["data"] == {"secret": "late/db", "due_at": "2026-01-01T00:00:00.000000Z"}
    assert len(receiver.of_type("rotation.overdue")) == 1
    warnings = [line for line in server.log_path.read_text().splitlines() if "is overdue" in line]
    assert len(warnings) == 1, warnings


def test_deliveries_show_only_the_events_the_caller_may_see(server: RunningServer) -> None:
    """rotor:ListNotifications lists the outbox, but a delivery's event (a secret's name,
    its rotation) only to a caller allowed rotor:ListEvents on that secret."""
    with admin(server) as http:
        subscribe(http, "https://hooks.example.com/rotor", ["secret.created"])
        for name in ("seen/db", "hidden/db"):
            json_of(http.post("/v1/secrets", json={"name": name, "value": "v"}), 201)
        outbox = principal_with(
            http,
            "outbox-reader",
            [
                allow(["rotor:ListNotifications"], ["rotor:notifications"]),
                allow(["rotor:ListEvents"], ["acs:kms:*:*:secret/seen/*"]),
            ],
        )
        with outbox:
            shown = json_of(outbox.get("/v1/deliveries"))["deliveries"]
        everything = deliveries(http)
    assert sorted(d["event"]["data"]["secret"] for d in everything) == ["hidden/db", "seen/db"]
    assert [d["event"]["data"]["secret"] for d in shown] == ["seen/db"]
