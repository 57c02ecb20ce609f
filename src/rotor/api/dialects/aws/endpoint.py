"""The AWS Secrets Manager endpoint: JSON 1.1 calls on ``/``, beside the native API.

A request is a call of this dialect when it is ``POST /`` with
``X-Amz-Target: secretsmanager.<Operation>``. The body is read (capped), the SigV4
signature checked (:mod:`rotor.access.aws_signature`) with rotor's access keys, the
key resolved to a rotor principal (status, expiry and session token checked), then the
operation (:mod:`rotor.api.dialects.aws.operations`) runs and answers JSON. Every
failure answers in the dialect's error shape (:mod:`rotor.api.dialects.aws.wire`),
never with a stack trace or a value. The front door writes the request's audit event
and counts it under the dialect ``aws``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from rotor import errors
from rotor.access import aws_signature
from rotor.access.keys import Authenticator, Identity
from rotor.api import secret_reads
from rotor.api.bodies import ClientGone, read_capped
from rotor.api.dialects.aws import operations, wire
from rotor.api.dialects.aws.call import Call
from rotor.api.dialects.aws.wire import AwsError
from rotor.rotation.scheduler import Scheduler
from rotor.settings import Settings
from rotor.store.database import Store

log = logging.getLogger("rotor.api.dialects.aws")

TARGET_PREFIX = "secretsmanager."
#: The operation authenticated from the credential cache (:func:`secret_reads.folded`).
READ = "GetSecretValue"


def _target(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-amz-target":
            return str(value.decode("latin-1"))
    return None


def is_aws_request(scope: Scope) -> bool:
    """Whether the request is a call of the AWS dialect (cheap: no parsing of values)."""
    if scope["path"] != "/" or scope["method"] != "POST":
        return False
    target = _target(scope)
    return target is not None and target.startswith(TARGET_PREFIX)


class AwsEndpoint:
    #: The dialect its requests are counted under (:mod:`rotor.metrics`).
    dialect = "aws"

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        scheduler: Scheduler,
        authenticator: Authenticator,
        max_body: int,
        on_auth_failure: Callable[[Scope], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.store = store
        self.scheduler = scheduler
        self.authenticator = authenticator
        self.max_body = max_body
        self.on_auth_failure = on_auth_failure
        #: Checked against the store, and (for a read) from the credential cache.
        self.verifier = aws_signature.Verifier(authenticator.key_secret)
        self.cached_verifier = aws_signature.Verifier(
            functools.partial(authenticator.key_secret, cached=True)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid: str = scope["rotor.request_id"]
        operation = (_target(scope) or "")[len(TARGET_PREFIX) :]
        audit: dict[str, Any] = {"action": f"secretsmanager:{operation}"[:128]}
        scope["rotor.audit"] = audit
        try:
            body = await read_capped(receive, self.max_body)
            query: bytes = scope["query_string"]
            request = aws_signature.SignedRequest.from_parts(
                scope["method"],
                _raw_path(scope),
                query.decode("latin-1"),
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
                body,
            )
            # One hop to a thread for the whole call: each hop costs as much as a query.
            result = await asyncio.to_thread(self._serve, request, operation, scope, audit)
            if isinstance(result, errors.RotorError):  # the credentials were refused
                scope["rotor.outcome"] = "unauthenticated"
                await self.on_auth_failure(scope)
                raise result
            status, payload = 200, result
        except ClientGone:
            return
        except Exception as exc:
            error = wire.translate(exc)
            if not isinstance(exc, errors.RotorError | AwsError):
                log.exception("unexpected error on AWS %s", audit["action"])
            elif error.status >= 500:
                log.error("%s on AWS %s: %s", error.aws_type, audit["action"], error.message)
            status, payload = error.status, wire.error_body(error)
            scope["rotor.error_code"] = error.aws_type
            if error.aws_type == wire.ACCESS_DENIED:
                scope["rotor.outcome"] = "denied"
        data = json.dumps(payload, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", wire.CONTENT_TYPE),
                    (b"content-length", str(len(data)).encode()),
                    (b"x-amzn-requestid", rid.encode()),
                    (b"x-request-id", rid.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    def _serve(
        self,
        request: aws_signature.SignedRequest,
        operation: str,
        scope: Scope,
        audit: dict[str, Any],
    ) -> dict[str, Any] | errors.RotorError:
        """The call's answer, or the error that refused its credentials (returned, so the
        caller backs off before raising it); a store outage is raised, with no back-off.
        A ``GetSecretValue`` is authenticated and run together
        (:func:`secret_reads.folded`), from the credential cache first (SigV4 has no nonce:
        verifying again claims nothing)."""
        if operation != READ:
            signed = self.authenticator.identify_signed(
                functools.partial(self.verifier.verify, request)
            )
            if isinstance(signed, errors.RotorError):
                return signed
            scope["rotor.identity"] = signed[1]
            return self._dispatch(operation, request.body, signed[1], audit)

        def authenticate(cached: bool) -> Identity:
            verifier = self.cached_verifier if cached else self.verifier
            signed = self.authenticator.identify_signed(functools.partial(verifier.verify, request))
            if isinstance(signed, errors.RotorError):
                raise signed
            return signed[1]

        def run(identity: Identity) -> dict[str, Any]:
            scope["rotor.identity"] = identity
            return self._dispatch(operation, request.body, identity, audit)

        return secret_reads.refused_or_answered(secret_reads.folded(authenticate, run, audit))

    def _dispatch(
        self, operation: str, body: bytes, identity: Identity, audit: dict[str, Any]
    ) -> dict[str, Any]:
        entry = operations.OPERATIONS.get(operation)
        if entry is None:
            raise AwsError(
                "UnknownOperationException", f"Unknown operation secretsmanager.{operation}."
            )
        try:
            values = json.loads(body or b"{}")
        except ValueError:
            raise AwsError(
                "SerializationException", "The request body is not valid JSON."
            ) from None
        if not isinstance(values, dict):
            raise AwsError("SerializationException", "The request body must be a JSON object.")
        function, accepted = entry
        unknown = sorted(set(values) - accepted)
        if unknown:
            raise AwsError(
                "InvalidParameterException",
                f"{operation} does not take the parameter(s) {', '.join(unknown)}.",
            )
        call = Call(
            identity=identity,
            body=wire.Body(values),
            settings=self.settings,
            store=self.store,
            scheduler=self.scheduler,
            audit=audit,
        )
        return function(call)


def _raw_path(scope: Scope) -> str:
    raw: bytes | None = scope.get("raw_path")
    return raw.decode("latin-1") if raw else str(scope["path"])
