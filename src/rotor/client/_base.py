"""What every rotor client shares: requests, retries and error mapping.

Nothing here does I/O on the network. Each API operation is a function that
returns a :class:`Call` (method, path, query, body, whether it is safe to
retry, and how to parse the answer); an I/O shell such as
:class:`rotor.client.Client` sends it, asks :func:`retry_delay` whether to try
again, and hands the response to :func:`handle`. An async shell reuses all of
it unchanged.

Errors come back as the same :mod:`rotor.errors` classes the server raised
(:func:`errors.from_response`); nothing turns an error into a return value.
No message built here ever contains a secret value or an access key secret.
"""

from __future__ import annotations

import base64
import dataclasses
import random
import re
import ssl
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, TypedDict, TypeVar

import httpx

from rotor import errors, protocol
from rotor.client import _signing
from rotor.client._connection import ClientConfig
from rotor.client._models import (
    ConfiguredRotation,
    Page,
    Rotation,
    RotationConfig,
    SecretInfo,
    SecretStages,
    SecretValue,
    VersionInfo,
    text_field,
)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""Connect within 5 s; wait at most 30 s for each read, write and pooled connection."""

_NAME = re.compile(protocol.NAME_PATTERN)
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_ROTATION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")

T = TypeVar("T")


# -- retries -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Retry:
    """How a client retries: capped exponential backoff with jitter.

    Only requests that are safe to repeat are retried after a connection error or a
    5xx answer; a request that never reached the server (the connection could not
    be opened) is always safe. A 4xx answer is never retried.
    """

    attempts: int = 3
    """Retries after the first try (0 disables retrying)."""
    backoff: float = 0.25
    """Seconds before the first retry; doubled for each further one."""
    max_backoff: float = 4.0
    """The cap on the wait between two tries."""

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based), jittered in [d/2, d]."""
        capped = min(self.max_backoff, self.backoff * 2.0 ** (retry - 1))
        return capped / 2 + random.random() * capped / 2  # noqa: S311 - jitter, not a secret


DEFAULT_RETRY = Retry()


def retry_delay(
    policy: Retry,
    call: Call[Any],
    retries_done: int,
    *,
    error: httpx.TransportError | None = None,
    response: httpx.Response | None = None,
) -> float | None:
    """Seconds to wait before sending ``call`` again, or None to stop trying."""
    if retries_done >= policy.attempts:
        return None
    if error is not None:
        if _certificate_error(error) is not None:
            return None  # asking again gives the same answer
        never_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
        repeatable = isinstance(
            error, httpx.NetworkError | httpx.PoolTimeout | httpx.RemoteProtocolError
        )
        if not (never_sent or (call.idempotent and repeatable)):
            return None
    elif response is not None:
        if not call.idempotent or response.status_code not in _RETRY_STATUSES:
            return None
        if _error_code(response) == errors.DecryptionFailed.code:
            return None  # asking again gives the same answer
    return policy.delay(retries_done + 1)


def unreachable(client_config: ClientConfig, error: httpx.TransportError) -> errors.RotorError:
    """The error for a request that got no answer."""
    certificate = _certificate_error(error)
    if certificate is not None:
        trusted = (
            f"the CA bundle {client_config.ca_bundle} (from {client_config.ca_bundle_source})"
            if client_config.ca_bundle
            else "the default CA certificates"
        )
        reason = (
            f"its TLS certificate could not be verified with {trusted}: "
            f"{certificate.verify_message or certificate.reason}; give the CA certificate "
            "that signed it with ROTOR_CA_BUNDLE (the CLI's --ca-bundle, the client's ca_bundle)"
        )
    elif isinstance(error, httpx.TimeoutException):
        reason = "timed out"
    else:
        reason = str(error) or type(error).__name__
        if isinstance(error, httpx.RemoteProtocolError) and client_config.url.startswith("http:"):
            reason += " (if the server serves HTTPS, use an https:// URL)"
    return errors.ServerUnreachable(
        f"cannot reach the rotor server at {client_config.url} "
        f"(from {client_config.url_source}): {reason}"
    )


def _certificate_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind a transport error, if that is what it was."""
    seen: BaseException | None = error
    for _ in range(8):  # httpx -> httpcore -> ssl
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


# -- calls and responses -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Call(Generic[T]):
    """One API operation, ready to send; ``parse`` turns the JSON answer into a result."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: tuple[tuple[str, str], ...] = ()
    body: Mapping[str, Any] | None = None
    idempotent: bool = False
    authenticated: bool = True


def headers(client_config: ClientConfig, call: Call[Any]) -> dict[str, str]:
    """The headers of ``call``; raises InvalidParameter when it needs credentials there are not.

    A signed call gets its ``Authorization`` from :func:`sign`, once it is built.
    """
    if not call.authenticated:
        return {}
    if client_config.credentials is None:
        raise errors.InvalidParameter(client_config.missing_credentials)
    out = {}
    if client_config.signing == "bearer":
        out["Authorization"] = client_config.credentials.authorization
    if client_config.credentials.security_token:
        out[_signing.SECURITY_TOKEN_HEADER] = client_config.credentials.security_token
    return out


def sign(client_config: ClientConfig, call: Call[Any], request: httpx.Request) -> None:
    """Sign ``request`` when the client signs (``hmac``): call it before every attempt, so a
    retry carries a fresh timestamp and nonce instead of being refused as a replay."""
    credentials = client_config.credentials
    if not call.authenticated or client_config.signing != "hmac" or credentials is None:
        return
    request.headers["Authorization"] = _signing.authorization(
        request,
        access_key_id=credentials.access_key_id,
        access_key_secret=credentials.access_key_secret,
        security_token=credentials.security_token,
    )


def handle(call: Call[T], response: httpx.Response) -> T:
    """The result of ``call``, or the :mod:`rotor.errors` error the server answered with."""
    if response.status_code >= 400:
        raise error_from(response)
    try:
        return call.parse(response.json())
    except (ValueError, KeyError, TypeError, AttributeError):
        # Never chain or quote the body: it may hold a secret value.
        raise errors.InternalError(
            f"unexpected response to {call.method} {response.request.url.path} "
            f"(HTTP {response.status_code}); is {response.request.url.host} a rotor server?"
        ) from None


def error_from(response: httpx.Response) -> errors.RotorError:
    """Rebuild the error of a 4xx/5xx response."""
    status = response.status_code
    code = _error_code(response)
    if code is None:
        return errors.from_response(
            status,
            None,
            f"HTTP {status} from {response.request.method} {response.request.url.path}; "
            "is this a rotor server?",
        )
    body = response.json()
    message = body.get("message") if isinstance(body.get("message"), str) else None
    error = errors.from_response(status, code, message)
    request_id = body.get("request_id")
    if isinstance(error, errors.ServerError) and isinstance(request_id, str):
        error = type(error)(f"{error.message} (request id {request_id})")
    return error


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def secret_path(name: str, method: str = "") -> str:
    """``/v1/secrets/NAME[:method]``, refusing names a URL could change the meaning of."""
    if not _NAME.fullmatch(name):
        raise errors.InvalidParameter(f"invalid secret name {name!r}: use {protocol.NAME_RULE}")
    # HTTP clients resolve "." and ".." segments; keep them literal.
    segments = ["%2E" * len(s) if s in (".", "..") else s for s in name.split("/")]
    return "/v1/secrets/" + "/".join(segments) + (f":{method}" if method else "")


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


# -- operations --------------------------------------------------------------------------------


def _value_body(value: str | bytes) -> dict[str, str]:
    if isinstance(value, bytes | bytearray):
        return {"binary": base64.b64encode(value).decode("ascii")}
    if isinstance(value, str):
        return {"value": value}
    raise TypeError(f"a secret value is str or bytes, not {type(value).__name__}")


def _paging(page_size: int | None, page_token: str | None) -> list[tuple[str, str]]:
    params = []
    if page_size is not None:
        params.append(("page_size", str(page_size)))
    if page_token:
        params.append(("page_token", page_token))
    return params


def create_secret(
    name: str,
    *,
    value: str | bytes | None = None,
    description: str | None = None,
    secret_type: str | None = None,
    tags: Mapping[str, str] | None = None,
    version_id: str | None = None,
) -> Call[SecretInfo]:
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
    return Call(method="GET", path=secret_path(name), idempotent=True, parse=SecretInfo.from_json)


def update_secret(
    name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
) -> Call[SecretInfo]:
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
    params = []
    if prefix:
        params.append(("prefix", prefix))
    params.extend(("tag", f"{key}={value}") for key, value in (tags or {}).items())
    if include_pending_deletion:
        params.append(("include_pending_deletion", "true"))
    params.extend(_paging(page_size, page_token))
    return Call(
        method="GET",
        path="/v1/secrets",
        params=tuple(params),
        idempotent=True,
        parse=lambda data: Page.from_json(data, "secrets", SecretInfo.from_json),
    )


def delete_secret(
    name: str, *, recovery_days: int | None = None, force: bool = False
) -> Call[SecretInfo]:
    if force and recovery_days is not None:
        raise errors.InvalidParameter("give either recovery_days or force, not both")
    params = [("force", "true")] if force else []
    if recovery_days is not None:
        params.append(("recovery_days", str(recovery_days)))
    return Call(
        method="DELETE", path=secret_path(name), params=tuple(params), parse=SecretInfo.from_json
    )


def restore_secret(name: str) -> Call[SecretInfo]:
    return Call(method="POST", path=secret_path(name, "restore"), parse=SecretInfo.from_json)


def get_value(
    name: str, *, stage: str | None = None, version_id: str | None = None
) -> Call[SecretValue]:
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


def put_value(
    name: str,
    value: str | bytes,
    *,
    version_id: str | None = None,
    stages: tuple[str, ...] | list[str] | None = None,
) -> Call[VersionInfo]:
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
    return Call(
        method="GET",
        path=secret_path(name, "versions"),
        params=tuple(_paging(page_size, page_token)),
        idempotent=True,
        parse=lambda data: Page.from_json(
            data, "versions", lambda item: VersionInfo.from_json(item, name=name)
        ),
    )


def update_stage(
    name: str,
    stage: str,
    *,
    move_to_version: str | None = None,
    remove_from_version: str | None = None,
) -> Call[SecretStages]:
    body: dict[str, Any] = {"stage": stage}
    if move_to_version is not None:
        body["move_to_version"] = move_to_version
    if remove_from_version is not None:
        body["remove_from_version"] = remove_from_version
    return Call(
        method="POST", path=secret_path(name, "stage"), body=body, parse=SecretStages.from_json
    )


def generate_password(options: PasswordOptions) -> Call[str]:
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


# -- rotation ----------------------------------------------------------------------------------


def configure_rotation(
    name: str,
    *,
    function: str | None,
    parameters: Mapping[str, Any] | None = None,
    every: str | None = None,
    cron: str | None = None,
    window: str | None = None,
    flow: str | None = None,
    rotate_now: bool = True,
) -> Call[ConfiguredRotation]:
    body: dict[str, Any] = {"enabled": True, "rotate_now": rotate_now}
    if function is not None:
        body["function"] = function
    if parameters is not None:
        body["parameters"] = dict(parameters)
    for key, text in (("every", every), ("cron", cron), ("window", window), ("flow", flow)):
        if text is not None:
            body[key] = text
    # Without rotate_now, sending the same configuration twice has the effect of once;
    # with it, a second send may start a second rotation.
    return Call(
        method="PUT",
        path=secret_path(name, "rotation"),
        body=body,
        idempotent=not rotate_now,
        parse=ConfiguredRotation.from_json,
    )


def disable_rotation(name: str) -> Call[RotationConfig]:
    return Call(
        method="PUT",
        path=secret_path(name, "rotation"),
        body={"enabled": False},
        idempotent=True,
        parse=lambda data: RotationConfig.from_json(data["rotation"]),
    )


def describe_rotation(name: str) -> Call[RotationConfig]:
    return Call(
        method="GET",
        path=secret_path(name, "rotation"),
        idempotent=True,
        parse=RotationConfig.from_json,
    )


def rotate_secret(
    name: str, *, version_id: str | None = None, require_new: bool = False
) -> Call[Rotation]:
    body: dict[str, Any] = {"require_new": require_new}
    if version_id is not None:
        body["version_id"] = version_id
    return Call(
        method="POST", path=secret_path(name, "rotate"), body=body, parse=Rotation.from_json
    )


def cancel_rotation(name: str) -> Call[Rotation]:
    return Call(method="POST", path=secret_path(name, "cancel-rotation"), parse=Rotation.from_json)


def get_rotation(rotation_id: str) -> Call[Rotation]:
    if not isinstance(rotation_id, str) or not _ROTATION_ID.fullmatch(rotation_id):
        raise errors.InvalidParameter(f"invalid rotation id {rotation_id!r}")
    return Call(
        method="GET",
        path=f"/v1/rotations/{rotation_id}",
        idempotent=True,
        parse=Rotation.from_json,
    )


def list_rotations(
    name: str, *, page_size: int | None = None, page_token: str | None = None
) -> Call[Page[Rotation]]:
    return Call(
        method="GET",
        path=secret_path(name, "rotations"),
        params=tuple(_paging(page_size, page_token)),
        idempotent=True,
        parse=lambda data: Page.from_json(data, "rotations", Rotation.from_json),
    )


def list_due_rotations() -> Call[tuple[str, ...]]:
    def parse(data: Mapping[str, Any]) -> tuple[str, ...]:
        names = data["secrets"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TypeError("secrets is not a list of names")
        return tuple(names)

    return Call(method="GET", path="/v1/due-rotations", idempotent=True, parse=parse)


def _status(data: Mapping[str, Any]) -> str:
    return text_field(data, "status")


def healthz() -> Call[str]:
    return Call(method="GET", path="/healthz", idempotent=True, authenticated=False, parse=_status)


def readyz() -> Call[str]:
    return Call(method="GET", path="/readyz", idempotent=True, authenticated=False, parse=_status)
