"""Principals, access keys, policies and their attachments.

Each operation is authorised with its action from :data:`rotor.access.policies.ACTIONS`
on ``rotor:principal/NAME`` (principals, their keys and attachments) or
``rotor:policy/NAME`` (policy documents). Any change to keys, policies or
attachments drops the server's cache of verified keys, so it takes effect with the
next request.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.convertors import Convertor, register_url_convertor

from rotor import errors
from rotor.access import keys, policies
from rotor.access.keys import Identity
from rotor.api import openapi
from rotor.api.native import callers, request_bodies, shapes
from rotor.api.openapi import BODY_FAILURES, failures
from rotor.store import principals
from rotor.store.database import Store

router = APIRouter(prefix="/v1", tags=["access control"])
Caller = Annotated[Identity, Depends(callers.caller)]

POLICY_RESOURCE = "rotor:policy/{name}"
#: The longest an access key may be made to live (a key without expiry lives for ever).
MAX_KEY_LIFETIME_SECONDS = 10 * 365 * 86400


class AccessNameConvertor(Convertor[str]):
    """Principal and policy names and access key ids in paths: never ``/`` nor ``:``."""

    regex = r"[A-Za-z0-9_.@+=\-]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("access", AccessNameConvertor())

PRINCIPAL = "/principals/{name:access}"
POLICY = "/policies/{name:access}"
KEY = "/access-keys/{key_id:access}"


PrincipalName = Annotated[str, openapi.rule(openapi.PRINCIPAL_NAME)]


class CreatePrincipal(request_bodies.Body):
    name: PrincipalName
    kind: Literal["user", "role"] = Field(default="user", description="A user or a role.")


class CreateAccessKey(request_bodies.Body):
    expires_in_seconds: int | None = Field(
        default=None,
        description="The key stops working this long after its creation.",
        json_schema_extra={"minimum": 1, "maximum": MAX_KEY_LIFETIME_SECONDS},
    )


class PutPolicy(request_bodies.Body):
    document: str | dict[str, Any] = Field(
        description="The policy: JSON text (kept exactly as written) or a JSON object."
    )
    description: str = Field(default="", max_length=1024)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _changed(request: Request) -> None:
    """Keys, policies or attachments changed: re-read every key on its next use."""
    authenticator: keys.Authenticator = request.app.state.authenticator
    authenticator.forget()


def principal_resource(name: str) -> str:
    return policies.PRINCIPAL_RESOURCE.format(name=name)


def policy_resource(name: str) -> str:
    return POLICY_RESOURCE.format(name=name)


def principal_json(principal: principals.Principal) -> dict[str, Any]:
    return {
        "name": principal.name,
        "kind": principal.kind,
        "created_at": shapes.timestamp(principal.created_at),
    }


def key_json(key: principals.KeyInfo) -> dict[str, Any]:
    return {
        "access_key_id": key.id,
        "principal": key.principal_name,
        "status": key.status,
        "created_at": shapes.timestamp(key.created_at),
        "expires_at": shapes.timestamp(key.expires_at),
        "session": key.session,
    }


def policy_summary_json(policy: principals.StoredPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "description": policy.description,
        "created_at": shapes.timestamp(policy.created_at),
        "updated_at": shapes.timestamp(policy.updated_at),
    }


def policy_json(policy: principals.StoredPolicy) -> dict[str, Any]:
    return {
        **policy_summary_json(policy),
        "document": json.loads(policy.document),
        "attached_to": list(policy.attached_to),
        # Written in the document, but no rotor operation has them: they grant nothing.
        "unmatched_actions": policies.parse_policy(policy.document).unmatched_actions(),
    }


# -- principals --------------------------------------------------------------------------------


@router.post(
    "/principals",
    status_code=201,
    summary="Create a user or role",
    responses=failures(*BODY_FAILURES, errors.AccessDenied, errors.Conflict),
)
def create_principal(request: Request, body: CreatePrincipal, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:CreatePrincipal", resource=principal_resource(body.name))
    principal = principals.create_principal(_store(request), body.name, body.kind)
    return JSONResponse(principal_json(principal), status_code=201)


@router.get("/principals", summary="List principals", responses=failures())
def list_principals(request: Request, caller: Caller) -> JSONResponse:
    request.scope["rotor.audit"] = {"action": "rotor:ListPrincipals"}
    shown = [
        principal_json(p)
        for p in principals.list_principals(_store(request))
        # Only the principals the caller may list are shown.
        if caller.allows("rotor:ListPrincipals", principal_resource(p.name))
    ]
    return JSONResponse({"principals": shown})


@router.get(
    PRINCIPAL,
    summary="Show a principal, its policies and keys",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def get_principal(request: Request, name: str, caller: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:ListPrincipals", resource=principal_resource(name))
    store = _store(request)
    principal = principals.require_principal(store, name)
    body = principal_json(principal)
    body["policies"] = principals.attached_policy_names(store, principal.id)
    # Its keys (never their secrets) only for a caller who may list them.
    body["access_keys"] = (
        [key_json(k) for k in principals.list_access_keys(store, name)]
        if caller.allows("rotor:ListAccessKeys", principal_resource(name))
        else None
    )
    return JSONResponse(body)


@router.delete(
    PRINCIPAL,
    summary="Delete a principal with its keys",
    responses=failures(errors.AccessDenied, errors.NotFound, errors.Conflict),
)
def delete_principal(request: Request, name: str, caller: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:DeletePrincipal", resource=principal_resource(name))
    if name == caller.principal_name:
        raise errors.Conflict("you cannot delete the principal you are signed in as")
    store = _store(request)
    principal = principals.require_principal(store, name)
    principals.delete_principal(store, name)
    _changed(request)
    return JSONResponse(principal_json(principal))


# -- access keys -------------------------------------------------------------------------------


@router.post(
    PRINCIPAL + "/access-keys",
    status_code=201,
    summary="Create an access key (secret shown once)",
    responses=failures(*BODY_FAILURES, errors.AccessDenied, errors.NotFound),
)
def create_access_key(
    request: Request, name: str, body: CreateAccessKey, _: Caller
) -> JSONResponse:
    callers.authorize(request, "rotor:CreateAccessKey", resource=principal_resource(name))
    expires = body.expires_in_seconds
    if expires is not None and not 1 <= expires <= MAX_KEY_LIFETIME_SECONDS:
        raise errors.InvalidParameter(
            f"expires_in_seconds must be between 1 and {MAX_KEY_LIFETIME_SECONDS}"
        )
    store = _store(request)
    principal = principals.require_principal(store, name)
    key_id, secret, _token = keys.create_access_key(store, principal, expires_in_seconds=expires)
    info = principals.get_access_key_info(store, key_id)
    assert info is not None
    return JSONResponse({**key_json(info), "access_key_secret": secret}, status_code=201)


@router.get(
    PRINCIPAL + "/access-keys",
    summary="List a principal's access keys",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def list_access_keys(request: Request, name: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:ListAccessKeys", resource=principal_resource(name))
    listed = principals.list_access_keys(_store(request), name)
    return JSONResponse({"access_keys": [key_json(k) for k in listed]})


def _key_of(request: Request, key_id: str, action: str) -> principals.KeyInfo:
    """The key, once the caller is allowed ``action`` on its principal."""
    info = principals.get_access_key_info(_store(request), key_id)
    if info is None:
        request.scope["rotor.audit"] = {"action": action}
        raise errors.NotFound(f"access key {key_id!r} not found")
    callers.authorize(request, action, resource=principal_resource(info.principal_name))
    return info


def _set_status(request: Request, key_id: str, status: str) -> JSONResponse:
    _key_of(request, key_id, "rotor:UpdateAccessKey")
    store = _store(request)
    principals.set_access_key_status(store, key_id, status)
    _changed(request)
    info = principals.get_access_key_info(store, key_id)
    if info is None:
        raise errors.NotFound(f"access key {key_id!r} not found")
    return JSONResponse(key_json(info))


@router.post(
    KEY + ":disable",
    summary="Disable an access key",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def disable_access_key(request: Request, key_id: str, _: Caller) -> JSONResponse:
    return _set_status(request, key_id, principals.DISABLED)


@router.post(
    KEY + ":enable",
    summary="Enable an access key again",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def enable_access_key(request: Request, key_id: str, _: Caller) -> JSONResponse:
    return _set_status(request, key_id, principals.ACTIVE)


@router.delete(
    KEY,
    summary="Delete an access key",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def delete_access_key(request: Request, key_id: str, _: Caller) -> JSONResponse:
    info = _key_of(request, key_id, "rotor:DeleteAccessKey")
    principals.delete_access_key(_store(request), key_id)
    _changed(request)
    return JSONResponse(key_json(info))


# -- policies ----------------------------------------------------------------------------------


@router.put(
    POLICY,
    summary="Create or replace a policy",
    responses={
        **openapi.also(201, "The policy is new."),
        **failures(*BODY_FAILURES, errors.AccessDenied),
    },
)
def put_policy(request: Request, name: str, body: PutPolicy, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:CreatePolicy", resource=policy_resource(name))
    principals.validate_principal_name(name)
    text = body.document if isinstance(body.document, str) else json.dumps(body.document, indent=2)
    policies.parse_policy(text)  # refuses an invalid document, naming the problem
    store = _store(request)
    existed = _policy_exists(store, name)
    policy = principals.put_policy(store, name, text, body.description)
    _changed(request)
    return JSONResponse(
        {**policy_json(policy), "created": not existed}, status_code=200 if existed else 201
    )


def _policy_exists(store: Store, name: str) -> bool:
    try:
        principals.get_policy(store, name)
    except errors.NotFound:
        return False
    return True


@router.get("/policies", summary="List policies", responses=failures())
def list_policies(request: Request, caller: Caller) -> JSONResponse:
    request.scope["rotor.audit"] = {"action": "rotor:GetPolicy"}
    shown = [
        policy_summary_json(p)
        for p in principals.list_policies(_store(request))
        if caller.allows("rotor:GetPolicy", policy_resource(p.name))
    ]
    return JSONResponse({"policies": shown})


@router.get(
    POLICY,
    summary="Show a policy, where it is attached, and what grants nothing",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def get_policy(request: Request, name: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:GetPolicy", resource=policy_resource(name))
    return JSONResponse(policy_json(principals.get_policy(_store(request), name)))


@router.delete(
    POLICY,
    summary="Delete a policy that is attached to no principal",
    responses=failures(errors.AccessDenied, errors.NotFound, errors.Conflict),
)
def delete_policy(request: Request, name: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:DeletePolicy", resource=policy_resource(name))
    store = _store(request)
    policy = principals.get_policy(store, name)
    if policy.attached_to:
        raise errors.Conflict(
            f"policy {name!r} is attached to {', '.join(policy.attached_to)}: detach it first"
        )
    principals.delete_policy(store, name)
    _changed(request)
    return JSONResponse(policy_summary_json(policy))


def _attachments(store: Store, name: str) -> dict[str, Any]:
    principal = principals.require_principal(store, name)
    return {"principal": name, "policies": principals.attached_policy_names(store, principal.id)}


@router.put(
    PRINCIPAL + "/policies/" + "{policy:access}",
    summary="Attach a policy",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def attach_policy(request: Request, name: str, policy: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:AttachPolicy", resource=principal_resource(name))
    store = _store(request)
    principals.attach_policy(store, name, policy)
    _changed(request)
    return JSONResponse(_attachments(store, name))


@router.delete(
    PRINCIPAL + "/policies/" + "{policy:access}",
    summary="Detach a policy",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def detach_policy(request: Request, name: str, policy: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:DetachPolicy", resource=principal_resource(name))
    store = _store(request)
    principals.detach_policy(store, name, policy)
    _changed(request)
    return JSONResponse(_attachments(store, name))
