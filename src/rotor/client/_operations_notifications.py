"""The notification operations of both clients: subscriptions, and the outbox of their
deliveries.

A subscription makes the server post the events of the given types (of the secrets under
a prefix) to a URL, signed the Standard Webhooks way with the secret its creation
answers with, once. Each operation is defined here once, as a function that returns the
:class:`_calls.Call` it stands for (:data:`_calls.Pages` for ``iter_deliveries``); its
docstring is the client method's. :mod:`rotor.client.client` makes each one a method of
:class:`rotor.client.Client` and of :class:`rotor.client.AsyncClient`. No I/O happens here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from rotor import errors
from rotor.client._calls import Call, Pages, page_of
from rotor.client._models import Page
from rotor.client._notification_models import (
    DELIVERY_STATES,
    Delivery,
    NewNotification,
    Notification,
)

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def notification_path(notification_id: str, method: str = "") -> str:
    if not isinstance(notification_id, str) or not _ID.fullmatch(notification_id):
        raise errors.InvalidParameter(f"invalid notification id {notification_id!r}")
    return f"/v1/notifications/{notification_id}" + (f":{method}" if method else "")


def _retried(data: Mapping[str, Any]) -> int:
    count = data["retried"]
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError("retried is not an integer")
    return count


# -- subscriptions -----------------------------------------------------------------------------


def create_notification(
    url: str, events: Iterable[str], *, prefix: str = "", description: str = ""
) -> Call[NewNotification]:
    """Subscribe ``url`` to ``events`` (event types such as ``rotation.failed``, or ``["*"]``)
    of the secrets whose names start with ``prefix`` (``""``: every secret, and the events
    of no secret). The result's ``secret`` signs every request: it is never shown again.

    Needs ``rotor:CreateNotification`` on ``rotor:notifications`` and ``rotor:ListEvents``
    on the secrets the prefix covers. The URL must be https to public addresses unless the
    server's ``ROTOR_NOTIFICATION_ALLOWED_TARGETS`` allows it; an unknown event type or a
    URL rotor may not post to raises InvalidParameter.
    """
    if isinstance(events, str):
        raise TypeError("events is a list of event types, not one string")
    return Call(
        method="POST",
        path="/v1/notifications",
        body={"url": url, "events": list(events), "prefix": prefix, "description": description},
        parse=NewNotification.from_json,
    )


def list_notifications() -> Call[tuple[Notification, ...]]:
    """Every subscription, oldest first (never their secrets)."""
    return Call(
        method="GET",
        path="/v1/notifications",
        idempotent=True,
        parse=lambda data: tuple(Notification.from_json(item) for item in data["notifications"]),
    )


def get_notification(notification_id: str) -> Call[Notification]:
    return Call(
        method="GET",
        path=notification_path(notification_id),
        idempotent=True,
        parse=Notification.from_json,
    )


def delete_notification(notification_id: str) -> Call[Notification]:
    """Delete a subscription with its deliveries, sent or not; returns what was deleted."""
    return Call(
        method="DELETE", path=notification_path(notification_id), parse=Notification.from_json
    )


def retry_notification(notification_id: str) -> Call[int]:
    """Make every failed delivery of a subscription due now, with a fresh count of
    attempts; returns how many there were."""
    return Call(method="POST", path=notification_path(notification_id, "retry"), parse=_retried)


# -- deliveries --------------------------------------------------------------------------------


def list_deliveries(
    *,
    state: str | None = None,
    notification: str | None = None,
    page_size: int | None = None,
    page_token: str | None = None,
) -> Call[Page[Delivery]]:
    """One page of deliveries, newest event first: of one state (``failed``: those waiting
    for a retry) and one subscription, when given."""
    if state is not None and state not in DELIVERY_STATES:
        raise errors.InvalidParameter(f"state must be one of {', '.join(DELIVERY_STATES)}")
    params: list[tuple[str, str]] = []
    if state is not None:
        params.append(("state", state))
    if notification is not None:
        notification_path(notification)  # the same check as for the subscription's own path
        params.append(("notification", notification))
    return page_of(
        "/v1/deliveries",
        "deliveries",
        Delivery.from_json,
        params=params,
        page_size=page_size,
        page_token=page_token,
    )


def iter_deliveries(
    *, state: str | None = None, notification: str | None = None, page_size: int | None = None
) -> Pages[Delivery]:
    """Every matching delivery, newest event first, fetching pages as needed."""
    return lambda token: list_deliveries(
        state=state, notification=notification, page_size=page_size, page_token=token
    )


def retry_delivery(delivery_id: int) -> Call[int]:
    """Make a failed delivery due now, with a fresh count of attempts (returns 1);
    Conflict when it is not failed."""
    if isinstance(delivery_id, bool) or not isinstance(delivery_id, int):
        raise errors.InvalidParameter(f"invalid delivery id {delivery_id!r}")
    return Call(method="POST", path=f"/v1/deliveries/{delivery_id}:retry", parse=_retried)
