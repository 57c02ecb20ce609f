"""The ASGI application: one store, one authenticator, one audit log, one error envelope.

Every failure leaves through :func:`rotor.api.front.error_response`, so each has the
same JSON shape ``{"code", "message", "request_id"}`` and never a stack trace or a value.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

import rotor
from rotor import errors, metrics
from rotor.access.audit import AuditLog
from rotor.access.keys import Authenticator
from rotor.api import docs, openapi
from rotor.api.dialects.aliyun.endpoint import KmsEndpoint, is_kms_request
from rotor.api.dialects.aws.endpoint import AwsEndpoint, is_aws_request
from rotor.api.front import FrontDoor, error_response, log_server_error
from rotor.api.native import access, functions, health, passwords, rotation, sessions
from rotor.api.native import audit as audit_routes
from rotor.api.native import events as event_routes
from rotor.api.native import metrics as metric_routes
from rotor.api.native import nodes as node_routes
from rotor.api.native import notifications as notification_routes
from rotor.api.native import secrets as secret_routes
from rotor.api.native import status as status_routes
from rotor.api.native.endpoint import NativeEndpoint, is_native_request
from rotor.api.throttle import Throttle
from rotor.clock import utcnow
from rotor.notifications.sender import Sender
from rotor.rotation import status
from rotor.rotation.engine import Engine
from rotor.rotation.scheduler import Scheduler
from rotor.settings import Settings
from rotor.store import deletion, events, nodes, principals
from rotor.store.database import Store

log = logging.getLogger("rotor.api")


def _validation_message(exc: RequestValidationError, request: Request) -> errors.RotorError:
    problems = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return errors.MalformedRequest(
                f"the request body is not valid JSON: {err.get('ctx', {}).get('error', 'invalid')}"
            )
        if tuple(err.get("loc", ())) == ("body",):
            if err.get("type") == "missing":
                return errors.InvalidParameter(_missing_body(request))
            return errors.MalformedRequest(
                "the request body must be a JSON object (Content-Type: application/json)"
            )
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        msg = str(err.get("msg", "invalid"))
        problems.append(f"{loc}: {msg}" if loc else msg)
    return errors.InvalidParameter("; ".join(problems[:5]) or "invalid request")


def _missing_body(request: Request) -> str:
    """What an operation's body must hold, naming its required fields."""
    route = request.scope.get("route")
    model = getattr(getattr(route, "body_field", None), "field_info", None)
    fields = getattr(getattr(model, "annotation", None), "model_fields", {})
    required = [name for name, field in fields.items() if field.is_required()]
    if required:
        return f"the request body is missing: a JSON object with {', '.join(required)}"
    return "the request body is missing: a JSON object (at least {})"


#: The methods the API's operations have; any other gets 405 (probed for the Allow header).
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on this path (the framework names only the first
    route's: ``POST`` for ``/v1/secrets``, which also has ``GET``)."""
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]


def _http_error(request: Request, exc: StarletteHTTPException) -> errors.RotorError:
    """The framework's own refusals as rotor errors (the framework never sees a rotor code)."""
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404 or (exc.status_code == 405 and request.method in METHODS):
        # No such operation: the path, or one of the API's methods the path lacks.
        return errors.UnknownOperation(f"no operation {where}")
    if exc.status_code == 405:
        # A method no operation has (TRACE, OPTIONS, PROPFIND...).
        allowed = ", ".join(allowed_methods(request))
        return errors.MethodNotAllowed(
            f"no operation {where}: the method {request.method} is not used by this API; "
            f"this path allows {allowed}"
        )
    if exc.status_code == 400:
        # The body could not be parsed: FastAPI keeps the reason as the cause.
        cause = exc.__cause__
        if isinstance(cause, UnicodeError):
            return errors.MalformedRequest("the request body is not valid UTF-8 JSON")
        if isinstance(cause, RecursionError):
            return errors.MalformedRequest("the request body is JSON nested too deeply")
        return errors.MalformedRequest("the request body cannot be read as JSON")
    return errors.from_response(exc.status_code, None, None)


def create_app(settings: Settings, store: Store | None = None, *, api_url: str = "") -> FrontDoor:
    """The ASGI application; opens (and initialises) the store unless one is given.

    The FastAPI app (routes, OpenAPI document, ``state``) is its ``.app``.

    ``api_url`` is where custom rotation functions reach this server.
    """
    store = store or Store.open(settings)
    # This process among the nodes: its id plus a random part, so that two processes
    # given one node id still hold their rotation leases apart.
    instance = f"{store.node}#{secrets.token_hex(4)}"
    audit = AuditLog(store)
    engine = Engine(
        store, settings, owner=instance, api_url=settings.public_url or api_url, audit=audit
    )
    scheduler = Scheduler(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(
            nodes.register, store, instance, version=rotor.__version__, url=api_url
        )
        audit.start()
        purger = asyncio.create_task(_purge_forever(store, settings))
        metrics.BUILD.labels(rotor.__version__).set(1)
        heartbeat = asyncio.create_task(_beat_forever(store, settings, instance, audit))
        sender = asyncio.create_task(Sender(store, settings, instance).run_forever())
        scheduler.start()
        try:
            yield
        finally:
            for task in (purger, heartbeat, sender):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            stopped = await asyncio.to_thread(scheduler.stop)
            app.state.rotations_abandoned = not stopped
            await asyncio.to_thread(audit.stop)
            try:
                await asyncio.to_thread(nodes.stopped, store, instance)
            except errors.ServiceUnavailable:
                log.warning("could not record this node's stop: the store is unavailable")

    app = FastAPI(
        title="rotor",
        version=rotor.__version__,
        description="Self-hosted secrets manager with credential rotation. Native API.",
        lifespan=lifespan,
        # Served by rotor itself (rotor.api.docs), not from a CDN.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    openapi.install(app)
    app.state.store = store
    app.state.settings = settings
    app.state.instance = instance
    authenticator = Authenticator(store, settings.credential_cache_seconds)
    app.state.authenticator = authenticator
    app.state.engine = engine
    app.state.audit = audit
    app.state.scheduler = scheduler
    app.state.rotations_abandoned = False

    @app.exception_handler(errors.RotorError)
    async def _rotor_error(request: Request, exc: errors.RotorError) -> JSONResponse:
        if exc.http_status >= 500:
            log_server_error(exc, request.scope)
        return error_response(exc, request.scope)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(_validation_message(exc, request), request.scope)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = _http_error(request, exc)
        response = error_response(error, request.scope)
        if isinstance(error, errors.MethodNotAllowed):
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(errors.InternalError(), request.scope)

    app.include_router(health.router)
    app.include_router(secret_routes.router)
    app.include_router(passwords.router)
    app.include_router(rotation.router)
    app.include_router(access.router)
    app.include_router(functions.router)
    app.include_router(sessions.router)
    app.include_router(audit_routes.router)
    app.include_router(node_routes.router)
    app.include_router(status_routes.router)
    app.include_router(event_routes.router)
    app.include_router(metric_routes.router)
    app.include_router(notification_routes.router)
    app.include_router(docs.router)
    # Where each request goes, in one place: the front door (outermost, in front of the
    # framework's own middleware) hands a dialect's request to its endpoint, which
    # authenticates it before anything else; the rest (health, /docs) to the framework.
    throttle = Throttle(settings.auth_failure_max_delay_seconds)
    kms = KmsEndpoint(
        settings=settings,
        authenticator=authenticator,
        engine=engine,
        scheduler=scheduler,
        max_body=settings.max_request_bytes,
        on_auth_failure=throttle.slow_down,
    )
    aws = AwsEndpoint(
        settings=settings,
        store=store,
        scheduler=scheduler,
        authenticator=authenticator,
        max_body=settings.max_request_bytes,
        on_auth_failure=throttle.slow_down,
    )
    native = NativeEndpoint(
        app, settings=settings, store=store, authenticator=authenticator, throttle=throttle
    )
    return FrontDoor(
        app,
        endpoints=[
            (is_native_request, native),
            (is_kms_request, kms),
            (is_aws_request, aws),
        ],
        audit=audit,
        max_body=settings.max_request_bytes,
    )


async def _beat_forever(store: Store, settings: Settings, instance: str, audit: AuditLog) -> None:
    """Record this node's heartbeat, sample the gauges of this process, and note the
    rotations that became overdue, every beat."""
    while True:
        await asyncio.sleep(settings.heartbeat_seconds)
        metrics.AUDIT_QUEUE.set(audit.pending)
        in_use, idle = store.pool_connections()
        metrics.STORE_CONNECTIONS.labels("in_use").set(in_use)
        metrics.STORE_CONNECTIONS.labels("idle").set(idle)
        try:
            await asyncio.to_thread(nodes.heartbeat, store, instance)
        except errors.ServiceUnavailable:
            log.warning("could not record this node's heartbeat: the store is unavailable")
        except Exception:
            log.exception("heartbeat failed; will try again")
        try:
            noted = await asyncio.to_thread(
                status.notice_overdue, store, utcnow(), settings.overdue_grace_timedelta
            )
        except errors.ServiceUnavailable:
            noted = []
        except Exception:
            log.exception("looking for overdue rotations failed; will try again")
            noted = []
        for name in noted:
            log.warning("the rotation of secret %s is overdue: due and not started", name)


async def _purge_forever(store: Store, settings: Settings) -> None:
    retention = dt.timedelta(days=settings.event_retention_days)
    while True:
        try:
            await asyncio.to_thread(deletion.purge, store)
            await asyncio.to_thread(principals.delete_expired_access_keys, store)
            await asyncio.to_thread(events.prune, store, utcnow() - retention)
        except Exception:
            log.exception("purge failed; will try again")
        await asyncio.sleep(settings.purge_interval_seconds)
