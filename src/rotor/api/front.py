"""The front door: the outermost ASGI app, in front of the framework.

For every request it assigns a request id (on every response, and in every
error body), caps the body size, and — for every ``/v1`` request, before any
route or body parser runs — authenticates the caller and slows down sources
that keep failing. A bearer key is checked before the body is read; a signed
request (:mod:`rotor.access.rotor_signature`) signs its body, so its body is read (and
capped) first and replayed to the framework afterwards. It writes one audit
event per ``/v1`` request, whatever the outcome. Plain reads
(``GET /v1/secrets/NAME:value``) are authorised and served right here: the
framework's routing and dependency machinery is most of what a read would
otherwise cost.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from rotor import errors
from rotor.access import rotor_signature
from rotor.access.audit import AuditLog
from rotor.access.keys import Authenticator, Identity, secret_resource
from rotor.api.bodies import ClientGone, read_capped
from rotor.api.dialects.aliyun.endpoint import KmsEndpoint, is_kms_request
from rotor.api.native import reads
from rotor.clock import utcnow
from rotor.settings import Settings
from rotor.store.audit import AuditEvent
from rotor.store.database import Store

log = logging.getLogger("rotor.api")

# Request ids: unique per process start, cheap to make (no system call per request).
_REQUEST_ID_PREFIX = secrets.token_hex(3)
_request_numbers = itertools.count(1)

#: Failures from one source before its failed attempts are slowed down.
FREE_FAILURES = 5
FAILURE_MEMORY_SECONDS = 300.0


def error_response(error: errors.RotorError, scope: Scope) -> JSONResponse:
    """The one error envelope ``{"code", "message", "request_id"}``; remembers the code for
    the audit event."""
    scope["rotor.error_code"] = error.code
    rid = scope.get("rotor.request_id", "")
    return JSONResponse(
        {"code": error.code, "message": error.message, "request_id": rid},
        status_code=error.http_status,
    )


class Throttle:
    """Back-off for sources whose authentication keeps failing.

    Only failed attempts wait, so a legitimate key from the same address is never
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


class FrontDoor:
    def __init__(
        self,
        app: FastAPI,
        *,
        settings: Settings,
        store: Store,
        authenticator: Authenticator,
        audit: AuditLog,
    ) -> None:
        self.app = app
        self.settings = settings
        self.max_body = settings.max_request_bytes
        self.store = store
        self.authenticator = authenticator
        self.verifier = rotor_signature.Verifier(authenticator)
        self.audit = audit
        self.throttle = Throttle(settings.auth_failure_max_delay_seconds)
        self.kms = KmsEndpoint(
            settings=settings,
            authenticator=authenticator,
            engine=app.state.engine,
            scheduler=app.state.scheduler,
            max_body=self.max_body,
            on_auth_failure=self._slow_down,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = f"{_REQUEST_ID_PREFIX}{next(_request_numbers):010x}"
        scope["rotor.request_id"] = rid
        path: str = scope["path"]
        native = path == "/v1" or path.startswith("/v1/")
        if not native and not is_kms_request(scope):
            await self._forward(scope, receive, send)
            return
        status = {"code": 500}

        async def send_tracking(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            if native:
                await self._v1(path, scope, receive, send_tracking)
            else:
                await self.kms(scope, receive, send_tracking)
        finally:
            self._audit(scope, status["code"])

    async def _v1(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self._refuse(errors.RequestTooLarge(), scope, receive, send)
            return
        authorization = _text(headers.get(b"authorization"))
        token = _text(headers.get(b"x-rotor-security-token"))
        body: bytes | None = None
        try:
            if rotor_signature.is_signed(authorization):
                body = await self._read_body(scope, receive, send)
                if body is None:
                    return  # refused as too large, or the client went away
                identity = await asyncio.to_thread(
                    self.verifier.authenticate,
                    authorization=authorization or "",
                    method=scope["method"],
                    path=_raw_path(scope),
                    query=scope["query_string"].decode("latin-1"),
                    body=body,
                    security_token=token,
                )
            else:
                identity = self.authenticator.authenticate_bearer(authorization, token)
        except errors.RotorError as exc:
            await self._slow_down(scope)
            await self._refuse(exc, scope, receive, send)
            return
        scope["rotor.identity"] = identity
        if scope["method"] == "GET" and await self._read(path, identity, scope, receive, send):
            return
        await self._forward(scope, receive, send, body)

    async def _slow_down(self, scope: Scope) -> None:
        """After a failed authentication: wait, if this source keeps failing."""
        delay = self.throttle.delay_after_failure(_source(scope))
        if delay:
            await asyncio.sleep(delay)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None once it was refused as too large (or the client left)."""
        try:
            return await read_capped(receive, self.max_body)
        except ClientGone:
            return None
        except errors.RequestTooLarge as exc:
            await self._refuse(exc, scope, receive, send)
            return None

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, body: bytes | None = None
    ) -> None:
        """Hand the request to the framework, with its body read (and capped) first."""
        if body is None and scope["method"] in ("POST", "PUT", "PATCH"):
            body = await self._read_body(scope, receive, send)
            if body is None:
                return
        if body is not None:
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            receive = replay
        header = (b"x-request-id", scope["rotor.request_id"].encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_id)

    async def _read(
        self, path: str, identity: Identity, scope: Scope, receive: Receive, send: Send
    ) -> bool:
        """Serve ``GET /v1/secrets/NAME:value``; False leaves it to the app's route, which
        documents it and answers the unusual requests (unknown or repeated query
        parameters: the route refuses a repeated one, as every /v1 route does)."""
        query = reads.parse_read(path, scope["query_string"])
        if query is None:
            return False
        name = query[0]
        scope["rotor.audit"] = {"action": "kms:GetSecretValue", "secret_name": name}
        try:
            identity.require("kms:GetSecretValue", self.resource(name))
            body, version_id = reads.read_value(self.store, *query)
        except errors.RotorError as exc:
            await self._refuse(exc, scope, receive, send)
            return True
        except Exception:
            log.exception("unexpected error on GET %s", path)
            await self._refuse(errors.InternalError(), scope, receive, send)
            return True
        scope["rotor.audit"]["version_id"] = version_id
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", scope["rotor.request_id"].encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return True

    def resource(self, name: str) -> str:
        return secret_resource(name, region=self.settings.region, account=self.settings.account_id)

    async def _refuse(
        self, error: errors.RotorError, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = error_response(error, scope)
        response.headers["X-Request-Id"] = scope["rotor.request_id"]
        await response(scope, receive, send)

    def _audit(self, scope: Scope, status: int) -> None:
        identity: Identity | None = scope.get("rotor.identity")
        details: dict[str, Any] = scope.get("rotor.audit") or {}
        if "rotor.outcome" in scope:
            outcome = scope["rotor.outcome"]
        elif status == 401:
            outcome = "unauthenticated"
        elif status == 403:
            outcome = "denied"
        elif status < 400:
            outcome = "allowed"
        else:
            outcome = "failed"
        session = identity.function_session if identity else None
        self.audit.record(
            AuditEvent(
                at=utcnow(),
                request_id=scope.get("rotor.request_id"),
                principal=identity.principal_name if identity else None,
                access_key_id=identity.access_key_id if identity else None,
                source=_source(scope),
                action=details.get("action") or f"{scope['method']} {scope['path']}"[:128],
                secret_name=details.get("secret_name"),
                version_id=details.get("version_id"),
                outcome=outcome,
                error_code=scope.get("rotor.error_code"),
                # A rotation function's request: its function, rotation and configurer.
                rotation_id=session.rotation_id if session else None,
                function=session.function if session else None,
                on_behalf_of=session.on_behalf_of if session else None,
            )
        )


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _raw_path(scope: Scope) -> str:
    """The path as the client sent it (percent-encoding kept), which a signature covers."""
    raw: bytes | None = scope.get("raw_path")
    return raw.decode("utf-8", "replace") if raw else str(scope["path"])


def _source(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
