"""The ASGI application: one store, one authenticator, one error envelope.

Every failure leaves through :func:`error_response`, so each has the same JSON
shape ``{"code", "message", "request_id"}`` and never a stack trace or a value.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

import rotor
from rotor import errors
from rotor.access.keys import Authenticator
from rotor.api.native import health, passwords, reads, rotation
from rotor.api.native import secrets as secret_routes
from rotor.config import Settings
from rotor.rotation.engine import Engine
from rotor.rotation.scheduler import Scheduler
from rotor.store import deletion, principals
from rotor.store.database import Store

log = logging.getLogger("rotor.api")


def error_response(error: errors.RotorError, request_id: str) -> JSONResponse:
    """The one error envelope."""
    return JSONResponse(
        {"code": error.code, "message": error.message, "request_id": request_id},
        status_code=error.http_status,
    )


def request_id_of(request: Request) -> str:
    rid: str = request.scope.get("rotor.request_id") or secrets.token_hex(8)
    return rid


# Request ids: unique per process start, cheap to make (no system call per request).
_REQUEST_ID_PREFIX = secrets.token_hex(3)
_request_numbers = itertools.count(1)


class RequestContext:
    """Pure ASGI middleware: a request id on every response, authentication of every
    ``/v1`` request before anything else looks at it, and a cap on body size."""

    def __init__(
        self, app: FastAPI, max_body: int, authenticator: Authenticator, store: Store
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.authenticator = authenticator
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = f"{_REQUEST_ID_PREFIX}{next(_request_numbers):010x}"
        scope["rotor.request_id"] = rid
        authorization = None
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_body):
                await self._refuse(errors.RequestTooLarge(), rid, scope, receive, send)
                return
            if name == b"authorization":
                authorization = value.decode("latin-1")
        path: str = scope["path"]
        if path == "/v1" or path.startswith("/v1/"):
            try:
                scope["rotor.identity"] = self.authenticator.authenticate_bearer(authorization)
            except errors.RotorError as exc:
                await self._refuse(exc, rid, scope, receive, send)
                return
            if scope["method"] == "GET" and await self._read(path, rid, scope, receive, send):
                return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            # Bodies are small: read the whole body first, so an over-long chunked body is
            # refused before any handler runs, then replay it.
            chunks = []
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    await self._refuse(errors.RequestTooLarge(), rid, scope, receive, send)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            receive = replay

        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_id)

    async def _read(self, path: str, rid: str, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve ``GET /v1/secrets/NAME:value`` here, without the framework's routing and
        dependency machinery (most of a read's cost); False leaves it to the app's route,
        which documents it and answers the unusual requests (unknown query parameters)."""
        query = reads.parse_read(path, scope["query_string"])
        if query is None:
            return False
        try:
            body = reads.read_value(self.store, *query)
        except errors.RotorError as exc:
            await self._refuse(exc, rid, scope, receive, send)
            return True
        except Exception:
            log.exception("unexpected error on GET %s", path)
            await self._refuse(errors.InternalError(), rid, scope, receive, send)
            return True
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return True

    async def _refuse(
        self, error: errors.RotorError, rid: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = error_response(error, rid)
        response.headers["X-Request-Id"] = rid
        await response(scope, receive, send)


def _validation_message(exc: RequestValidationError) -> errors.RotorError:
    problems = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return errors.MalformedRequest()
        if tuple(err.get("loc", ())) == ("body",) and err.get("type") != "missing":
            return errors.MalformedRequest(
                "the request body must be a JSON object (Content-Type: application/json)"
            )
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        msg = str(err.get("msg", "invalid"))
        problems.append(f"{loc}: {msg}" if loc else msg)
    return errors.InvalidParameter("; ".join(problems[:5]) or "invalid request")


def create_app(
    settings: Settings, store: Store | None = None, *, api_url: str = ""
) -> RequestContext:
    """The ASGI application; opens (and initialises) the store unless one is given.

    The FastAPI app (routes, OpenAPI document, ``state``) is its ``.app``.

    ``api_url`` is where custom rotation functions reach this server.
    """
    store = store or Store.open(settings)
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    engine = Engine(store, settings, owner=owner, api_url=settings.public_url or api_url)
    scheduler = Scheduler(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        purger = asyncio.create_task(_purge_forever(store, settings.purge_interval_seconds))
        scheduler.start()
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            await asyncio.to_thread(scheduler.stop)

    app = FastAPI(
        title="rotor",
        version=rotor.__version__,
        description="Self-hosted secrets manager with credential rotation. Native API.",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.settings = settings
    authenticator = Authenticator(store, settings.credential_cache_seconds)
    app.state.authenticator = authenticator
    app.state.engine = engine
    app.state.scheduler = scheduler

    @app.exception_handler(errors.RotorError)
    async def _rotor_error(request: Request, exc: errors.RotorError) -> JSONResponse:
        if exc.http_status >= 500:
            log.error(
                "%s on %s %s: %s",
                exc.code,
                request.method,
                request.url.path,
                exc.message,
                exc_info=exc.__cause__ is not None,
            )
        return error_response(exc, request_id_of(request))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(_validation_message(exc), request_id_of(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code in (404, 405):
            error: errors.RotorError = errors.UnknownOperation(
                f"no operation {request.method} {request.url.path}"
            )
        else:
            error = errors.from_response(exc.status_code, None, None)
        return error_response(error, request_id_of(request))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(errors.InternalError(), request_id_of(request))

    app.include_router(health.router)
    app.include_router(secret_routes.router)
    app.include_router(passwords.router)
    app.include_router(rotation.router)
    # Outermost, in front of the framework's own middleware: the read path is served
    # here in full, and nothing reaches a route without having been authenticated.
    return RequestContext(
        app, max_body=settings.max_request_bytes, authenticator=authenticator, store=store
    )


async def _purge_forever(store: Store, interval: int) -> None:
    while True:
        try:
            await asyncio.to_thread(deletion.purge, store)
            await asyncio.to_thread(principals.delete_expired_access_keys, store)
        except Exception:
            log.exception("purge failed; will try again")
        await asyncio.sleep(interval)
