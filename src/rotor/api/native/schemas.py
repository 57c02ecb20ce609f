"""Request bodies (validated by pydantic) and the JSON shapes of responses."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import types
import typing
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.convertors import Convertor, register_url_convertor

from rotor import errors, protocol
from rotor.access.keys import Identity, secret_resource
from rotor.api import openapi
from rotor.store import passwords
from rotor.store import secrets as secrets_store
from rotor.store.secrets import Secret
from rotor.store.versions import SecretValue, VersionInfo


class SecretNameConvertor(Convertor[str]):
    """Secret names in paths: may contain ``/`` but never ``:`` (which starts a custom method)."""

    regex = rf"[{protocol.NAME_CHARACTERS}]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("secret", SecretNameConvertor())


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ValueBody(Body):
    value: str | None = Field(default=None, description="A text value.")
    binary: str | None = Field(default=None, description="A binary value, standard base64.")

    def decoded(self, *, required: bool) -> str | bytes | None:
        if self.value is not None and self.binary is not None:
            raise errors.InvalidParameter("give value or binary, not both")
        if self.binary is not None:
            try:
                return base64.b64decode(self.binary, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise errors.InvalidParameter("binary is not valid base64") from exc
        if self.value is None and required:
            raise errors.InvalidParameter("give value or binary")
        return self.value


SecretName = Annotated[str, openapi.rule(openapi.SECRET_NAME)]
VersionId = Annotated[str, openapi.rule(openapi.VERSION_ID)]
Stage = Annotated[str, openapi.rule(openapi.STAGE)]
Description = Annotated[str, openapi.rule({"maxLength": secrets_store.MAX_DESCRIPTION})]
Tags = Annotated[
    dict[str, str],
    openapi.rule(
        {
            "maxProperties": secrets_store.MAX_TAGS,
            "propertyNames": {"minLength": 1, "maxLength": 128, "pattern": "^[^\\x00-\\x1f]+$"},
            "additionalProperties": {"type": "string", "maxLength": secrets_store.MAX_TAG_VALUE},
        }
    ),
]


class CreateSecret(ValueBody):
    name: SecretName
    description: Description = ""
    type: Annotated[str, openapi.rule({"minLength": 1, "maxLength": secrets_store.MAX_TYPE})] = (
        "Generic"
    )
    tags: Tags = Field(default_factory=dict)
    version_id: VersionId | None = None


class UpdateSecret(Body):
    description: Description | None = None
    tags: Tags | None = None


class PutValue(ValueBody):
    version_id: VersionId | None = None
    stages: list[Stage] | None = None


class UpdateStage(Body):
    stage: Stage
    move_to_version: VersionId | None = None
    remove_from_version: VersionId | None = None


class GeneratePassword(Body):
    length: Annotated[
        int, openapi.rule({"minimum": passwords.MIN_LENGTH, "maximum": passwords.MAX_LENGTH})
    ] = 32
    exclude_characters: str = ""
    exclude_uppercase: bool = False
    exclude_lowercase: bool = False
    exclude_numbers: bool = False
    exclude_punctuation: bool = False
    include_space: bool = False
    require_each_included_type: bool = True


class ConfigureRotation(Body):
    enabled: bool = True
    function: Annotated[str | None, openapi.rule(openapi.FUNCTION_NAME)] = None
    parameters: dict[str, Any] | None = None
    every: str | None = Field(default=None, description="Interval: 30d, 12h, 90m or seconds.")
    cron: str | None = Field(default=None, description="Cron expression (UTC).")
    window: str | None = Field(default=None, description="Rotate only this long after due.")
    flow: str | None = Field(default=None, description="Flow definition (YAML); '' resets.")
    rotate_now: bool = True


class RotateSecret(Body):
    version_id: VersionId | None = None
    require_new: bool = False


def timestamp(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def secret_json(secret: Secret) -> dict[str, Any]:
    return {
        "name": secret.name,
        "type": secret.secret_type,
        "description": secret.description,
        "tags": secret.tags,
        "created_at": timestamp(secret.created_at),
        "updated_at": timestamp(secret.updated_at),
        "delete_after": timestamp(secret.delete_after),
        "stages": secret.stages,
    }


def value_json(value: SecretValue) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": value.name,
        "version_id": value.version_id,
        "stages": list(value.stages),
        "created_at": timestamp(value.created_at),
    }
    if isinstance(value.value, bytes):
        out["binary"] = base64.b64encode(value.value).decode()
    else:
        out["value"] = value.value
    return out


def version_json(version: VersionInfo) -> dict[str, Any]:
    return {
        "name": version.name,
        "version_id": version.version_id,
        "stages": list(version.stages),
        "created_at": timestamp(version.created_at),
        "type": version.value_type,
    }


_bearer = HTTPBearer(auto_error=False, description="`<access_key_id>.<access_key_secret>`")


def _is_list(annotation: object) -> bool:
    """Whether a parameter's type is a list (or set, tuple), possibly optional."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return (typing.get_origin(annotation) or annotation) in (list, set, frozenset, tuple)


def _repeatable(dependant: Dependant) -> set[str]:
    """The query parameters a route (with its dependencies) takes as lists."""
    names = {f.alias for f in dependant.query_params if _is_list(f.field_info.annotation)}
    for sub in dependant.dependencies:
        names |= _repeatable(sub)
    return names


def single_parameters(request: Request) -> None:
    """Refuse a query parameter given more than once, unless the route takes it as a list
    (``tag`` on the list of secrets): which of them counts would be a guess."""
    names = [name for name, _ in request.query_params.multi_items()]
    repeated = list(dict.fromkeys(n for i, n in enumerate(names) if n in names[:i]))
    if not repeated:
        return
    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        allowed = _repeatable(route.dependant)
        repeated = [name for name in repeated if name not in allowed]
    if repeated:
        listed = ", ".join(repr(name) for name in repeated)
        raise errors.InvalidParameter(f"the query parameter {listed} is given more than once")


async def caller(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    __: Annotated[None, Depends(single_parameters)],
) -> Identity:
    """The authenticated caller (the front door authenticated every /v1 request), of a
    request that gives each query parameter once: every /v1 route depends on it."""
    identity: Identity = request.scope["rotor.identity"]
    return identity


def allowed(request: Request, action: str, *, secret: str) -> bool:
    identity: Identity = request.scope["rotor.identity"]
    settings = request.app.state.settings
    return identity.allows(
        action, secret_resource(secret, region=settings.region, account=settings.account_id)
    )


def authorize(
    request: Request, action: str, *, secret: str | None = None, resource: str | None = None
) -> Identity:
    """Require the caller to be allowed ``action`` on a secret (by name) or another resource;
    records what the request is about for its audit event."""
    identity: Identity = request.scope["rotor.identity"]
    details: dict[str, Any] = {"action": action}
    if secret is not None:
        details["secret_name"] = secret
        settings = request.app.state.settings
        resource = secret_resource(secret, region=settings.region, account=settings.account_id)
    request.scope["rotor.audit"] = details
    identity.require(action, resource or "*")
    return identity


def note_version(request: Request, version_id: str) -> None:
    """The version a request read or wrote, for its audit event."""
    request.scope.setdefault("rotor.audit", {})["version_id"] = version_id
