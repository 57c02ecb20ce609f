"""Registered functions: custom rotation code an administrator registers, and who may attach it.

``PUT /v1/functions/NAME`` needs ``rotor:RegisterFunction``, ``GET`` needs
``rotor:ListFunctions`` and ``DELETE`` needs ``rotor:RemoveFunction``, each on
``rotor:function/NAME``. A rotation configuration that names a registered function
needs ``rotor:AttachFunction`` on it (:mod:`rotor.access.delegation`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from rotor import errors
from rotor.access.keys import Identity
from rotor.api import openapi
from rotor.api.native import access, callers, request_bodies, shapes
from rotor.api.openapi import BODY_FAILURES, failures
from rotor.protocol import FunctionKind
from rotor.rotation import functions as installed
from rotor.rotation import registrations
from rotor.store import functions
from rotor.store.database import Store

router = APIRouter(prefix="/v1", tags=["functions"])
Caller = Annotated[Identity, Depends(callers.caller)]
FUNCTION = "/functions/{name}"


class RegisterFunction(request_bodies.Body):
    kind: FunctionKind = Field(
        description="python-handler (a handler(event, context) run in its own process), "
        "lambda-handler (the same, in AWS Lambda's convention: a rotation handler written "
        "for AWS Secrets Manager) or http-function (an endpoint that gets each step's event "
        "as a POST)."
    )
    handler: str | None = Field(
        default=None,
        description="python-handler, lambda-handler: module:function or /abs/path/file.py:function",
    )
    python: str | None = Field(
        default=None,
        description="python-handler, lambda-handler: absolute path of the interpreter",
    )
    python_path: list[str] | None = Field(
        default=None,
        description="python-handler, lambda-handler: extra sys.path entries (absolute)",
    )
    url: str | None = Field(default=None, description="http-function: the endpoint")
    headers_secret: request_bodies.SecretName | None = Field(
        default=None, description='http-function: a secret holding {"Headers": {...}}'
    )
    timeout_seconds: float | None = Field(default=None, description="Per step.")
    flow: str | None = Field(default=None, description="The function's own flow (YAML).")
    roles: list[access.PrincipalName] = Field(
        default_factory=list, description="Roles a configuration may give it (Role)."
    )
    secrets: list[str] = Field(
        default_factory=list,
        description="Secret name patterns (* wildcard) a configuration may give it beyond "
        "the rotated secret.",
    )
    description: str = Field(default="", max_length=1024)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def function_json(function: functions.RegisteredFunction) -> dict[str, Any]:
    return {
        "name": function.name,
        "kind": function.kind,
        **{k: v for k, v in function.definition.items() if k != "flow"},
        "custom_flow": "flow" in function.definition,
        "roles": list(function.roles),
        "secrets": list(function.secrets),
        "description": function.description,
        "registered_by": function.registered_by,
        "created_at": shapes.timestamp(function.created_at),
        "updated_at": shapes.timestamp(function.updated_at),
    }


@router.put(
    FUNCTION,
    summary="Register a custom function, or replace its registration",
    responses={
        **openapi.also(201, "The function is newly registered."),
        **failures(
            *BODY_FAILURES,
            errors.AccessDenied,
            errors.DelegationDenied,
            errors.NotFound,
            errors.Conflict,
        ),
    },
)
def register_function(
    request: Request, name: str, body: RegisterFunction, caller: Caller
) -> JSONResponse:
    callers.authorize(request, registrations.REGISTER, resource=registrations.resource(name))
    fields = body.model_dump(exclude={"kind", "roles", "secrets", "description"}, exclude_none=True)
    function, created = registrations.register(
        _store(request),
        request.app.state.settings,
        caller,
        name,
        kind=body.kind,
        fields=fields,
        roles=body.roles,
        secrets=body.secrets,
        description=body.description,
    )
    return JSONResponse(function_json(function), status_code=201 if created else 200)


@router.get("/functions", summary="List registered and installed functions", responses=failures())
def list_functions(request: Request, caller: Caller) -> JSONResponse:
    request.scope["rotor.audit"] = {"action": "rotor:ListFunctions"}
    shown = [
        function_json(f)
        for f in functions.list_functions(_store(request))
        # Only the functions the caller may list are shown.
        if caller.allows("rotor:ListFunctions", registrations.resource(f.name))
    ]
    return JSONResponse({"functions": shown, "installed": sorted(installed.available())})


@router.get(
    FUNCTION,
    summary="Show a registered function",
    responses=failures(errors.AccessDenied, errors.NotFound),
)
def get_function(request: Request, name: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:ListFunctions", resource=registrations.resource(name))
    return JSONResponse(function_json(functions.require_function(_store(request), name)))


@router.delete(
    FUNCTION,
    summary="Remove a registered function no rotation uses",
    responses=failures(errors.AccessDenied, errors.NotFound, errors.Conflict),
)
def remove_function(request: Request, name: str, _: Caller) -> JSONResponse:
    callers.authorize(request, "rotor:RemoveFunction", resource=registrations.resource(name))
    store = _store(request)
    function = functions.require_function(store, name)
    functions.delete_function(store, name)
    return JSONResponse(function_json(function))
