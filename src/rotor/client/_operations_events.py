"""The event log operation of both clients: the events after a cursor, with a long poll.

Defined once, as a function that returns the :class:`_calls.Call` it stands for; its
docstring is the client method's. :mod:`rotor.client.client` makes it a method of
:class:`rotor.client.Client` and of :class:`rotor.client.AsyncClient`. No I/O happens here.
"""

from __future__ import annotations

from collections.abc import Iterable

from rotor.client._calls import Call
from rotor.client._event_models import EventBatch


def list_events(
    *,
    since: int | None = None,
    wait: int = 0,
    prefix: str | None = None,
    types: Iterable[str] | None = None,
) -> Call[EventBatch]:
    """The events after the cursor ``since`` that the caller may see (``rotor:ListEvents``
    on their secrets), oldest first, and ``.next``, the cursor to pass next time.

    Without ``since``, no events and the cursor of the newest one: where a new reader
    starts. ``wait`` (0-30 s) is how long the server may wait for an event when there is
    none yet (a long poll; the read timeout is extended by it). ``prefix`` keeps the
    events of secrets whose names start with it; ``types`` (``secret.changed``,
    ``rotation.succeeded``, ...) those of these types.
    """
    if isinstance(types, str):
        raise TypeError("types is a list of event types, not one string")
    params: list[tuple[str, str]] = []
    if since is not None:
        params.append(("since", str(since)))
    if wait:
        params.append(("wait", str(wait)))
    if prefix:
        params.append(("prefix", prefix))
    params.extend(("type", name) for name in types or ())
    return Call(
        method="GET",
        path="/v1/events",
        params=tuple(params),
        idempotent=True,
        # Without since the server answers at once, whatever wait says.
        wait=wait if since is not None else 0,
        parse=EventBatch.from_json,
    )
