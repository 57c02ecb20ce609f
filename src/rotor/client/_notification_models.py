"""What the notification operations answer with: subscriptions and their deliveries.

Strict like :mod:`rotor.client._models`: a missing field or a wrong type raises. A
subscription's signing secret is in :class:`NewNotification` only (the answer to its
creation, the one time the server shows it), and no repr shows it. A delivery's event is
the :class:`rotor.client.Event` the events API lists: names, ids, stages, a step and an
error code, never a secret value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from rotor.client._event_models import Event
from rotor.client._models import parse_time, text_field

DELIVERY_STATES = ("pending", "delivered", "failed")
"""Every state of a delivery: due (now or at ``next_attempt_at``), delivered, or failed
after its last attempt, when it waits for a retry."""


def _names(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{key} is not a list of text")
    return tuple(value)


def _integer(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is not an integer")
    return value


def _optional_integer(value: Any, key: str) -> int | None:
    return None if value is None else _integer(value, key)


def _optional_time(value: Any) -> dt.datetime | None:
    return None if value is None else parse_time(value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Notification:
    """A subscription: where rotor posts the events of the given types (never its secret)."""

    id: str
    """``ntf_...``."""
    url: str
    events: tuple[str, ...]
    """The event types it takes (``rotation.failed``, ...), or ``("*",)`` for all."""
    prefix: str
    """It takes the events of secrets whose names start with this; ``""``: every secret,
    and the events of no secret (``master_key.rotated``)."""
    description: str
    created_by: str
    """The principal that created it."""
    created_at: dt.datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notification:
        return cls(
            id=text_field(data, "id"),
            url=text_field(data, "url"),
            events=_names(data["events"], "events"),
            prefix=text_field(data, "prefix"),
            description=data.get("description") or "",
            created_by=text_field(data, "created_by"),
            created_at=parse_time(text_field(data, "created_at")),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class NewNotification(Notification):
    """A subscription just created, with its signing secret: the only time it is shown."""

    secret: str = dataclasses.field(repr=False)
    """``whsec_...``: the Standard Webhooks key a receiver verifies each request with."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NewNotification:
        created = Notification.from_json(data)
        return cls(
            **{f.name: getattr(created, f.name) for f in dataclasses.fields(Notification)},
            secret=text_field(data, "secret"),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Delivery:
    """One event on its way to one subscription, from the store's outbox."""

    id: int
    notification: str
    """The subscription's id."""
    state: str
    """One of :data:`DELIVERY_STATES`."""
    attempts: int
    """Attempts made since it was queued or last retried."""
    next_attempt_at: dt.datetime
    """When a pending delivery is next posted (past: as soon as a sender is free)."""
    last_attempt_at: dt.datetime | None
    last_status: int | None
    """The HTTP status of the last attempt; None when there was no answer."""
    last_error: str | None
    """Why the last attempt failed (``HTTP 503``, ``no answer within the timeout``...)."""
    delivered_at: dt.datetime | None
    event: Event

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Delivery:
        state = text_field(data, "state")
        if state not in DELIVERY_STATES:
            raise ValueError(f"unknown delivery state {state!r}")
        error = data.get("last_error")
        if error is not None and not isinstance(error, str):
            raise TypeError("last_error is not text")
        return cls(
            id=_integer(data["id"], "id"),
            notification=text_field(data, "notification"),
            state=state,
            attempts=_integer(data["attempts"], "attempts"),
            next_attempt_at=parse_time(text_field(data, "next_attempt_at")),
            last_attempt_at=_optional_time(data.get("last_attempt_at")),
            last_status=_optional_integer(data.get("last_status"), "last_status"),
            last_error=error,
            delivered_at=_optional_time(data.get("delivered_at")),
            event=Event.from_json(data["event"]),
        )
