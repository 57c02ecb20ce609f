"""The secret, value, version, stage, password and health operations of both clients.

Each operation is defined here once, as a function that returns the
:class:`_calls.Call` it stands for (or, for an ``iter_*`` method, the
:data:`_calls.Pages` it walks); its docstring is the client method's.
:mod:`rotor.client.client` makes each one a method of :class:`rotor.client.Client`
(returning the result) and of :class:`rotor.client.AsyncClient` (returning a
coroutine of it). No I/O happens here.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping
from typing import Any, Literal, TypedDict, Unpack

from rotor import errors, protocol
from rotor.client._calls import Call, Pages, page_of
from rotor.client._models import (
    Page,
    SecretInfo,
    SecretStages,
    SecretValue,
    VersionInfo,
    load_json,
    text_field,
)

_NAME = re.compile(protocol.NAME_PATTERN)


def secret_path(name: str, method: str = "") -> str:
    """``/v1/secrets/NAME[:method]``, refusing names a URL could change the meaning of."""
    if not _NAME.fullmatch(name):
        raise errors.InvalidParameter(f"invalid secret name {name!r}: use {protocol.NAME_RULE}")
    # HTTP clients resolve "." and ".." segments; keep them literal.
    segments = ["%2E" * len(s) if s in (".", "..") else s for s in name.split("/")]
    return "/v1/secrets/" + "/".join(segments) + (f":{method}" if method else "")


def _value_body(value: str | bytes) -> dict[str, str]:
    if isinstance(value, bytes | bytearray):
        return {"binary": base64.b64encode(value).decode("ascii")}
    if isinstance(value, str):
        return {"value": value}
    raise TypeError(f"a secret value is str or bytes, not {type(value).__name__}")


# -- secrets -----------------------------------------------------------------------------------


def create_secret(
    name: str,
    *,
    value: str | bytes | None = None,
    description: str | None = None,
    secret_type: str | None = None,
    tags: Mapping[str, str] | None = None,
    version_id: str | None = None,
) -> Call[SecretInfo]:
    """Create a secret; a ``value`` becomes its first version, staged Current."""
    body: dict[str, Any] = {"name": name}
    if description is not None:
        body["description"] = description
    if secret_type is not None:
        body["type"] = secret_type
    if tags is not None:
        body["tags"] = dict(tags)
    if value is not None:
        body.update(_value_body(value))
    if version_id is not None:
        body["version_id"] = version_id
    return Call(method="POST", path="/v1/secrets", body=body, parse=SecretInfo.from_json)


def describe_secret(name: str) -> Call[SecretInfo]:
    """A secret's metadata and stages; works while it is scheduled for deletion."""
    return Call(method="GET", path=secret_path(name), idempotent=True, parse=SecretInfo.from_json)


def update_secret(
    name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
) -> Call[SecretInfo]:
    """Change the description and/or replace all tags."""
    body: dict[str, Any] = {}
    if description is not None:
        body["description"] = description
    if tags is not None:
        body["tags"] = dict(tags)
    # The body sets absolute values, so sending it twice has the effect of once.
    return Call(
        method="PATCH",
        path=secret_path(name),
        body=body,
        idempotent=True,
        parse=SecretInfo.from_json,
    )


def list_secrets(
    *,
    prefix: str | None = None,
    tags: Mapping[str, str] | None = None,
    include_pending_deletion: bool = False,
    page_size: int | None = None,
    page_token: str | None = None,
) -> Call[Page[SecretInfo]]:
    """One page of secrets ordered by name; every tag given must match."""
    params = []
    if prefix:
        params.append(("prefix", prefix))
    params.extend(("tag", f"{key}={value}") for key, value in (tags or {}).items())
    if include_pending_deletion:
        params.append(("include_pending_deletion", "true"))
    return page_of(
        "/v1/secrets",
        "secrets",
        SecretInfo.from_json,
        params=params,
        page_size=page_size,
        page_token=page_token,
    )


def iter_secrets(
    *,
    prefix: str | None = None,
    tags: Mapping[str, str] | None = None,
    include_pending_deletion: bool = False,
    page_size: int | None = None,
) -> Pages[SecretInfo]:
    """Every secret matching the filters, fetching pages as needed."""
    return lambda token: list_secrets(
        prefix=prefix,
        tags=tags,
        include_pending_deletion=include_pending_deletion,
        page_size=page_size,
        page_token=token,
    )


def delete_secret(
    name: str, *, recovery_days: int | None = None, force: bool = False
) -> Call[SecretInfo]:
    """Schedule deletion after ``recovery_days`` (7-30, default 30), or delete now with ``force``."""
    if force and recovery_days is not None:
        raise errors.InvalidParameter("give either recovery_days or force, not both")
    params = [("force", "true")] if force else []
    if recovery_days is not None:
        params.append(("recovery_days", str(recovery_days)))
    return Call(
        method="DELETE", path=secret_path(name), params=tuple(params), parse=SecretInfo.from_json
    )


def restore_secret(name: str) -> Call[SecretInfo]:
    """Cancel a scheduled deletion."""
    return Call(method="POST", path=secret_path(name, "restore"), parse=SecretInfo.from_json)


# -- values and versions -----------------------------------------------------------------------


def get_value(
    name: str, *, stage: str | None = None, version_id: str | None = None
) -> Call[SecretValue]:
    """A version's value, by stage (default Current) and/or version id."""
    params = []
    if stage is not None:
        params.append(("stage", stage))
    if version_id is not None:
        params.append(("version_id", version_id))
    return Call(
        method="GET",
        path=secret_path(name, "value"),
        params=tuple(params),
        idempotent=True,
        parse=SecretValue.from_json,
    )


def get_json(
    name: str, *, stage: str | None = None, version_id: str | None = None
) -> Call[dict[str, Any]]:
    """A value that holds a JSON object, decoded."""
    return get_value(name, stage=stage, version_id=version_id).then(load_json)


def put_value(
    name: str,
    value: str | bytes,
    *,
    version_id: str | None = None,
    stages: tuple[str, ...] | list[str] | None = None,
) -> Call[VersionInfo]:
    """Add a version (text for ``str``, binary for ``bytes``), staged ``stages`` (default Current).

    Without ``version_id`` the client picks a UUID, so a retried put never adds two versions.
    """
    # With a version id of our own, sending the same body twice is a no-op on the server,
    # so a put can be retried safely (as a client request token does).
    body: dict[str, Any] = {**_value_body(value), "version_id": version_id or str(uuid.uuid4())}
    if stages is not None:
        body["stages"] = list(stages)
    kind: Literal["text", "binary"] = "text" if isinstance(value, str) else "binary"
    return Call(
        method="POST",
        path=secret_path(name, "versions"),
        body=body,
        idempotent=True,
        parse=lambda data: VersionInfo.from_json(data, name=name, kind=kind),
    )


def list_versions(
    name: str, *, page_size: int | None = None, page_token: str | None = None
) -> Call[Page[VersionInfo]]:
    """One page of a secret's versions, newest first."""
    return page_of(
        secret_path(name, "versions"),
        "versions",
        lambda item: VersionInfo.from_json(item, name=name),
        page_size=page_size,
        page_token=page_token,
    )


def iter_versions(name: str, *, page_size: int | None = None) -> Pages[VersionInfo]:
    """Every version of a secret, newest first, fetching pages as needed."""
    return lambda token: list_versions(name, page_size=page_size, page_token=token)


def update_stage(
    name: str,
    stage: str,
    *,
    move_to_version: str | None = None,
    remove_from_version: str | None = None,
) -> Call[SecretStages]:
    """Move a stage to a version and/or remove it from one; moving Current moves Previous."""
    body: dict[str, Any] = {"stage": stage}
    if move_to_version is not None:
        body["move_to_version"] = move_to_version
    if remove_from_version is not None:
        body["remove_from_version"] = remove_from_version
    return Call(
        method="POST", path=secret_path(name, "stage"), body=body, parse=SecretStages.from_json
    )


# -- passwords and health ----------------------------------------------------------------------


class PasswordOptions(TypedDict, total=False):
    """Options of :meth:`rotor.client.Client.generate_password`; omitted ones take the server's default."""

    length: int
    exclude_characters: str
    exclude_uppercase: bool
    exclude_lowercase: bool
    exclude_numbers: bool
    exclude_punctuation: bool
    include_space: bool
    require_each_included_type: bool


def generate_password(**options: Unpack[PasswordOptions]) -> Call[str]:
    """A random password from the server's CSPRNG."""
    unknown = set(options) - set(PasswordOptions.__annotations__)
    if unknown:
        raise TypeError(f"unknown password options: {', '.join(sorted(unknown))}")
    # Generating has no effect on the server, so asking again is harmless.
    return Call(
        method="POST",
        path="/v1/passwords",
        body=dict(options),
        idempotent=True,
        parse=lambda data: text_field(data, "password"),
    )


def _status(data: Mapping[str, Any]) -> str:
    return text_field(data, "status")


def healthz() -> Call[str]:
    """``"ok"`` while the server process runs (no credentials needed)."""
    return Call(method="GET", path="/healthz", idempotent=True, authenticated=False, parse=_status)


def readyz() -> Call[str]:
    """``"ready"`` when the server's store answers; else raises ServiceUnavailable."""
    return Call(method="GET", path="/readyz", idempotent=True, authenticated=False, parse=_status)
