"""The native ``/v1`` API's endpoint: authentication, then a plain read or the framework.

Every ``/v1`` request is authenticated here before any route or body parser runs,
and sources that keep failing are slowed down (:mod:`rotor.api.throttle`). A bearer
key is checked before the body is read; a signed request
(:mod:`rotor.access.rotor_signature`) signs its body, so its body is read (and capped)
first and replayed to the framework afterwards.

A plain read (``GET /v1/secrets/NAME:value``, with at most ``stage`` or ``version_id``
given once each) is answered right here through :func:`rotor.api.secret_reads.read`,
the handler every dialect's read goes through: the framework's routing and dependency
machinery would be most of what a read costs. Anything else about a read (unknown or
repeated query parameters) goes to the documented route, which calls the same handler.
A plain read, bearer or signed, is authenticated and read together
(:func:`rotor.api.secret_reads.read_folded`), saving the access generation's round trip;
a signed one claims its nonce once however many times it is verified.
A plain write (``POST /v1/secrets/NAME:versions``, ``Content-Type: application/json``,
no query, a body the route's model takes) is answered here too, through the route's
handler (:func:`rotor.api.native.secrets.write_value`); any other goes to the route.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from rotor import errors, protocol
from rotor.access import rotor_signature
from rotor.access.keys import Authenticator, Identity
from rotor.api import secret_reads
from rotor.api.front import forward, log_server_error, read_body, refuse
from rotor.api.native import request_bodies, shapes
from rotor.api.native import secrets as secret_routes
from rotor.api.throttle import Throttle
from rotor.settings import Settings
from rotor.store import nonces, versions
from rotor.store.database import Store

log = logging.getLogger("rotor.api")

_READ_PATH = re.compile(rf"/v1/secrets/([{protocol.NAME_CHARACTERS}]+):value")
_READ_PARAMETERS = frozenset({"stage", "version_id"})
_WRITE_PATH = re.compile(rf"/v1/secrets/([{protocol.NAME_CHARACTERS}]+):versions")
_T = TypeVar("_T")


def is_native_request(scope: Scope) -> bool:
    """The ``/v1`` API, and ``/metrics``, which is authenticated the same way."""
    path: str = scope["path"]
    return path == "/v1" or path.startswith("/v1/") or path == "/metrics"


def plain_read(path: str, query_string: bytes) -> secret_reads.Read | None:
    """The read a plain read request asks for, or None for anything else."""
    match = _READ_PATH.fullmatch(path)
    if match is None:
        return None
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys) or not _READ_PARAMETERS.issuperset(keys):
        return None
    given = dict(pairs)
    return secret_reads.Read(match.group(1), given.get("stage"), given.get("version_id"))


def plain_write(scope: Scope, headers: dict[bytes, bytes]) -> str | None:
    """The secret a plain write request puts a value in, or None for anything else."""
    if scope["query_string"] or headers.get(b"content-type") != b"application/json":
        return None
    match = _WRITE_PATH.fullmatch(scope["path"])
    return None if match is None else match.group(1)


class NativeEndpoint:
    #: The dialect its requests are counted under (:mod:`rotor.metrics`).
    dialect = "native"

    def __init__(
        self,
        app: FastAPI,
        *,
        settings: Settings,
        store: Store,
        authenticator: Authenticator,
        throttle: Throttle,
    ) -> None:
        self.app = app
        self.settings = settings
        self.max_body = settings.max_request_bytes
        self.store = store
        self.authenticator = authenticator
        self.verifier = rotor_signature.Verifier(authenticator)
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await refuse(errors.RequestTooLarge(), scope, receive, send)
            return
        authorization = _text(headers.get(b"authorization"))
        token = _text(headers.get(b"x-rotor-security-token"))
        body: bytes | None = None
        signed = rotor_signature.is_signed(authorization)
        if scope["method"] == "GET":
            read = plain_read(scope["path"], scope["query_string"])
            if read is not None:
                await self._plain_read(read, signed, authorization, token, scope, receive, send)
                return
        try:
            if signed:
                body = await read_body(scope, receive, send, self.max_body)
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
                identity = await self._store_work(
                    self.authenticator.authenticate_bearer, authorization, token
                )
        except errors.RotorError as exc:
            if isinstance(exc, errors.ServiceUnavailable):  # the store's fault, not theirs
                log_server_error(exc, scope)
            else:
                await self.throttle.slow_down(scope)
            await refuse(exc, scope, receive, send)
            return
        scope["rotor.identity"] = identity
        if scope["method"] == "POST" and (name := plain_write(scope, headers)) is not None:
            await self._write(name, identity, body, scope, receive, send)
            return
        await forward(self.app, scope, receive, send, body=body, limit=self.max_body)

    async def _store_work(self, work: Callable[..., _T], *args: Any) -> _T:
        """Run ``work``, which reads the store: in a thread on PostgreSQL, where each round
        trip on the event loop would stall every other connection; inline on SQLite, whose
        reads are cheaper than a thread hop (``bench/write_path.py`` measures both)."""
        if self.store.is_sqlite:
            return work(*args)
        return await asyncio.to_thread(work, *args)

    async def _plain_read(
        self,
        read: secret_reads.Read,
        signed: bool,
        authorization: str | None,
        token: str | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """A plain read, authenticated and read together (:func:`secret_reads.read_folded`):
        a bearer one where reads of the store go (:meth:`_store_work`), a signed one in a
        thread (its nonce's claim waits for its transaction), claiming its nonce once."""
        authenticate: Callable[[bool], Identity]
        if signed:
            body = await read_body(scope, receive, send, self.max_body)
            if body is None:
                return  # refused as too large, or the client went away
            once: nonces.ClaimOnce[dt.datetime] = nonces.ClaimOnce(self.authenticator.nonces.claim)

            def authenticate(cached: bool) -> Identity:
                return self.verifier.authenticate(
                    authorization=authorization or "",
                    method="GET",
                    path=_raw_path(scope),
                    query=scope["query_string"].decode("latin-1"),
                    body=body,
                    security_token=token,
                    cached=cached,
                    claim_nonce=once.claim,
                )
        else:

            def authenticate(cached: bool) -> Identity:
                return self.authenticator.authenticate_bearer(authorization, token, cached=cached)

        audit: dict[str, object] = {}
        scope["rotor.audit"] = audit
        work = functools.partial(
            secret_reads.read_folded, self.store, self.settings, authenticate, read, audit
        )
        try:
            outcome = await (asyncio.to_thread(work) if signed else self._store_work(work))
        except Exception as exc:  # the store is unavailable, or a bug
            await _refuse_plain(exc, scope, receive, send)
            return
        if outcome.identity is None:
            scope.pop("rotor.audit")  # refused before any read, as on every other route
            await self.throttle.slow_down(scope)
            assert outcome.error is not None
            await refuse(outcome.error, scope, receive, send)
            return
        scope["rotor.identity"] = outcome.identity
        if outcome.value is None:
            assert outcome.error is not None
            await _refuse_plain(outcome.error, scope, receive, send)
            return
        await self._answer(outcome.value, scope, send)

    async def _write(
        self,
        name: str,
        identity: Identity,
        body: bytes | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if body is None:
            body = await read_body(scope, receive, send, self.max_body)
            if body is None:
                return
        try:  # as the framework parses it; what the model refuses, the route answers
            parsed = request_bodies.PutValue.model_validate(json.loads(body))
        except Exception:
            await forward(self.app, scope, receive, send, body=body, limit=self.max_body)
            return
        audit: dict[str, object] = {}
        scope["rotor.audit"] = audit
        try:
            answer, status = await secret_routes.write_value_off_loop(
                self.store, self.settings, identity, name, parsed, audit
            )
        except Exception as exc:
            await _refuse_plain(exc, scope, receive, send)
            return
        response = JSONResponse(answer, status_code=status)
        response.headers["X-Request-Id"] = scope["rotor.request_id"]
        await response(scope, receive, send)

    async def _answer(self, value: versions.SecretValue, scope: Scope, send: Send) -> None:
        body = shapes.value_body(value)
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


async def _refuse_plain(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a plain read's or write's error; a server's fault is logged, and a bug answers
    InternalError."""
    if not isinstance(exc, errors.RotorError):
        log.error("unexpected error on %s %s", scope["method"], scope["path"], exc_info=exc)
        exc = errors.InternalError()
    elif exc.http_status >= 500:
        log_server_error(exc, scope)
    await refuse(exc, scope, receive, send)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _raw_path(scope: Scope) -> str:
    """The path as the client sent it (percent-encoding kept), which a signature covers."""
    raw: bytes | None = scope.get("raw_path")
    return raw.decode("utf-8", "replace") if raw else str(scope["path"])
