"""``rotor notification ...`` against a real server: subscriptions created (the signing
secret printed once), listed, shown and deleted; an event delivered to a real receiver
and verified with the secret the create printed; a failed delivery listed by
``deliveries --state failed`` and retried; and each refusal's exit code and one-line error.

``notification create --url`` is the subscription's target, so these commands find the
server through ``ROTOR_URL``, as a user's shell would, rather than the ``cli`` fixture's
``--url``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tests.cli.conftest import run_cli
from tests.nodes.conftest import wait_until
from tests.services.server import RunningServer, running_server
from tests.services.webhook_receiver import DELIVERING, Receiver

Rotor = Callable[..., Result]

#: One attempt: a failed delivery is listed as failed at once.
ONE_ATTEMPT = {**DELIVERING, "ROTOR_NOTIFICATION_ATTEMPTS": "1"}
# Nothing is ever sent there: each subscription of the shared server has a prefix no
# secret has.
NOWHERE = "https://hooks.example.com/rotor"
SHOWN_ONCE = "The signing secret is shown only this once: give it to the receiver now.\n"


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result


def failed(result: Result, exit_code: int) -> str:
    """The error line of a command that exited ``exit_code``; it is one line."""
    assert result.exit_code == exit_code, f"exit {result.exit_code}: {result.output}"
    assert result.stdout == ""
    assert result.stderr.startswith("Error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def as_json(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def invoker(server: RunningServer, env: dict[str, str]) -> Rotor:
    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return run_cli(args, env={**base, **(env or {})})

    base = {**env, **server.credentials_env, "ROTOR_URL": server.url}
    return invoke


def cells(table: str, needle: str) -> list[str]:
    """The cells of the one row of ``table`` that contains ``needle``."""
    (row,) = [line for line in table.splitlines() if needle in line]
    return [cell.strip() for cell in row.split("│")[1:-1]]


@pytest.fixture
def prefix() -> str:
    return f"cli-ntf-{uuid.uuid4().hex[:10]}/"


@pytest.fixture
def rotor(rotor_server: RunningServer, no_default_dir: dict[str, str]) -> Rotor:
    """``rotor ...`` against the shared server, as its admin."""
    return invoker(rotor_server, no_default_dir)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path / "data", env=ONE_ATTEMPT) as started:
        yield started


def test_a_subscription_is_created_listed_shown_and_deleted(rotor: Rotor, prefix: str) -> None:
    created = ok(
        rotor(
            "notification",
            "create",
            "--url",
            NOWHERE,
            "--events",
            "rotation.failed,secret.changed",
            "--event",
            "rotation.overdue",
            "--prefix",
            prefix,
            "--description",
            "pager",
        )
    )
    assert created.stderr == SHOWN_ONCE
    first, second = created.stdout.splitlines()
    match = re.fullmatch(
        rf"Created notification (ntf_\w+): rotation.failed, secret.changed, rotation.overdue "
        rf"to {re.escape(NOWHERE)}\.",
        first,
    )
    assert match, first
    notification_id = match[1]
    assert re.fullmatch(r"Signing secret: whsec_[A-Za-z0-9+/=]+", second), second
    signing_secret = second.removeprefix("Signing secret: ")

    try:
        table = ok(rotor("notification", "list")).stdout
        assert cells(table, notification_id)[1:5] == [
            NOWHERE,
            "rotation.failed, secret.changed, rotation.overdue",
            prefix,
            "pager",
        ]
        listed = as_json(rotor("notification", "list", "--json"))
        (mine,) = [n for n in listed if n["id"] == notification_id]
        assert mine["events"] == ["rotation.failed", "secret.changed", "rotation.overdue"]
        assert (mine["prefix"], mine["created_by"]) == (prefix, "admin")
        shown = as_json(rotor("notification", "show", notification_id, "--json"))
        assert shown == mine
        view = ok(rotor("notification", "show", notification_id)).stdout
        for shown_field in (notification_id, NOWHERE, prefix, "pager", "admin"):
            assert shown_field in view
        # The secret is never shown again.
        assert signing_secret not in table + json.dumps(listed) + view
        assert "secret" not in shown
    finally:
        deleted = ok(rotor("notification", "delete", notification_id)).stdout
    assert deleted == f"Deleted notification {notification_id} and its deliveries.\n"
    failed(rotor("notification", "show", notification_id), 3)
    failed(rotor("notification", "delete", notification_id), 3)
    assert notification_id not in {
        n["id"] for n in as_json(rotor("notification", "list", "--json"))
    }


def test_create_prints_json_for_scripts(rotor: Rotor, prefix: str) -> None:
    created = as_json(
        rotor(
            "notification",
            "create",
            "--url",
            NOWHERE,
            "--events",
            "*",
            "--prefix",
            prefix,
            "--json",
        )
    )
    try:
        assert created["secret"].startswith("whsec_")
        assert (created["events"], created["prefix"], created["url"]) == (["*"], prefix, NOWHERE)
    finally:
        ok(rotor("notification", "delete", created["id"]))


def test_refusals_exit_with_their_codes_and_one_line(
    rotor: Rotor, prefix: str, rotor_server: RunningServer
) -> None:
    create = ("notification", "create", "--prefix", prefix)
    unknown = failed(
        rotor(*create, "--url", NOWHERE, "--events", "secret.changed,rotation.exploded"), 2
    )
    assert "unknown event type 'rotation.exploded'" in unknown
    assert "http" in failed(
        rotor(*create, "--url", "http://hooks.example.com/x", "--event", "*"), 2
    )
    assert "--events" in failed(rotor(*create, "--url", NOWHERE), 2)
    assert "state must be one of" in failed(
        rotor("notification", "deliveries", "--state", "lost"), 2
    )
    both = rotor("notification", "retry", "1", "--notification", "ntf_x")
    assert "not both" in failed(both, 2)
    assert "DELIVERY_ID" in failed(rotor("notification", "retry"), 2)

    assert "not found" in failed(rotor("notification", "show", "ntf_missing"), 3)
    failed(rotor("notification", "delete", "ntf_missing"), 3)
    failed(rotor("notification", "retry", "--notification", "ntf_missing"), 3)
    failed(rotor("notification", "retry", "999999999"), 3)

    user = f"cli-ntf-user-{uuid.uuid4().hex[:8]}"
    ok(rotor("principal", "create", user))
    key = as_json(rotor("access-key", "create", user, "--json"))
    as_user = {
        "ROTOR_ACCESS_KEY_ID": key["access_key_id"],
        "ROTOR_ACCESS_KEY_SECRET": key["access_key_secret"],
    }
    denied = failed(rotor(*create, "--url", NOWHERE, "--event", "*", env=as_user), 5)
    assert "rotor:CreateNotification" in denied
    failed(rotor("notification", "list", env=as_user), 5)
    failed(rotor("notification", "deliveries", env=as_user), 5)
    # Nothing was created by any of them.
    listed = as_json(rotor("notification", "list", "--json"))
    assert all(n["prefix"] != prefix for n in listed)


def test_an_event_is_delivered_and_verified_with_the_printed_secret(
    server: RunningServer, receiver: Receiver, prefix: str, no_default_dir: dict[str, str]
) -> None:
    rotor = invoker(server, no_default_dir)
    created = ok(
        rotor(
            "notification",
            "create",
            "--url",
            receiver.url,
            "--events",
            "secret.created",
            "--prefix",
            prefix,
        )
    )
    first, second = created.stdout.splitlines()
    notification_id = first.split()[2].rstrip(":")
    signing_secret = second.removeprefix("Signing secret: ")
    with server.client() as client:
        client.create_secret(f"{prefix}db", value="s3cret-value-never-sent")
    received = receiver.wait_for("secret.created")
    event = received.verified(signing_secret)
    assert event["data"]["secret"] == f"{prefix}db"

    def delivered() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = as_json(
            rotor("notification", "deliveries", "--notification", notification_id, "--json")
        )
        return [d for d in found if d["state"] == "delivered"]

    (delivery,) = wait_until(delivered, "the delivery to be recorded as delivered")
    assert (delivery["attempts"], delivery["last_status"], delivery["last_error"]) == (1, 200, None)
    assert delivery["event"]["id"] == received.headers["webhook-id"]
    assert (delivery["event"]["type"], delivery["event"]["secret"]) == (
        "secret.created",
        f"{prefix}db",
    )
    table = ok(rotor("notification", "deliveries")).stdout
    assert cells(table, notification_id) == [
        str(delivery["id"]),
        notification_id,
        "secret.created",
        f"{prefix}db",
        "delivered",
        "1",
        "HTTP 200",
        "-",
    ]


def test_a_failed_delivery_is_listed_and_retried(
    server: RunningServer, receiver: Receiver, prefix: str, no_default_dir: dict[str, str]
) -> None:
    rotor = invoker(server, no_default_dir)
    created = as_json(
        rotor(
            "notification",
            "create",
            "--url",
            receiver.url,
            "--event",
            "secret.created",
            "--prefix",
            prefix,
            "--json",
        )
    )

    def failures() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = as_json(
            rotor("notification", "deliveries", "--state", "failed", "--json")
        )
        return found

    receiver.status = 500
    with server.client() as client:
        client.create_secret(f"{prefix}db", value="v")
    (delivery,) = wait_until(failures, "the delivery to fail")
    assert (delivery["attempts"], delivery["last_status"]) == (1, 500)
    table = ok(rotor("notification", "deliveries", "--state", "failed")).stdout
    assert cells(table, created["id"]) == [
        str(delivery["id"]),
        created["id"],
        "secret.created",
        f"{prefix}db",
        "failed",
        "1",
        "HTTP 500",
        "-",
    ]
    assert ok(rotor("notification", "deliveries", "--state", "delivered")).stdout == (
        "No deliveries match.\n"
    )

    # Retried while the receiver still fails: it fails again, after one more attempt.
    retried = ok(rotor("notification", "retry", str(delivery["id"]))).stdout
    assert retried == f"Retried delivery {delivery['id']}: it is due now.\n"
    wait_until(
        lambda: len(receiver.of_type("secret.created")) == 2 and failures(), "a second failure"
    )

    receiver.status = 200
    retried = ok(rotor("notification", "retry", "--notification", created["id"])).stdout
    assert retried == f"Retried 1 failed delivery of {created['id']}: due now.\n"

    def delivered() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = as_json(
            rotor("notification", "deliveries", "--state", "delivered", "--json")
        )
        return found

    (done,) = wait_until(delivered, "the retried delivery to arrive")
    assert (done["id"], done["attempts"], done["last_status"]) == (delivery["id"], 1, 200)
    assert len(receiver.of_type("secret.created")) == 3
    assert failures() == []
    nothing = ok(rotor("notification", "retry", "--notification", created["id"])).stdout
    assert nothing == f"No failed deliveries of {created['id']} to retry.\n"
    # Only a failed delivery is retried.
    assert "delivered" in failed(rotor("notification", "retry", str(delivery["id"])), 4)
