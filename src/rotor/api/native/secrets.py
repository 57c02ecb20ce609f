"""Secrets, versions and stages."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from rotor import errors
from rotor.access.keys import Identity, secret_resource
from rotor.api import openapi, secret_reads
from rotor.api.native import callers, paths, request_bodies, shapes
from rotor.api.openapi import BODY_FAILURES, SECRET_FAILURES, failures
from rotor.settings import Settings
from rotor.store import deletion, stages, versions
from rotor.store import secrets as secrets_store
from rotor.store.database import Store

router = APIRouter(prefix="/v1", tags=["secrets"])
Caller = Annotated[Identity, Depends(callers.caller)]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _parse_tags(raw: list[str]) -> dict[str, str]:
    tags = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise errors.InvalidParameter(f"tag filter {item!r} must be key=value")
        tags[key] = value
    return tags


@router.post(
    "/secrets",
    status_code=201,
    summary="Create a secret",
    responses=failures(
        *BODY_FAILURES, errors.AccessDenied, errors.SecretExists, errors.ValueTooLarge
    ),
)
def create_secret(request: Request, body: request_bodies.CreateSecret, _: Caller) -> JSONResponse:
    callers.authorize(request, "kms:CreateSecret", secret=body.name)
    secret = secrets_store.create_secret(
        _store(request),
        name=body.name,
        secret_type=body.type,
        description=body.description,
        tags=body.tags,
        value=body.decoded(required=False),
        version_id=body.version_id,
    )
    return JSONResponse(shapes.secret_json(secret), status_code=201)


@router.get("/secrets", summary="List secrets", responses=failures())
def list_secrets(
    request: Request,
    _: Caller,
    prefix: str | None = None,
    tag: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    page_size: int = 50,
    page_token: str | None = None,
    include_pending_deletion: bool = False,
) -> JSONResponse:
    request.scope["rotor.audit"] = {"action": "kms:ListSecrets"}
    page = secrets_store.list_secrets(
        _store(request),
        prefix=prefix,
        tags=_parse_tags(tag),
        page_size=page_size,
        page_token=page_token,
        include_pending_deletion=include_pending_deletion,
    )
    return JSONResponse(
        {
            # Only the secrets the caller may list are shown.
            "secrets": [
                shapes.secret_json(s)
                for s in page.items
                if callers.allowed(request, "kms:ListSecrets", secret=s.name)
            ],
            "next_page_token": page.next_page_token,
        }
    )


@router.get(
    paths.SECRET + ":value",
    summary="Read a value",
    responses=failures(*SECRET_FAILURES, errors.DecryptionFailed),
)
def get_value(
    request: Request,
    name: str,
    identity: Caller,
    stage: str | None = None,
    version_id: str | None = None,
) -> Response:
    # Plain reads are answered by the native endpoint before routing, through the same
    # handler; this route documents the operation and answers the rest (e.g. unknown
    # parameters).
    audit: dict[str, object] = {}
    request.scope["rotor.audit"] = audit
    value = secret_reads.read(
        _store(request),
        request.app.state.settings,
        identity,
        secret_reads.Read(name, stage, version_id),
        audit,
    )
    return Response(shapes.value_body(value), media_type="application/json")


@router.post(
    paths.SECRET + ":versions",
    status_code=201,
    summary="Put a value (a new version)",
    responses={
        **openapi.also(200, "This version id already holds this value: nothing changed."),
        **failures(*BODY_FAILURES, *SECRET_FAILURES, errors.VersionConflict, errors.ValueTooLarge),
    },
)
def put_value(
    request: Request, name: str, body: request_bodies.PutValue, _: Caller
) -> JSONResponse:
    # A plain write is answered by the native endpoint before routing, through the same
    # handler; this route documents the operation and answers the rest (bodies the model
    # refuses, other content types, query parameters).
    audit: dict[str, object] = {}
    request.scope["rotor.audit"] = audit
    answer, status = write_value(
        _store(request),
        request.app.state.settings,
        request.scope["rotor.identity"],
        name,
        body,
        audit,
    )
    return JSONResponse(answer, status_code=status)


#: SQLite takes one writer at a time: plain writes run there on one thread of their own,
#: in arrival order, rather than in sixteen threads taking turns on the WriterLock, whose
#: hand-offs cost CPU and tail latency (``bench/write_path.py``).
_SQLITE_WRITES = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rotor-writes")


async def write_value_off_loop(
    store: Store,
    settings: Settings,
    identity: Identity,
    name: str,
    body: request_bodies.PutValue,
    audit: dict[str, object],
) -> tuple[dict[str, Any], int]:
    """:func:`write_value` off the event loop: on the writes' thread on SQLite, in the
    default pool on PostgreSQL (whose writers lock only the rows they change)."""
    work = functools.partial(write_value, store, settings, identity, name, body, audit)
    if not store.is_sqlite:
        return await asyncio.to_thread(work)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        _SQLITE_WRITES, functools.partial(contextvars.copy_context().run, work)
    )


def write_value(
    store: Store,
    settings: Settings,
    identity: Identity,
    name: str,
    body: request_bodies.PutValue,
    audit: dict[str, object],
) -> tuple[dict[str, Any], int]:
    """Put a value as ``identity``: the answer's JSON and status (201 a new version, 200
    this version id already held this value); notes the action, secret and version in
    ``audit`` for the request's audit event."""
    audit["action"] = "kms:PutSecretValue"
    audit["secret_name"] = name
    identity.require(
        "kms:PutSecretValue",
        secret_resource(name, region=settings.region, account=settings.account_id),
    )
    value = body.decoded(required=True)
    assert value is not None
    version, created = versions.put_value(
        store, name, value, version_id=body.version_id, stages=body.stages
    )
    audit["version_id"] = version.version_id
    return shapes.version_json(version), 201 if created else 200


@router.get(
    paths.SECRET + ":versions", summary="List versions", responses=failures(*SECRET_FAILURES)
)
def list_versions(
    request: Request,
    name: str,
    _: Caller,
    page_size: int = 50,
    page_token: str | None = None,
) -> JSONResponse:
    callers.authorize(request, "kms:ListSecretVersionIds", secret=name)
    page = versions.list_versions(_store(request), name, page_size=page_size, page_token=page_token)
    return JSONResponse(
        {
            "versions": [shapes.version_json(v) for v in page.items],
            "next_page_token": page.next_page_token,
        }
    )


@router.post(
    paths.SECRET + ":stage",
    summary="Move or remove a stage",
    responses=failures(*BODY_FAILURES, *SECRET_FAILURES),
)
def update_stage(
    request: Request, name: str, body: request_bodies.UpdateStage, _: Caller
) -> JSONResponse:
    callers.authorize(request, "kms:UpdateSecretVersionStage", secret=name)
    result = stages.update_stage(
        _store(request),
        name,
        body.stage,
        move_to_version=body.move_to_version,
        remove_from_version=body.remove_from_version,
    )
    return JSONResponse({"name": name, "stages": result})


@router.post(
    paths.SECRET + ":restore",
    summary="Cancel a scheduled deletion",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def restore_secret(request: Request, name: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "kms:RestoreSecret", secret=name)
    deletion.restore_secret(_store(request), name)
    return JSONResponse(shapes.secret_json(secrets_store.get_secret(_store(request), name)))


@router.get(
    paths.SECRET,
    summary="Describe a secret",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def describe_secret(request: Request, name: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "kms:DescribeSecret", secret=name)
    return JSONResponse(shapes.secret_json(secrets_store.get_secret(_store(request), name)))


@router.patch(
    paths.SECRET,
    summary="Update description and tags",
    responses=failures(*BODY_FAILURES, *SECRET_FAILURES),
)
def update_secret(
    request: Request, name: str, body: request_bodies.UpdateSecret, _: Caller
) -> JSONResponse:
    callers.authorize(request, "kms:UpdateSecret", secret=name)
    secret = secrets_store.update_secret(
        _store(request), name, description=body.description, tags=body.tags
    )
    return JSONResponse(shapes.secret_json(secret))


@router.delete(
    paths.SECRET,
    summary="Schedule deletion, or delete at once",
    responses=failures(*SECRET_FAILURES),
)
def delete_secret(
    request: Request,
    name: str,
    _: Caller,
    recovery_days: int | None = None,
    force: bool = False,
) -> JSONResponse:
    callers.authorize(request, "kms:DeleteSecret", secret=name)
    store = _store(request)
    before = secrets_store.get_secret(store, name)
    when = deletion.delete_secret(store, name, recovery_days=recovery_days, force=force)
    if force:
        body = shapes.secret_json(before)
        body["delete_after"] = shapes.timestamp(when)
        body["stages"] = {}
        return JSONResponse(body)
    return JSONResponse(shapes.secret_json(secrets_store.get_secret(store, name)))
