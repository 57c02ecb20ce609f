"""The front door: the outermost ASGI app, in front of the framework.

For every request it assigns a request id (on every response, in every error body,
and on every line logged while the request is served: :mod:`rotor.log_context`) and
picks who answers it, from one table composed in :mod:`rotor.api.app`: the endpoint
of each dialect (the KMS dialect's signed calls on ``/``, the AWS dialect's JSON calls
on ``/``, the native ``/v1`` API), else the framework (health, ``/docs``, the OpenAPI document). Each dialect's endpoint
authenticates its requests before anything else runs; the front door writes one audit
event per dialect request, whatever the outcome, from what the endpoint noted in the
request's scope (who called, the action, the secret and version, the outcome, the
error code).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rotor import errors, log_context, metrics
from rotor.access import policies
from rotor.access.audit import AuditLog
from rotor.access.keys import Identity
from rotor.api.bodies import ClientGone, read_capped
from rotor.api.throttle import source
from rotor.clock import utcnow
from rotor.store.audit import AuditEvent

log = logging.getLogger("rotor.api")

# Request ids: unique per process start, cheap to make (no system call per request).
_REQUEST_ID_PREFIX = secrets.token_hex(3)
_request_numbers = itertools.count(1)

#: The action names a request metric may carry (anything else counts as "other").
_ACTIONS = frozenset(policies.ACTIONS)

#: Which requests an endpoint answers (cheap: no parsing of values).
Matcher = Callable[[Scope], bool]


def error_response(error: errors.RotorError, scope: Scope) -> JSONResponse:
    """The one error envelope ``{"code", "message", "request_id"}``; remembers the code for
    the audit event."""
    scope["rotor.error_code"] = error.code
    rid = scope.get("rotor.request_id", "")
    return JSONResponse(
        {"code": error.code, "message": error.message, "request_id": rid},
        status_code=error.http_status,
    )


def log_server_error(error: errors.RotorError, scope: Scope) -> None:
    """One ERROR line for a 5xx, wherever it is answered (an endpoint, or the framework)."""
    log.error(
        "%s on %s %s: %s",
        error.code,
        scope["method"],
        scope["path"],
        error.message,
        exc_info=error.__cause__ is not None,
    )


async def refuse(error: errors.RotorError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with ``error`` before the framework has seen the request."""
    response = error_response(error, scope)
    response.headers["X-Request-Id"] = scope["rotor.request_id"]
    await response(scope, receive, send)


async def read_body(scope: Scope, receive: Receive, send: Send, limit: int) -> bytes | None:
    """The whole body, or None once it was refused as too large (or the client left)."""
    try:
        return await read_capped(receive, limit)
    except ClientGone:
        return None
    except errors.RequestTooLarge as exc:
        await refuse(exc, scope, receive, send)
        return None


async def forward(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, *, body: bytes | None, limit: int
) -> None:
    """Hand the request to the framework, its body read (and capped) first, the request id
    on its response."""
    if body is None and scope["method"] in ("POST", "PUT", "PATCH"):
        body = await read_body(scope, receive, send, limit)
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

    await app(scope, receive, send_with_id)


class FrontDoor:
    def __init__(
        self,
        app: FastAPI,
        *,
        endpoints: Sequence[tuple[Matcher, ASGIApp]],
        audit: AuditLog,
        max_body: int,
    ) -> None:
        self.app = app
        self.endpoints = tuple(endpoints)
        self.audit = audit
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["rotor.request_id"] = f"{_REQUEST_ID_PREFIX}{next(_request_numbers):010x}"
        # Every line logged while it is served names it, in the threads it uses too.
        with log_context.request(scope["rotor.request_id"]):
            await self._answer(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = next((e for matches, e in self.endpoints if matches(scope)), None)
        if endpoint is None:
            await forward(self.app, scope, receive, send, body=None, limit=self.max_body)
            return
        status = {"code": 500}

        async def send_tracking(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await endpoint(scope, receive, send_tracking)
        finally:
            outcome = self._audit(scope, status["code"])
            dialect = getattr(endpoint, "dialect", "other")
            action = metrics.action_label((scope.get("rotor.audit") or {}).get("action"), _ACTIONS)
            metrics.count_request(dialect, action, outcome, time.perf_counter() - started)

    def _audit(self, scope: Scope, status: int) -> str:
        """Queue the request's audit event; returns its outcome."""
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
        event = AuditEvent(
            at=utcnow(),
            request_id=scope.get("rotor.request_id"),
            principal=identity.principal_name if identity else None,
            access_key_id=identity.access_key_id if identity else None,
            source=source(scope),
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
        self.audit.record(event)
        # A request that acted on several secrets (a batch read) records one event for each.
        for item in details.get("items", ()):
            self.audit.record(
                dataclasses.replace(
                    event,
                    action=item["action"],
                    secret_name=item.get("secret_name"),
                    version_id=item.get("version_id"),
                    outcome=item["outcome"],
                    error_code=item.get("error_code"),
                )
            )
        return str(outcome)
