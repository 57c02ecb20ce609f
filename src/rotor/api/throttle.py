"""Back-off for sources whose authentication keeps failing, shared by every dialect."""

from __future__ import annotations

import asyncio
import time

from starlette.types import Scope

#: Failures from one source before its failed attempts are slowed down.
FREE_FAILURES = 5
FAILURE_MEMORY_SECONDS = 300.0


class Throttle:
    """Only failed attempts wait, so a legitimate key from the same address is never
    locked out; the delay doubles with each failure past ``FREE_FAILURES``.
    """

    def __init__(self, max_delay_seconds: float) -> None:
        self.max_delay_seconds = max_delay_seconds
        self._failures: dict[str, tuple[int, float]] = {}

    def delay_after_failure(self, source: str) -> float:
        now = time.monotonic()
        count, last = self._failures.get(source, (0, now))
        if now - last > FAILURE_MEMORY_SECONDS:
            count = 0
        count += 1
        if len(self._failures) > 10_000:
            self._failures.clear()
        self._failures[source] = (count, now)
        if count <= FREE_FAILURES:
            return 0.0
        return float(min(0.05 * 2 ** (count - FREE_FAILURES), self.max_delay_seconds))

    async def slow_down(self, scope: Scope) -> None:
        """After a failed authentication: wait, if this source keeps failing."""
        delay = self.delay_after_failure(source(scope))
        if delay:
            await asyncio.sleep(delay)


def source(scope: Scope) -> str:
    """The address a request came from."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
