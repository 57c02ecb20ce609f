"""The client's default transport over real sockets: keep-alive, retries and TLS.

``test_transport`` scripts answers through ``httpx.MockTransport``; here a small HTTP/1.1
server on 127.0.0.1 answers instead, so what the connection pool does when the server
drops a kept-alive connection, retries after a 503 and certificate checks are those of
the client as it is shipped.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator

import pytest

import rotor.client
from rotor import errors
from tests.client.test_transport import FAST, SECRET, error_body
from tests.services import tls
from tests.services.server import RunningServer

Answer = tuple[int, dict[str, object]]


class _Wire(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer: Callable[[str, str], Answer], drop_after_first: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.drop_after_first = drop_after_first
        self.requests: list[tuple[int, str, str]] = []
        self.connections = 0
        self.dropped = threading.Event()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(socketserver.StreamRequestHandler):
    server: _Wire

    def handle(self) -> None:
        with self.server.lock:
            self.server.connections += 1
            connection = self.server.connections
        while True:
            line = self.rfile.readline()
            if not line:
                return
            method, target, _ = line.decode("ascii").split(" ", 2)
            length = 0
            while (header := self.rfile.readline()) not in (b"\r\n", b""):
                field, _, value = header.decode("latin-1").partition(":")
                if field.strip().lower() == "content-length":
                    length = int(value)
            self.rfile.read(length)
            with self.server.lock:
                self.server.requests.append((connection, method, target))
            status, body = self.server.answer(method, target)
            content = json.dumps(body).encode()
            self.wfile.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(content)}\r\n\r\n".encode()
                + content
            )
            self.wfile.flush()
            if self.server.drop_after_first and connection == 1:
                # Closed without a "Connection: close": the client still holds it as idle.
                self.connection.shutdown(socket.SHUT_RDWR)
                self.connection.close()
                self.server.dropped.set()
                return


@pytest.fixture
def wire(request: pytest.FixtureRequest) -> Iterator[_Wire]:
    answer, drop = request.param
    server = _Wire(answer, drop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _secret(method: str, target: str) -> Answer:
    return 200, SECRET


_BUSY: list[str] = []


def _busy_once(method: str, target: str) -> Answer:
    if not _BUSY:
        _BUSY.append(target)
        return 503, error_body("ServiceUnavailable")
    return 200, SECRET


def _client(url: str) -> rotor.client.Client:
    return rotor.client.Client(url, access_key_id="RKID", access_key_secret="s", retry=FAST)


@pytest.mark.parametrize("wire", [(_secret, True)], indirect=True)
def test_a_dropped_keep_alive_connection_is_replaced(wire: _Wire) -> None:
    with _client(wire.url) as client:
        assert client.describe_secret("app/db").name == "app/db"
        assert wire.dropped.wait(10)
        # A create is never retried: it is sent on a new connection, not the dropped one.
        assert client.create_secret("app/db").name == "app/db"
        assert client.describe_secret("app/db").name == "app/db"
    assert [(c, m) for c, m, _ in wire.requests] == [(1, "GET"), (2, "POST"), (2, "GET")]


@pytest.mark.parametrize("wire", [(_busy_once, False)], indirect=True)
def test_a_read_is_retried_after_a_503_on_the_same_connection(wire: _Wire) -> None:
    _BUSY.clear()
    with _client(wire.url) as client:
        assert client.describe_secret("app/db").name == "app/db"
    assert [(c, m) for c, m, _ in wire.requests] == [(1, "GET"), (1, "GET")]


def test_tls_with_the_configured_ca(
    tls_server: RunningServer,
    certificates: tls.Certificates,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    other = tls.issue(tmp_path_factory.mktemp("wire-other-ca"), ca_name="another CA")
    key = {
        "access_key_id": tls_server.access_key_id,
        "access_key_secret": tls_server.access_key_secret,
    }
    for bundle in (other.ca, None):
        wrong = rotor.client.Client(tls_server.url, ca_bundle=bundle, environ={}, **key)
        with wrong, pytest.raises(errors.ServerUnreachable, match="could not be verified"):
            wrong.healthz()
    with rotor.client.Client(tls_server.url, ca_bundle=certificates.ca, environ={}, **key) as right:
        assert right.healthz() == "ok"
        assert right.get_caller_identity().principal == "admin"
