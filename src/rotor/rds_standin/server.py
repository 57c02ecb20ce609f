"""A stand-in for the Alibaba Cloud RDS OpenAPI (2014-08-15), acting on a real MariaDB.

The real RDS API cannot be reached from tests or a laptop; this server speaks its
wire protocol closely enough that the official SDKs work against it unchanged:
RPC-style ``GET``/``POST`` on ``/`` (absolute-form targets too), parameters in
the query and the form body, the action in ``Action`` or ``x-acs-action``, and
signatures verified under both schemes by :mod:`rotor.access.aliyun_signature`
against the configured access keys. Replies are JSON, errors
``{"RequestId", "HostId", "Code", "Message"}`` with the RDS codes and statuses.

Each configured instance id maps to a MariaDB server reached with an admin
account; accounts and privileges are real MariaDB users and grants (see
:mod:`rotor.rds_standin.mariadb` for the mapping). Modelled actions:
``CreateAccount``, ``DeleteAccount``, ``DescribeAccounts``,
``GrantAccountPrivilege``, ``RevokeAccountPrivilege``, ``ResetAccountPassword``
and ``DescribeDBInstances``. Any other action is ``InvalidAction.NotFound``; a
parameter an action does not model is refused with ``UnsupportedOperation``
rather than ignored.

Faults can be injected at run time (:meth:`RdsStandIn.inject`): throttling,
internal errors, unavailability and slow responses, optionally for one action.

Run it with ``python -m rotor.rds_standin --config FILE``; the JSON file
holds ``access_keys`` and ``instances`` (see :meth:`StandInConfig.from_json`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import enum
import json
import logging
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rotor.access import aliyun_request_parts, aliyun_signature
from rotor.rds_standin import actions as rds_actions
from rotor.rds_standin import mariadb as rds_mariadb
from rotor.rds_standin.actions import InstanceConfig
from rotor.rds_standin.mariadb import ApiError, refuse

__all__ = ["Call", "Fault", "InstanceConfig", "RdsStandIn", "StandInConfig", "main", "running"]

log = logging.getLogger(__name__)

API_VERSION = "2014-08-15"
HOST_ID = "rds.aliyuncs.com"
MAX_BODY = 1024 * 1024

# --------------------------------------------------------------------------------------
# Configuration


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class StandInConfig:
    access_keys: tuple[aliyun_signature.SigningKey, ...] = ()
    instances: tuple[InstanceConfig, ...] = ()
    host: str = "127.0.0.1"
    port: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StandInConfig:
        """From a JSON object.

        Keys: ``host`` and ``port`` to listen on (default ``127.0.0.1``, any free
        port); ``access_keys``, a list of ``{"access_key_id", "access_key_secret",
        "security_token"?}``; ``instances``, a list of ``{"instance_id",
        "region_id"?, "host"?, "port"?, "admin_user", "admin_password",
        "engine"?, "engine_version"?, "zone_id"?, "description"?,
        "max_account_name_length"?}``, each the MariaDB behind one RDS instance.
        """
        keys = tuple(
            aliyun_signature.SigningKey(
                access_key_id=str(k["access_key_id"]),
                secret=str(k["access_key_secret"]),
                security_token=k.get("security_token"),
            )
            for k in data.get("access_keys", [])
        )
        instances = tuple(
            InstanceConfig(
                instance_id=str(i["instance_id"]),
                region_id=str(i.get("region_id", "cn-hangzhou")),
                zone_id=str(i.get("zone_id", "")),
                engine=str(i.get("engine", "MariaDB")),
                engine_version=str(i.get("engine_version", "")),
                description=str(i.get("description", "")),
                max_account_name_length=int(i.get("max_account_name_length", 32)),
                target=rds_mariadb.MariaDBTarget(
                    host=str(i.get("host", "127.0.0.1")),
                    port=int(i.get("port", 3306)),
                    admin_user=str(i["admin_user"]),
                    admin_password=str(i["admin_password"]),
                ),
            )
            for i in data.get("instances", [])
        )
        return cls(
            access_keys=keys,
            instances=instances,
            host=str(data.get("host", "127.0.0.1")),
            port=int(data.get("port", 0)),
        )


class Fault(enum.StrEnum):
    """A failure the stand-in can be told to produce."""

    #: 400 ``Throttling.User``, as RDS answers a caller over its rate limit.
    THROTTLING = "throttling"
    #: 500 ``InternalError``.
    INTERNAL_ERROR = "internal-error"
    #: 503 ``ServiceUnavailable``.
    UNAVAILABLE = "unavailable"
    #: Handle the request, then wait ``delay_seconds`` (or until :meth:`RdsStandIn.release`)
    #: before answering: a caller that times out never learns that the action happened.
    SLOW = "slow"


_FAULT_REPLIES: dict[Fault, tuple[int, str, str]] = {
    Fault.THROTTLING: (400, "Throttling.User", "Request was denied due to user flow control."),
    Fault.INTERNAL_ERROR: (
        500,
        "InternalError",
        "The request processing has failed due to some unknown error.",
    ),
    Fault.UNAVAILABLE: (
        503,
        "ServiceUnavailable",
        "The request has failed due to a temporary failure of the server.",
    ),
}


@dataclasses.dataclass(kw_only=True)
class _PendingFault:
    fault: Fault
    remaining: int
    action: str | None
    delay_seconds: float


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Call:
    """One request the stand-in answered (for tests to inspect)."""

    action: str
    scheme: aliyun_signature.Scheme | None
    access_key_id: str
    status: int
    code: str


# --------------------------------------------------------------------------------------
# HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: RdsStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A caller that gave up (timeout, killed process) is routine, not a server error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("rds stand-in: client %s went away", client_address)
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without it, keep-alive requests stall for tens of milliseconds (Nagle).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("rds stand-in: " + format, *args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        request_id = str(uuid.uuid4()).upper()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._reply(
                400,
                {"RequestId": request_id, **_error_body("InvalidParameter", "Bad Content-Length.")},
                request_id,
            )
            return
        body = self.rfile.read(length) if length else b""
        request = aliyun_signature.SignedRequest.from_target(
            self.command, self.path, self.headers.items(), body
        )
        status, payload = self.server.standin.handle(request)
        self._reply(status, {"RequestId": request_id, **payload}, request_id)

    def _reply(self, status: int, payload: dict[str, Any], request_id: str) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-acs-request-id", request_id)
        self.end_headers()
        self.wfile.write(data)


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"HostId": HOST_ID, "Code": code, "Message": message}


class RdsStandIn:
    """The stand-in server: start it, point an SDK at :attr:`endpoint`, stop it."""

    def __init__(self, config: StandInConfig) -> None:
        self.config = config
        self._keys = {k.access_key_id: k for k in config.access_keys}
        self._verifier = aliyun_signature.Verifier(self._keys.get)
        self._actions = rds_actions.Actions(config.instances)
        self._faults: list[_PendingFault] = []
        #: Set when slow answers may go out at once (:meth:`release`, :meth:`stop`).
        self._released = threading.Event()
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> RdsStandIn:
        server = _Server((self.config.host, self.config.port), _RequestHandler)
        server.standin = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="rds-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def release(self) -> None:
        """Let every held slow answer go out now (and later ones without waiting)."""
        self._released.set()

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> RdsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """``host:port``, what the SDKs take as their endpoint."""
        if self._server is None:
            raise RuntimeError("the RDS stand-in is not running")
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    # -- test controls ------------------------------------------------------------------

    def add_access_key(self, key: aliyun_signature.SigningKey) -> None:
        with self._lock:
            self._keys[key.access_key_id] = key

    def inject(
        self,
        fault: Fault,
        *,
        times: int = 1,
        action: str | None = None,
        delay_seconds: float = 1.0,
    ) -> None:
        """Answer the next ``times`` requests (of ``action``, if given) with ``fault``."""
        with self._lock:
            self._faults.append(
                _PendingFault(
                    fault=fault, remaining=times, action=action, delay_seconds=delay_seconds
                )
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def calls_of(self, action: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.action == action]

    # -- handling -----------------------------------------------------------------------

    def _take_fault(self, action: str) -> _PendingFault | None:
        with self._lock:
            for pending in self._faults:
                if pending.action in (None, action) and pending.remaining > 0:
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        self._faults.remove(pending)
                    return pending
        return None

    def handle(self, request: aliyun_signature.SignedRequest) -> tuple[int, dict[str, Any]]:
        """(status, body without RequestId) for one request."""
        action = request.headers.get("x-acs-action", "")
        scheme: aliyun_signature.Scheme | None = None
        key_id = ""
        try:
            if request.path != "/":
                raise refuse(
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                    404,
                )
            try:
                verified = self._verifier.verify(request)
            except aliyun_request_parts.SignatureRejected as exc:
                raise refuse(exc.acs_code, exc.message, exc.acs_status) from None
            action, scheme, key_id = verified.action, verified.scheme, verified.access_key_id
            if verified.version != API_VERSION:
                raise refuse("InvalidVersion", "Specified parameter Version is not valid.")
            if verified.format and verified.format.lower() != "json":
                raise refuse("UnsupportedOperation", "The RDS stand-in answers in JSON only.")
            fault = self._take_fault(action)
            if fault is not None and fault.fault is not Fault.SLOW:
                status, code, message = _FAULT_REPLIES[fault.fault]
                raise refuse(code, message, status)
            try:
                body = self._actions.run(action, verified.api_parameters)
            finally:
                if fault is not None:
                    # At most delay_seconds: a test can make it "until released", so a
                    # caller's timeout always comes first, however loaded the machine.
                    self._released.wait(fault.delay_seconds)
            status, code = 200, ""
        except ApiError as exc:
            status, code, body = (
                exc.acs_status,
                exc.acs_code,
                _error_body(exc.acs_code, exc.message),
            )
        except Exception:
            log.exception("rds stand-in: %s failed", action or "request")
            status, code = 500, "InternalError"
            body = _error_body(code, "The request processing has failed due to some unknown error.")
        with self._lock:
            self.calls.append(
                Call(action=action, scheme=scheme, access_key_id=key_id, status=status, code=code)
            )
        return status, body


@contextlib.contextmanager
def running(config: StandInConfig) -> Iterator[RdsStandIn]:
    """A started stand-in, stopped on exit."""
    with RdsStandIn(config) as standin:
        yield standin


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rotor.rds_standin",
        description="Serve a stand-in of the Alibaba Cloud RDS OpenAPI backed by MariaDB.",
    )
    parser.add_argument("--config", required=True, type=Path, help="JSON configuration file")
    parser.add_argument("--port", type=int, help="port to listen on (overrides the file)")
    args = parser.parse_args(argv)
    data = json.loads(args.config.read_text())
    if args.port is not None:
        data["port"] = args.port
    config = StandInConfig.from_json(data)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with running(config) as standin:
        instances = ", ".join(i.instance_id for i in config.instances) or "none"
        print(f"RDS stand-in listening on {standin.url} (instances: {instances})", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
