"""The JSON shapes of the native API's responses."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from rotor.store.secrets import Secret
from rotor.store.versions import SecretValue, VersionInfo


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


def value_body(value: SecretValue) -> bytes:
    """The JSON body answering a read (compact: the hot path)."""
    return json.dumps(value_json(value), separators=(",", ":")).encode()
