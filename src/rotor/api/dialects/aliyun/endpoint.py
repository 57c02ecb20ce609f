"""The KMS-compatible endpoint: signed RPC-style calls on ``/``, beside the native API.

A request is a KMS call when its path is ``/`` (an absolute-form target too) and it
names an action (``Action`` in the query, or ``x-acs-action``). The body is read
(capped), the signature checked under either scheme
(:mod:`rotor.access.aliyun_signature`; nonces in the store, so every node of a shared
store refuses a replay), the key resolved to a rotor principal (status, expiry and
session token checked), then the action runs and answers JSON. Every failure
answers in the dialect's error shape (:mod:`rotor.api.dialects.aliyun.wire`), never with a
stack trace or a value.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from rotor import errors
from rotor.access import aliyun_signature
from rotor.access.keys import Authenticator, Identity
from rotor.api import secret_reads
from rotor.api.bodies import ClientGone, read_capped
from rotor.api.dialects.aliyun import actions, wire
from rotor.api.dialects.aliyun.call import Call
from rotor.api.dialects.aliyun.wire import KmsError
from rotor.rotation.engine import Engine
from rotor.rotation.scheduler import Scheduler
from rotor.settings import Settings
from rotor.store import nonces

log = logging.getLogger("rotor.api.dialects.aliyun")

#: Parameters every action takes besides its own (the V1 SDK always sends RegionId).
COMMON_PARAMETERS = frozenset({"RegionId"})
#: The action whose calls are authenticated from the credential cache (:meth:`KmsEndpoint._read`).
READ = "GetSecretValue"
_JSON = b"application/json;charset=utf-8"


def is_kms_request(scope: Scope) -> bool:
    """Whether the request is a call of the KMS dialect (cheap: no parsing of values)."""
    path: str = scope["path"]
    if path != "/" and not path.startswith(("http://", "https://")):
        return False
    query: bytes = scope["query_string"]
    if query.startswith(b"Action=") or b"&Action=" in query:
        return True
    return any(name == b"x-acs-action" for name, _ in scope["headers"])


class StoredNonces:
    """Signature nonces in the store, shared by every server on it."""

    def __init__(self, ledger: nonces.Ledger) -> None:
        self.ledger = ledger

    def claim(self, access_key_id: str, nonce: str, expires_at: float) -> bool:
        when = dt.datetime.fromtimestamp(expires_at, dt.UTC)
        return self.ledger.claim(access_key_id, nonce, when)


class KmsEndpoint:
    #: The dialect its requests are counted under (:mod:`rotor.metrics`).
    dialect = "kms"

    def __init__(
        self,
        *,
        settings: Settings,
        authenticator: Authenticator,
        engine: Engine,
        scheduler: Scheduler,
        max_body: int,
        on_auth_failure: Callable[[Scope], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.authenticator = authenticator
        self.engine = engine
        self.scheduler = scheduler
        self.max_body = max_body
        self.on_auth_failure = on_auth_failure
        self.nonces = StoredNonces(authenticator.nonces)
        self.verifier = aliyun_signature.Verifier(
            self._signing_key, nonces=self.nonces, check_tokens=False
        )

    def _signing_key(
        self, key_id: str, *, cached: bool = False
    ) -> aliyun_signature.SigningKey | None:
        if len(key_id) > 64:
            return None
        secret = self.authenticator.key_secret(key_id, cached=cached)
        return (
            None
            if secret is None
            else aliyun_signature.SigningKey(access_key_id=key_id, secret=secret)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid: str = scope["rotor.request_id"]
        audit: dict[str, Any] = {"action": f"kms:{_action_hint(scope)}"[:128]}
        scope["rotor.audit"] = audit
        try:
            if scope["method"] not in ("GET", "POST"):
                raise KmsError("UnsupportedHTTPMethod", "Use GET or POST.", 405)
            body = await read_capped(receive, self.max_body)
            request = aliyun_signature.SignedRequest.from_target(
                scope["method"],
                _target(scope),
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
                body,
            )
            # One hop to a thread for the whole call: each hop costs as much as a query.
            result = await asyncio.to_thread(self._serve, request, scope, audit)
            if isinstance(result, errors.RotorError):  # the credentials were refused
                scope["rotor.outcome"] = "unauthenticated"
                await self.on_auth_failure(scope)
                raise result
            status, payload = 200, {"RequestId": rid, **result}
        except ClientGone:
            return
        except Exception as exc:
            error = wire.translate(exc)
            if not isinstance(exc, errors.RotorError | KmsError):
                log.exception("unexpected error on KMS %s", audit["action"])
            elif error.status >= 500:
                log.error("%s on KMS %s: %s", error.code, audit["action"], error.message)
            status, payload = error.status, wire.error_body(error, rid)
            scope["rotor.error_code"] = error.code
        if status == 403:
            scope["rotor.outcome"] = "denied"
        data = json.dumps(payload, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", _JSON),
                    (b"content-length", str(len(data)).encode()),
                    (b"x-acs-request-id", rid.encode()),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    def _serve(
        self, request: aliyun_signature.SignedRequest, scope: Scope, audit: dict[str, Any]
    ) -> dict[str, Any] | errors.RotorError:
        """The call's answer, or the error that refused its credentials (returned, so the
        caller backs off before raising it); a store outage is raised, with no back-off.
        A ``GetSecretValue`` is :meth:`_read`."""
        if audit["action"] == f"kms:{READ}":
            return self._read(request, scope, audit)
        signed = self.authenticator.identify_signed(
            functools.partial(self.verifier.verify, request)
        )
        if isinstance(signed, errors.RotorError):
            return signed
        verified, identity = signed
        scope["rotor.identity"] = identity
        audit["action"] = f"kms:{verified.action}"[:128]
        return self._dispatch(verified, identity, audit)

    def _read(
        self, request: aliyun_signature.SignedRequest, scope: Scope, audit: dict[str, Any]
    ) -> dict[str, Any] | errors.RotorError:
        """A call named ``GetSecretValue`` before its verification, authenticated and run
        together (:func:`secret_reads.folded`): from the credential cache first, its nonce
        claimed once. Only a verified ``GetSecretValue`` runs under the cache; any other
        action the request turns out to name runs once, checked against the store."""
        once: nonces.ClaimOnce[float] = nonces.ClaimOnce(self.nonces.claim)
        verified: list[aliyun_signature.VerifiedRequest] = []
        from_cache: list[bool] = []

        def authenticate(cached: bool) -> Identity:
            from_cache[:] = [cached]
            verifier = aliyun_signature.Verifier(
                functools.partial(self._signing_key, cached=cached),
                nonces=once,
                check_tokens=False,
            )
            signed = self.authenticator.identify_signed(functools.partial(verifier.verify, request))
            if isinstance(signed, errors.RotorError):
                raise signed
            verified[:] = [signed[0]]
            return signed[1]

        def run(identity: Identity) -> dict[str, Any]:
            scope["rotor.identity"] = identity
            call = verified[0]
            audit["action"] = f"kms:{call.action}"[:128]
            if call.action != READ and from_cache[0]:
                raise secret_reads.GenerationMoved()  # checked against the store, then run
            return self._dispatch(call, identity, audit)

        return secret_reads.refused_or_answered(secret_reads.folded(authenticate, run, audit))

    def _dispatch(
        self, verified: aliyun_signature.VerifiedRequest, identity: Identity, audit: dict[str, Any]
    ) -> dict[str, Any]:
        if verified.version != wire.API_VERSION:
            raise KmsError(
                "InvalidVersion",
                f"Specified parameter Version {verified.version!r} is not valid; "
                f"use {wire.API_VERSION}.",
            )
        entry = actions.ACTIONS.get(verified.action)
        if entry is None:
            raise KmsError(
                "InvalidAction.NotFound",
                f"Specified api {verified.action!r} is not found, please check your url "
                "and method.",
                404,
            )
        action, accepted = entry
        given = verified.api_parameters
        flattened = tuple(name for name in accepted if name.endswith("."))
        unknown = sorted(
            name
            for name in set(given) - accepted - COMMON_PARAMETERS
            if not name.startswith(flattened) or name in flattened
        )
        if unknown:
            raise KmsError(
                "InvalidParameter",
                f"{verified.action} does not take the parameter(s) {', '.join(unknown)}.",
            )
        call = Call(
            identity=identity,
            params=wire.Params(given),
            settings=self.settings,
            engine=self.engine,
            scheduler=self.scheduler,
            audit=audit,
        )
        return action(call)


def _action_hint(scope: Scope) -> str:
    """The action the request names, before anything is verified (for the audit event)."""
    for key, value in scope["headers"]:
        if key == b"x-acs-action":
            return str(value.decode("latin-1"))
    query = urllib.parse.parse_qs(scope["query_string"].decode("latin-1"), max_num_fields=1000)
    return str(query.get("Action", [""])[0])


def _target(scope: Scope) -> str:
    """The request target as sent: the raw path (absolute form kept) and raw query."""
    raw: bytes | None = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else str(scope["path"])
    query: bytes = scope["query_string"]
    return f"{path}?{query.decode('latin-1')}" if query else path
