"""Request bodies of the native API, validated by pydantic (unknown fields refused)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from rotor import errors
from rotor.api import openapi
from rotor.store import passwords
from rotor.store import secrets as secrets_store


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
