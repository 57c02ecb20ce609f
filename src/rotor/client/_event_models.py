"""What ``GET /v1/events`` answers with: the events after a cursor, and the next cursor.

Strict like :mod:`rotor.client._models`: a missing field or a wrong type raises. An event
holds names, ids, stages, a step and an error code, never a secret value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from rotor.client._models import parse_time, text_field


def _seq(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key} is not an integer")
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """One entry of the event log: something that happened to a secret or a rotation."""

    id: str
    """Unique (``evt_...``); a notification of the event carries it as ``webhook-id``."""
    seq: int
    """Its place in the log, which numbers every event in the order they were committed."""
    type: str
    """``secret.changed``, ``rotation.succeeded``, ... (see the API reference)."""
    secret: str | None
    """The secret's name; None for an event of no secret (``master_key.rotated``)."""
    timestamp: dt.datetime
    node: str
    """The node that recorded it."""
    data: Mapping[str, Any]
    """What the type says about it (stages, a rotation id, a step and an error code...)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        body = data["data"]
        if not isinstance(body, Mapping):
            raise TypeError("data is not an object")
        secret = body.get("secret")
        if secret is not None and not isinstance(secret, str):
            raise TypeError("data.secret is not text")
        return cls(
            id=text_field(data, "id"),
            seq=_seq(data["seq"], "seq"),
            type=text_field(data, "type"),
            secret=secret,
            timestamp=parse_time(text_field(data, "timestamp")),
            node=text_field(data, "node"),
            data=dict(body),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class EventBatch:
    """The events after a cursor the caller may see, oldest first, and where to go on."""

    events: tuple[Event, ...]
    next: int
    """The cursor to pass as ``since`` next time (it may be past events not shown)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EventBatch:
        return cls(
            events=tuple(Event.from_json(item) for item in data["events"]),
            next=_seq(data["next"], "next"),
        )
