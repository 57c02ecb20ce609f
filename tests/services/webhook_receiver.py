"""A real local HTTP server that receives notifications, for the notification tests (a
pytest plugin: the ``receiver`` fixture).

It records every POST (headers, body) and answers with a status the test chooses (and a
``Location`` for a redirect). It can be stopped and started again on the same port, to
play a receiver that is down for a while. Signatures are verified by the tests with the
Standard Webhooks package, as a receiver would.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

#: Server settings under which notifications reach a :class:`Receiver`: its address
#: allowed, and retries quick.
DELIVERING = {
    "ROTOR_NOTIFICATION_ALLOWED_TARGETS": "127.0.0.1",
    "ROTOR_NOTIFICATION_RETRY_SECONDS": "0.2",
}


@dataclasses.dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def verified(self, secret: str) -> dict[str, Any]:
        """The event, when its signature verifies under ``secret`` (raises otherwise)."""
        event: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return event

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    # Several nodes post at once: the default backlog (5) would refuse some of them.
    request_queue_size = 128


class Receiver:
    """Receives on 127.0.0.1:``port`` while started."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.status = 200
        self.location: str | None = None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/rotor?team=ops"

    def start(self) -> Receiver:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._arrived:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    receiver._arrived.notify_all()
                    status, location = receiver.status, receiver.location
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def of_type(self, event_type: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.event.get("type") == event_type]

    def wait_for(self, event_type: str, *, timeout: float = 60.0) -> Received:
        """The first receipt of an event of ``event_type`` (waits for it to arrive)."""
        with self._arrived:
            found = self._arrived.wait_for(
                lambda: [r for r in self.received if r.event.get("type") == event_type],
                timeout=timeout,
            )
        if not found:
            raise AssertionError(f"no {event_type} notification within {timeout:.0f} s")
        return found[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A started :class:`Receiver`, stopped after the test."""
    running = Receiver().start()
    try:
        yield running
    finally:
        running.stop()
