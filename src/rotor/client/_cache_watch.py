"""A :class:`rotor.client.SecretCache`'s subscription to the event log (``watch=True``).

One daemon thread follows ``GET /v1/events`` with long polls (:data:`WAIT_SECONDS`) and,
for each event that changes what a read returns (:data:`CHANGES`), makes the cache fetch
that secret again on its next read. It first asks for the cursor of the newest event,
then makes the cache fetch again whatever it fetched before asking (a change between
such a fetch and the cursor would otherwise be missed), and from then on keeps its
cursor, also across failures, so the events of an outage are applied once it ends.

When the stream fails (the server unreachable or answering 5xx, a key that may not
``rotor:ListEvents`` (403), a server without the events API (404)...), the cache goes on
as without a subscription, refreshing each value after its refresh interval; the failure
is logged once at WARNING (its message: never a value or a key secret), and the stream
is tried again after a capped exponential backoff, then logged at INFO once it follows
again.

The thread runs an event loop of its own with an :class:`rotor.client.AsyncClient` twin
of the cache's client (the same server, key, timeouts and TLS, connections of its own),
so that :meth:`Watch.stop` ends it at once by cancelling the poll, rather than waiting
up to a long poll for its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from rotor import errors
from rotor.client.client import AsyncClient, Client

logger = logging.getLogger("rotor.client.cache")

#: The event types after which a read of the secret may return something else.
CHANGES = (
    "secret.changed",
    "rotation.succeeded",
    "secret.deletion_scheduled",
    "secret.deleted",
    "secret.restored",
)
#: How long each long poll asks the server to wait for an event.
WAIT_SECONDS = 20
#: How long :meth:`Watch.stop` waits for the thread to end.
STOP_SECONDS = 5.0


class Watch:
    """The thread that follows the events of ``client``'s server for a cache.

    ``mark()`` returns a number that orders fetches (every fetch started later has a
    larger one); ``expire(name, before)`` makes the cache fetch again the entries of
    ``name`` (None: every entry) fetched before ``before`` (None: all of them).
    """

    def __init__(
        self,
        client: Client,
        *,
        mark: Callable[[], int],
        expire: Callable[[str | None, int | None], None],
        backoff: float,
        max_backoff: float,
        wait: int = WAIT_SECONDS,
    ) -> None:
        self._http = AsyncClient._twin_of(client)
        self._mark = mark
        self._expire = expire
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.wait = wait
        self.following = False
        """Whether the last poll was answered (the cache is told of changes at once)."""
        self._lock = threading.Lock()
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self.thread = threading.Thread(
            target=self._run, name="rotor-secret-cache-watch", daemon=True
        )
        self.thread.start()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Cancel the poll under way and wait (up to ``timeout``) for the thread to end."""
        with self._lock:
            self._stopped = True
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(task.cancel)
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(self._follow())

    async def _follow(self) -> None:
        with self._lock:
            stopped = self._stopped
            if not stopped:
                self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if stopped:
            await self._http.aclose()
            return
        async with self._http:
            cursor: int | None = None
            failures = 0
            while True:
                mark = self._mark() if cursor is None else None
                try:
                    batch = await self._http.list_events(
                        since=cursor, wait=self.wait if cursor is not None else 0, types=CHANGES
                    )
                except Exception as exc:
                    failures += 1
                    self._broken(exc, first=failures == 1)
                    await asyncio.sleep(min(self.max_backoff, self.backoff * 2.0 ** (failures - 1)))
                    continue
                if failures:
                    logger.info("the secret cache follows the events of %s again", self._http.url)
                failures = 0
                self.following = True
                if mark is not None:
                    self._expire(None, mark)
                for event in batch.events:
                    if event.secret is not None and event.type in CHANGES:
                        self._expire(event.secret, None)
                cursor = batch.next

    def _broken(self, exc: Exception, *, first: bool) -> None:
        self.following = False
        if not first:
            return
        # A rotor error's message names no value or key secret; anything else only by type.
        reason = exc.message if isinstance(exc, errors.RotorError) else type(exc).__name__
        logger.warning(
            "the secret cache cannot follow the events of %s (%s): values are refreshed after "
            "their refresh interval until it can; trying again with backoff",
            self._http.url,
            reason,
        )
