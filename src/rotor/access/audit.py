"""The audit log's writer: events are queued by requests and rotation steps and written
in batches by one thread, so recording never slows the read path nor fails a request.

A request that fails still has its event queued; events are flushed at least every
``FLUSH_SECONDS`` and on shutdown.
"""

from __future__ import annotations

import logging
import queue
import threading

from rotor.store import audit
from rotor.store.audit import AuditEvent
from rotor.store.database import Store

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.2
BATCH = 500


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[AuditEvent | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._flushed = threading.Condition()
        self._pending = 0

    def record(self, event: AuditEvent) -> None:
        with self._flushed:
            self._pending += 1
        self._queue.put(event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event recorded so far is written (tests, shutdown)."""
        if self._thread is None:
            self._write(self._drain())
            return True
        with self._flushed:
            return self._flushed.wait_for(lambda: self._pending == 0, timeout)

    def _drain(self, first: AuditEvent | None = None) -> list[AuditEvent]:
        batch = [first] if first is not None else []
        while len(batch) < BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)  # keep the stop signal for the loop
                break
            batch.append(item)
        return batch

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=FLUSH_SECONDS)
            except queue.Empty:
                continue
            if first is None:
                self._write(self._drain())
                return
            self._write(self._drain(first))

    def _write(self, batch: list[AuditEvent]) -> None:
        if not batch:
            return
        for attempt in range(5):
            try:
                audit.insert_events(self.store, batch)
                break
            except Exception:
                log.exception(
                    "could not write %d audit events (attempt %d)", len(batch), attempt + 1
                )
                threading.Event().wait(0.5 * (attempt + 1))
        with self._flushed:
            self._pending -= len(batch)
            self._flushed.notify_all()
