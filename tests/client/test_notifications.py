"""The client's notification methods against a real server: subscriptions created, listed,
shown and deleted with typed results; an event delivered to a real receiver and verified
with the secret the creation returned; a failed delivery listed, paged and retried."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import assert_type

import pytest

import rotor.client
from rotor import errors
from tests.nodes.conftest import wait_until
from tests.services.server import RunningServer, running_server
from tests.services.webhook_receiver import DELIVERING, Receiver

# A receiver on 127.0.0.1 over plain http, one attempt per delivery, quick retries.
#: One attempt: a failed delivery is listed as failed at once.
ONE_ATTEMPT = {**DELIVERING, "ROTOR_NOTIFICATION_ATTEMPTS": "1"}
# Nothing is ever sent there: each subscription of the shared server has a prefix no
# secret has.
NOWHERE = "https://hooks.example.com/rotor"


@pytest.fixture
def prefix() -> str:
    return f"client-ntf-{uuid.uuid4().hex[:10]}/"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path / "data", env=ONE_ATTEMPT) as started:
        yield started


def test_a_subscription_is_created_listed_shown_and_deleted(
    client: rotor.client.Client, prefix: str
) -> None:
    created = client.create_notification(
        NOWHERE, ["rotation.failed", "secret.changed"], prefix=prefix, description="pager"
    )
    assert_type(created, rotor.client.NewNotification)
    assert created.id.startswith("ntf_")
    assert (created.url, created.events, created.prefix) == (
        NOWHERE,
        ("rotation.failed", "secret.changed"),
        prefix,
    )
    assert (created.description, created.created_by) == ("pager", "admin")
    assert created.secret.startswith("whsec_")
    assert created.secret not in repr(created)
    try:
        listed = client.list_notifications()
        assert_type(listed, tuple[rotor.client.Notification, ...])
        (mine,) = [n for n in listed if n.id == created.id]
        # Never shown again: what is listed or shown is a Notification, without a secret.
        assert type(mine) is rotor.client.Notification
        shown = client.get_notification(created.id)
        assert_type(shown, rotor.client.Notification)
        assert shown == mine
        assert shown.created_at == created.created_at
        assert client.retry_notification(created.id) == 0
    finally:
        deleted = client.delete_notification(created.id)
    assert_type(deleted, rotor.client.Notification)
    assert deleted == mine
    with pytest.raises(errors.NotFound):
        client.get_notification(created.id)
    with pytest.raises(errors.NotFound):
        client.delete_notification(created.id)
    with pytest.raises(errors.NotFound):
        client.retry_notification(created.id)


def test_what_the_server_cannot_deliver_is_refused(
    client: rotor.client.Client, prefix: str
) -> None:
    with pytest.raises(errors.InvalidParameter, match=r"'rotation\.exploded'"):
        client.create_notification(NOWHERE, ["rotation.exploded"], prefix=prefix)
    with pytest.raises(errors.InvalidParameter, match="https"):
        client.create_notification("http://hooks.example.com/rotor", ["*"], prefix=prefix)
    with pytest.raises(TypeError, match="list of event types"):
        client.create_notification(NOWHERE, "rotation.failed", prefix=prefix)
    # Checked before sending: an id that would change the path, a state there is not.
    with pytest.raises(errors.InvalidParameter, match="notification id"):
        client.get_notification("../secrets")
    with pytest.raises(errors.InvalidParameter, match="state must be one of"):
        client.list_deliveries(state="lost")
    with pytest.raises(errors.NotFound):
        client.retry_delivery(999_999_999)
    assert all(n.prefix != prefix for n in client.list_notifications())


def test_an_event_is_delivered_signed_with_the_secret_the_creation_returned(
    server: RunningServer, receiver: Receiver, prefix: str
) -> None:
    with server.client() as client:
        created = client.create_notification(receiver.url, ["secret.created"], prefix=prefix)
        client.create_secret(f"{prefix}db", value="s3cret-value-never-sent")
        received = receiver.wait_for("secret.created")
        event = received.verified(created.secret)
        assert event["data"]["secret"] == f"{prefix}db"
        assert received.path == "/hooks/rotor?team=ops"
        assert b"s3cret-value-never-sent" not in received.body

        def delivered() -> list[rotor.client.Delivery]:
            return list(client.iter_deliveries(notification=created.id, state="delivered"))

        (delivery,) = wait_until(delivered, "the delivery to be recorded as delivered")
        assert_type(delivery, rotor.client.Delivery)
        assert (delivery.notification, delivery.attempts, delivery.last_status) == (
            created.id,
            1,
            200,
        )
        assert delivery.last_error is None
        assert delivery.delivered_at is not None
        assert delivery.event.id == received.headers["webhook-id"] == event["id"]
        assert (delivery.event.type, delivery.event.secret) == ("secret.created", f"{prefix}db")


def test_a_failed_delivery_is_listed_paged_and_retried(
    server: RunningServer, receiver: Receiver, prefix: str
) -> None:
    with server.client() as client:
        created = client.create_notification(receiver.url, ["secret.created"], prefix=prefix)

        def in_state(state: str) -> list[rotor.client.Delivery]:
            return list(client.iter_deliveries(notification=created.id, state=state))

        receiver.status = 500
        client.create_secret(f"{prefix}one", value="v")
        (failed,) = wait_until(lambda: in_state("failed"), "the delivery to fail")
        assert (failed.attempts, failed.last_status, failed.last_error) == (1, 500, "HTTP 500")
        assert failed.event.secret == f"{prefix}one"

        receiver.status = 200
        assert client.retry_delivery(failed.id) == 1
        wait_until(lambda: in_state("delivered"), "the retried delivery to arrive")
        with pytest.raises(errors.Conflict, match="delivered"):
            client.retry_delivery(failed.id)

        receiver.status = 500
        client.create_secret(f"{prefix}two", value="v")
        (second,) = wait_until(lambda: in_state("failed"), "the second delivery to fail")
        receiver.status = 200
        assert client.retry_notification(created.id) == 1
        wait_until(lambda: len(in_state("delivered")) == 2, "both deliveries to arrive")
        assert client.retry_notification(created.id) == 0
        assert {r.event["data"]["secret"] for r in receiver.of_type("secret.created")} == {
            f"{prefix}one",
            f"{prefix}two",
        }

        # Newest event first, a page at a time.
        page = client.list_deliveries(notification=created.id, page_size=1)
        assert_type(page, rotor.client.Page[rotor.client.Delivery])
        assert [d.id for d in page.items] == [second.id]
        assert page.next_page_token is not None
        rest = client.list_deliveries(
            notification=created.id, page_size=1, page_token=page.next_page_token
        )
        assert ([d.id for d in rest.items], rest.next_page_token) == ([failed.id], None)
        walked = [d.id for d in client.iter_deliveries(notification=created.id, page_size=1)]
        assert walked == [second.id, failed.id]


def test_the_async_client_has_the_same_operations(rotor_server: RunningServer, prefix: str) -> None:
    async def collect(items: AsyncIterator[rotor.client.Delivery]) -> list[rotor.client.Delivery]:
        return [item async for item in items]

    async def main() -> None:
        async with rotor.client.AsyncClient(
            rotor_server.url,
            access_key_id=rotor_server.access_key_id,
            access_key_secret=rotor_server.access_key_secret,
        ) as client:
            created = await client.create_notification(NOWHERE, ["*"], prefix=prefix)
            assert_type(created, rotor.client.NewNotification)
            try:
                listed = await client.list_notifications()
                assert_type(listed, tuple[rotor.client.Notification, ...])
                assert created.id in {n.id for n in listed}
                shown = await client.get_notification(created.id)
                assert_type(shown, rotor.client.Notification)
                page = await client.list_deliveries(notification=created.id)
                assert_type(page, rotor.client.Page[rotor.client.Delivery])
                assert page.items == ()
                deliveries = client.iter_deliveries(notification=created.id)
                assert_type(deliveries, AsyncIterator[rotor.client.Delivery])
                assert await collect(deliveries) == []
                retried = await client.retry_notification(created.id)
                assert_type(retried, int)
                assert retried == 0
            finally:
                deleted = await client.delete_notification(created.id)
            assert_type(deleted, rotor.client.Notification)
            with pytest.raises(errors.NotFound):
                await client.retry_delivery(999_999_999)

    asyncio.run(main())
