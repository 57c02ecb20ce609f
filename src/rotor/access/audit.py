"""The audit log's writer: events are queued by requests and rotation steps and written
in batches by one thread, so recording never slows the read path nor fails a request.

A request that fails still has its event queued; events are flushed at least every
``FLUSH_SECONDS`` and on shutdown.
"""

from __future__ import annotations

import logging
import threading

from rotor.store import audit
from rotor.store.audit import AuditEvent
from rotor.store.database import Store

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.2
BATCH = 2000


class AuditLog:
    """Events go into a buffer (an append under a lock); one thread writes the buffer
    every ``FLUSH_SECONDS`` in one transaction, or at once when asked to flush."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._buffer: list[AuditEvent] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._written = threading.Condition()
        self._recorded = 0
        self._done = 0
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Events recorded and not yet written."""
        return len(self._buffer)

    def record(self, event: AuditEvent) -> None:
        with self._lock:
            self._buffer.append(event)
            self._recorded += 1

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="audit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping = True
            self._wake.set()
            self._thread.join()
            self._thread = None
        self._write_pending()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event recorded so far is written (queries, tests, shutdown)."""
        with self._lock:
            target = self._recorded
        if self._thread is None:
            self._write_pending()
            return True
        self._wake.set()
        with self._written:
            return self._written.wait_for(lambda: self._done >= target, timeout)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            self._write_pending()

    def _write_pending(self) -> None:
        while True:
            with self._lock:
                batch, self._buffer = self._buffer[:BATCH], self._buffer[BATCH:]
            if not batch:
                return
            self._write(batch)

    def _write(self, batch: list[AuditEvent]) -> None:
        for attempt in range(5):
            try:
                audit.insert_events(self.store, batch)
                break
            except Exception:
                log.exception(
                    "could not write %d audit events (attempt %d)", len(batch), attempt + 1
                )
                threading.Event().wait(0.5 * (attempt + 1))
        with self._written:
            self._done += len(batch)
            self._written.notify_all()
