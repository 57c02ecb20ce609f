"""``GET /v1/events``: follow the event log (:mod:`rotor.store.events`), with a long poll.

A reader passes the ``next`` of its last answer as ``since`` and gets the events after
it, oldest first, in the shape notifications post
(:func:`rotor.notifications.sender.event_json`). Without ``since`` the answer is at once,
with no events and the cursor of the newest one: where a new reader starts. With
``wait``, a request that finds nothing waits up to that many seconds for an event.

Each event is shown only to a caller allowed ``rotor:ListEvents`` on its secret, an event
of no secret (``master_key.rotated``) only to one allowed it on ``rotor:events``; a caller
whose policies allow ``rotor:ListEvents`` on nothing at all (no statement of theirs names
the action) is refused, as it could never be shown anything. ``seq`` numbers the whole
log, so a gap between two shown is events the caller was not shown, and ``next`` may move
past events it was not shown.

Waiting holds no thread: the store is read in the threadpool, and between reads a
request waits on this process's one :class:`EventWatcher`, which, while anyone waits,
reads the newest ``seq`` every :data:`POLL_SECONDS` and wakes the waiters when it grows.
It reads the store, not a signal of this process, so an event recorded by another node
(another process on the store) wakes them as soon as one recorded here. When the
process stops, :func:`stop_waiting` answers the waiting requests at once (with what they
have: no events, their cursor), so that they do not hold up the server's graceful
shutdown, and every later request does not wait.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from rotor import errors
from rotor.access import policies
from rotor.access.keys import Identity
from rotor.api.native import callers
from rotor.api.openapi import failures
from rotor.notifications import sender
from rotor.store import events
from rotor.store.database import Store

log = logging.getLogger("rotor.api")

router = APIRouter(prefix="/v1", tags=["events"])
Caller = Annotated[Identity, Depends(callers.caller)]

ACTION = "rotor:ListEvents"
#: The resource of events about no secret (``master_key.rotated``).
EVENTS_RESOURCE = "rotor:events"
MAX_WAIT_SECONDS = 30
#: How often the watcher reads the newest ``seq`` while a request waits.
POLL_SECONDS = 0.2
#: Events read for one answer at most (the rest come with the next request), so that a
#: caller shown few of many events does not keep a request reading.
MAX_SCANNED = 10 * events.MAX_BATCH
#: The largest ``seq`` a store holds (a signed 64-bit integer).
MAX_SEQ = 2**63 - 1


class EventWatcher:
    """This process's watch on the event log, for the requests that wait for an event.

    :meth:`wait_past` returns once the log's newest ``seq`` is past a cursor (or at the
    timeout). One task reads :func:`events.last_seq` every :data:`POLL_SECONDS` while a
    request waits, and stops when none does.
    """

    def __init__(
        self, store: Store, *, interval: float = POLL_SECONDS, stopped: bool = False
    ) -> None:
        self.store = store
        self.loop = asyncio.get_running_loop()
        self.stopped = stopped
        """Set when the process stops: nothing waits any more."""
        self.interval = interval
        self._newest = -1
        """The newest ``seq`` read (only grows: pruning may lower the store's)."""
        self._waiting = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def wait_past(self, seq: int, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for an event after ``seq``: the newest ``seq``
        then, or None at the timeout (at once once stopped)."""
        async with self._changed:
            if self.stopped:
                return None
            self._waiting += 1
            if self._task is None:
                self._task = asyncio.create_task(self._poll(), name="rotor-event-watcher")
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: self.stopped or self._newest > seq)
            except TimeoutError:
                return None
            finally:
                self._waiting -= 1
            return None if self.stopped else self._newest

    async def stop(self) -> None:
        """Answer every wait now, and every later one at once."""
        async with self._changed:
            self.stopped = True
            self._changed.notify_all()

    async def _poll(self) -> None:
        while True:
            newest: int | None = None
            try:
                newest = await asyncio.to_thread(events.last_seq, self.store)
            except errors.ServiceUnavailable:
                if not self._failing:  # once per outage, not every 0.2 s
                    log.warning("cannot watch the event log: the store is unavailable")
            except Exception:
                if not self._failing:
                    log.exception("watching the event log failed; will try again")
            self._failing = newest is None
            async with self._changed:
                if newest is not None and newest > self._newest:
                    self._newest = newest
                    self._changed.notify_all()
                if not self._waiting:
                    self._task = None
                    return
            await asyncio.sleep(self.interval)


def watcher(request: Request) -> EventWatcher:
    """The app's watcher, made on first use in the event loop that serves it (an app
    served by one loop after another gets one of each)."""
    state = request.app.state
    found: EventWatcher | None = getattr(state, "event_watcher", None)
    if found is None or found.loop is not asyncio.get_running_loop():
        stopped = getattr(state, "events_stopped", False)
        found = state.event_watcher = EventWatcher(state.store, stopped=stopped)
    return found


async def stop_waiting(app: FastAPI) -> None:
    """The process stops: answer the requests waiting for an event now, and let no later
    one wait (call it before the server waits for its requests to finish)."""
    app.state.events_stopped = True
    found: EventWatcher | None = getattr(app.state, "event_watcher", None)
    if found is not None and found.loop is asyncio.get_running_loop():
        await found.stop()


def may_list_any(identity: Identity) -> bool:
    """Whether some statement of each of the caller's policy layers allows an action
    pattern matching ``rotor:ListEvents`` (on some resource); without one, default deny
    refuses it on every event."""
    action = ACTION.lower()  # actions compare case-insensitively
    return bool(identity.layers) and all(
        any(
            statement.effect == "Allow"
            and any(policies.matches_pattern(p.lower(), action) for p in statement.actions)
            for policy in layer
            for statement in policy.statements
        )
        for layer in identity.layers
    )


def visible(request: Request, event: events.Event) -> bool:
    """Whether the caller may see ``event`` (here, and in a notification delivery)."""
    if event.secret_name is None:
        identity: Identity = request.scope["rotor.identity"]
        return identity.allows(ACTION, EVENTS_RESOURCE)
    return callers.allowed(request, ACTION, secret=event.secret_name)


_TYPE_SCHEMA = {"items": {"type": "string", "enum": ["*", *events.TYPES]}}


@router.get(
    "/events",
    summary="Follow the event log: the events after a cursor, waiting for one if asked",
    responses=failures(errors.AccessDenied),
)
async def list_events(
    request: Request,
    identity: Caller,
    since: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_SEQ,
            description="The `next` of the previous answer; omitted: start at the newest event.",
        ),
    ] = None,
    wait: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="Seconds to wait for an event when there is none yet after `since`.",
        ),
    ] = 0,
    prefix: Annotated[str | None, Query(description="Only events of secrets named so.")] = None,
    types: Annotated[
        list[str],
        Query(
            alias="type",
            description="Only events of these types (repeat it); `*` or omitted: all.",
            json_schema_extra=_TYPE_SCHEMA,
        ),
    ] = [],  # noqa: B006 - FastAPI copies defaults
) -> JSONResponse:
    request.scope["rotor.audit"] = {"action": ACTION}
    if not may_list_any(identity):
        raise errors.AccessDenied(
            f"{identity.principal_name} is not allowed to {ACTION} on any secret or on "
            f"{EVENTS_RESOURCE}"
        )
    wanted = events.validate_types(types) if types else ["*"]
    store: Store = request.app.state.store
    if since is None:
        return _answer([], await asyncio.to_thread(events.last_seq, store))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    cursor, scanned = since, 0
    # Past what the last wake-up said was there: an event pruned meanwhile is not waited
    # for again and again.
    woken_at = since
    while True:
        batch = await asyncio.to_thread(events.after, store, cursor)
        if batch:
            cursor = batch[-1].seq
            scanned += len(batch)
        shown = [
            event
            for event in batch
            if events.matches(wanted, prefix or "", event.type, event.secret_name)
            and visible(request, event)
        ]
        if shown or scanned >= MAX_SCANNED:
            return _answer(shown, cursor)
        if len(batch) == events.MAX_BATCH:
            continue  # more to read at once
        remaining = deadline - loop.time()
        newest = None
        if remaining > 0:
            newest = await watcher(request).wait_past(max(cursor, woken_at), remaining)
        if newest is None:
            return _answer([], cursor)
        woken_at = newest


def _answer(shown: list[events.Event], cursor: int) -> JSONResponse:
    body: dict[str, Any] = {"events": [sender.event_json(e) for e in shown], "next": cursor}
    return JSONResponse(body)
