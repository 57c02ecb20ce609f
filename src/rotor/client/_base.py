"""What every rotor client shares: configuration, requests, retries and parsing.

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
import datetime as dt
import json
import os
import random
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, Literal, TypedDict, TypeVar

import httpx

from rotor import config, errors

ENV_URL = "ROTOR_URL"
ENV_ACCESS_KEY_ID = "ROTOR_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ROTOR_ACCESS_KEY_SECRET"
ENV_DATA_DIR = "ROTOR_DATA_DIR"
SERVER_FILE = "server.json"
CREDENTIALS_FILE = "admin-credentials.json"

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""Connect within 5 s; wait at most 30 s for each read, write and pooled connection."""

_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,192}")
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_ROTATION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")

T = TypeVar("T")


# -- configuration -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Credentials:
    """An access key, and where it was found (for error messages)."""

    access_key_id: str
    access_key_secret: str = dataclasses.field(repr=False)
    source: str

    @property
    def authorization(self) -> str:
        return f"Bearer {self.access_key_id}.{self.access_key_secret}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """Where the server is and how to authenticate, resolved by :func:`resolve_config`."""

    url: str
    url_source: str
    credentials: Credentials | None
    missing_credentials: str = ""
    """Why there are no credentials, raised as InvalidParameter by the first call that needs them."""


def resolve_config(
    *,
    url: str | None = None,
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    credentials_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Find the server and the access key.

    The URL comes from ``url``, else ``ROTOR_URL``, else ``server.json`` in the data
    dir. Each part of the access key comes from its argument, else the credentials
    file, else ``ROTOR_ACCESS_KEY_ID`` / ``ROTOR_ACCESS_KEY_SECRET``; when no part is
    found anywhere, from ``admin-credentials.json`` in the data dir. The data dir is
    ``data_dir``, else ``ROTOR_DATA_DIR``, else the server's default data dir; the
    default one lends its credentials only to its own server's URL, so a local admin
    key is never sent to a server named elsewhere.
    """
    env = os.environ if environ is None else environ
    explicit_dir = data_dir or env.get(ENV_DATA_DIR) or None
    directory = Path(explicit_dir).expanduser() if explicit_dir else default_data_dir(env)

    if url:
        url_source = "the url argument"
    elif env.get(ENV_URL):
        url, url_source = env[ENV_URL], ENV_URL
    else:
        url, url_source = _url_from_data_dir(directory, explicit=bool(explicit_dir))
    url = _check_url(url.rstrip("/"), url_source)
    from_dir = bool(explicit_dir) or url_source == str(directory / SERVER_FILE)
    credentials, missing = _resolve_credentials(
        access_key_id, access_key_secret, credentials_file, env, directory if from_dir else None
    )
    return ClientConfig(
        url=url, url_source=url_source, credentials=credentials, missing_credentials=missing
    )


def _check_url(url: str, source: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise errors.InvalidParameter(
            f"the server URL from {source} is not an http:// or https:// URL with a host"
        )
    return url


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """The data dir ``rotor serve`` uses when none is set (as :func:`config.default_data_dir`)."""
    if environ is os.environ:
        return config.default_data_dir()
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rotor"


def _url_from_data_dir(directory: Path, *, explicit: bool) -> tuple[str, str]:
    path = directory / SERVER_FILE
    if not path.is_file():
        where = f"there is no {path}" if explicit else f"{ENV_DATA_DIR} is not set"
        raise errors.InvalidParameter(
            f"no rotor server configured ({where}): set {ENV_URL} (or pass --url), or set "
            f"{ENV_DATA_DIR} (or pass --data-dir) to the data dir of a running `rotor serve`"
        )
    data = _read_json_file(path)
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise errors.InvalidParameter(f'{path} has no "url"')
    return url, str(path)


def _resolve_credentials(
    key_id: str | None,
    key_secret: str | None,
    credentials_file: str | os.PathLike[str] | None,
    env: Mapping[str, str],
    directory: Path | None,
) -> tuple[Credentials | None, str]:
    sources: list[str] = []
    if key_id or key_secret:
        sources.append("arguments")
    if credentials_file:
        path = Path(credentials_file).expanduser()
        file_id, file_secret = _read_credentials_file(path)
        key_id, key_secret = key_id or file_id, key_secret or file_secret
        sources.append(str(path))
    if not key_id and env.get(ENV_ACCESS_KEY_ID):
        key_id = env[ENV_ACCESS_KEY_ID]
        sources.append(ENV_ACCESS_KEY_ID)
    if not key_secret and env.get(ENV_ACCESS_KEY_SECRET):
        key_secret = env[ENV_ACCESS_KEY_SECRET]
        sources.append(ENV_ACCESS_KEY_SECRET)
    if key_id and key_secret:
        return Credentials(
            access_key_id=key_id, access_key_secret=key_secret, source=", ".join(sources)
        ), ""
    if key_id:
        return None, (
            f"an access key id is given but no secret: set {ENV_ACCESS_KEY_SECRET}"
            " or use a credentials file"
        )
    if key_secret:
        return None, f"an access key secret is given but no id: set {ENV_ACCESS_KEY_ID}"
    dir_file = directory / CREDENTIALS_FILE if directory else None
    if dir_file is not None and dir_file.is_file():
        file_id, file_secret = _read_credentials_file(dir_file)
        return Credentials(
            access_key_id=file_id, access_key_secret=file_secret, source=str(dir_file)
        ), ""
    return None, (
        f"no access key: set {ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, use a credentials "
        f"file, or set {ENV_DATA_DIR} to the data dir of a running `rotor serve`"
    )


def _read_credentials_file(path: Path) -> tuple[str, str]:
    data = _read_json_file(path)
    key_id, key_secret = data.get("access_key_id"), data.get("access_key_secret")
    if not isinstance(key_id, str) or not key_id:
        raise errors.InvalidParameter(f'{path} has no "access_key_id"')
    if not isinstance(key_secret, str) or not key_secret:
        raise errors.InvalidParameter(f'{path} has no "access_key_secret"')
    return key_id, key_secret


def _read_json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise errors.InvalidParameter(f"{path} does not exist") from None
    except PermissionError:
        raise errors.InvalidParameter(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise errors.InvalidParameter(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        # Never chain: the decoder error holds the file's text, which may be a secret.
        raise errors.InvalidParameter(f"{path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise errors.InvalidParameter(f"{path} does not hold a JSON object")
    return data


def headers(client_config: ClientConfig, call: Call[Any]) -> dict[str, str]:
    """The headers of ``call``; raises InvalidParameter when it needs credentials there are not."""
    if not call.authenticated:
        return {}
    if client_config.credentials is None:
        raise errors.InvalidParameter(client_config.missing_credentials)
    return {"Authorization": client_config.credentials.authorization}


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
    if isinstance(error, httpx.TimeoutException):
        reason = "timed out"
    else:
        reason = str(error) or type(error).__name__
    return errors.ServerUnreachable(
        f"cannot reach the rotor server at {client_config.url} "
        f"(from {client_config.url_source}): {reason}"
    )


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
        raise errors.InvalidParameter(
            f"invalid secret name {name!r}: use 1-192 characters of A-Za-z0-9/_+=.@-"
        )
    # HTTP clients resolve "." and ".." segments; keep them literal.
    segments = ["%2E" * len(s) if s in (".", "..") else s for s in name.split("/")]
    return "/v1/secrets/" + "/".join(segments) + (f":{method}" if method else "")


# -- results -----------------------------------------------------------------------------------


def parse_time(value: str) -> dt.datetime:
    """An RFC 3339 time from the server; it must carry a zone."""
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive datetime from the server")
    return parsed


def _optional_time(value: str | None) -> dt.datetime | None:
    return None if value is None else parse_time(value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SecretInfo:
    """A secret's metadata (never its value)."""

    name: str
    type: str
    description: str
    tags: Mapping[str, str]
    created_at: dt.datetime
    updated_at: dt.datetime
    delete_after: dt.datetime | None
    """When a secret scheduled for deletion will be purged; None otherwise."""
    stages: Mapping[str, str]
    """Stage name -> version id."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SecretInfo:
        return cls(
            name=data["name"],
            type=data["type"],
            description=data.get("description") or "",
            tags=dict(data.get("tags") or {}),
            created_at=parse_time(data["created_at"]),
            updated_at=parse_time(data["updated_at"]),
            delete_after=_optional_time(data.get("delete_after")),
            stages=dict(data.get("stages") or {}),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class SecretValue:
    """One version's value: ``str`` for text, ``bytes`` for binary. The repr hides it."""

    name: str
    version_id: str
    stages: tuple[str, ...]
    created_at: dt.datetime
    value: str | bytes = dataclasses.field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SecretValue:
        if "binary" in data and data["binary"] is not None:
            value: str | bytes = base64.b64decode(data["binary"], validate=True)
        else:
            value = data["value"]
            if not isinstance(value, str):
                raise TypeError("value is not text")
        return cls(
            name=data["name"],
            version_id=data["version_id"],
            stages=tuple(data.get("stages") or ()),
            created_at=parse_time(data["created_at"]),
            value=value,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class VersionInfo:
    """A version of a secret, without its value."""

    name: str
    version_id: str
    stages: tuple[str, ...]
    created_at: dt.datetime
    type: Literal["text", "binary"]

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], *, name: str, kind: Literal["text", "binary"] | None = None
    ) -> VersionInfo:
        found = kind or data["type"]
        if found not in ("text", "binary"):
            raise ValueError("unknown version type")
        return cls(
            name=data.get("name") or name,
            version_id=data["version_id"],
            stages=tuple(data.get("stages") or ()),
            created_at=parse_time(data["created_at"]),
            type=found,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class SecretStages:
    """Where each stage of a secret points after a stage change."""

    name: str
    stages: Mapping[str, str]
    """Stage name -> version id."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    """One page of a listing; pass ``next_page_token`` back for the next one (None: last page)."""

    items: tuple[T, ...]
    next_page_token: str | None


ROTATION_STATUSES = ("running", "succeeded", "failed", "cancelled", "abandoned")
"""Every status a rotation can have; all but ``running`` are final."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class RotationConfig:
    """A secret's rotation configuration: function, parameters, schedule and flow."""

    name: str
    enabled: bool
    function: str
    parameters: Mapping[str, Any]
    every_seconds: int | None
    """The interval of an interval schedule; None for cron or no schedule."""
    cron: str | None
    """The cron expression (UTC) of a cron schedule."""
    window_seconds: int | None
    """How long after its due time a scheduled rotation may still start; None: any time."""
    custom_flow: bool
    """Whether a flow definition replaces the default new/set/test/end flow."""
    next_rotation_at: dt.datetime | None
    last_rotated_at: dt.datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RotationConfig:
        return cls(
            name=data["name"],
            enabled=_bool(data["enabled"]),
            function=data["function"],
            parameters=dict(data.get("parameters") or {}),
            every_seconds=_optional_int(data.get("every_seconds")),
            cron=data.get("cron"),
            window_seconds=_optional_int(data.get("window_seconds")),
            custom_flow=bool(data.get("custom_flow")),
            next_rotation_at=_optional_time(data.get("next_rotation_at")),
            last_rotated_at=_optional_time(data.get("last_rotated_at")),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class RotationStep:
    """One task of a rotation's flow and how its run went."""

    index: int
    name: str
    """The task's name in the flow, e.g. ``RotateSecretNew``."""
    step: str
    """``new``, ``set``, ``test`` or ``end``."""
    attempts: int
    started_at: dt.datetime | None
    """When its first attempt started; None while it has not run."""
    finished_at: dt.datetime | None
    """When it succeeded; None while running, not run, or failed."""
    error: str | None
    """The last attempt's error (never a secret value); cleared when the step succeeds."""

    @property
    def duration(self) -> dt.timedelta | None:
        """From the first attempt's start to success; None unless it succeeded."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RotationStep:
        return cls(
            index=int(data["index"]),
            name=data["name"],
            step=data["step"],
            attempts=int(data.get("attempts") or 0),
            started_at=_optional_time(data.get("started_at")),
            finished_at=_optional_time(data.get("finished_at")),
            error=data.get("error"),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class RotationEvent:
    """An entry of a rotation's history: ``started``, ``step_succeeded``, ``step_failed``,
    ``succeeded``, ``failed``, ``abandoned``, ``cancelled`` or ``log``."""

    at: dt.datetime
    kind: str
    step: str | None
    """The task it concerns, as ``RotateSecretNew (new)``."""
    message: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RotationEvent:
        return cls(
            at=parse_time(data["at"]),
            kind=data["kind"],
            step=data.get("step"),
            message=data.get("message"),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rotation:
    """One rotation of a secret: its status, steps and (from :meth:`Client.get_rotation`) events."""

    id: str
    name: str
    """The secret rotated."""
    version_id: str
    """The version the rotation creates and, on success, makes Current."""
    function: str
    status: str
    """``running``, ``succeeded``, ``failed``, ``cancelled`` or ``abandoned``."""
    step_index: int
    """The index of the step running (or that ended the rotation); ``len(steps)`` when all ran."""
    attempts: int
    """Attempts of the current step."""
    started_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None
    """Why it failed, was abandoned or cancelled (never a secret value)."""
    steps: tuple[RotationStep, ...]
    events: tuple[RotationEvent, ...] = ()
    """Filled by :meth:`Client.get_rotation` only."""
    created: bool | None = None
    """From :meth:`Client.rotate_secret`: True when this call started the rotation, False when
    one was already running (and this is it); None elsewhere."""

    @property
    def done(self) -> bool:
        """Whether the rotation has ended (any status but ``running``)."""
        return self.status != "running"

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def duration(self) -> dt.timedelta | None:
        """From start to end; None while running."""
        return None if self.finished_at is None else self.finished_at - self.created_at

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rotation:
        status = data["status"]
        if not isinstance(status, str):
            raise TypeError("status is not text")
        created = data.get("created")
        return cls(
            id=data["id"],
            name=data["name"],
            version_id=data["version_id"],
            function=data["function"],
            status=status,
            step_index=int(data["step_index"]),
            attempts=int(data.get("attempts") or 0),
            started_by=data.get("started_by") or "",
            created_at=parse_time(data["created_at"]),
            updated_at=parse_time(data["updated_at"]),
            finished_at=_optional_time(data.get("finished_at")),
            error=data.get("error"),
            steps=tuple(RotationStep.from_json(step) for step in data.get("steps") or ()),
            events=tuple(RotationEvent.from_json(event) for event in data.get("events") or ()),
            created=None if created is None else _bool(created),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConfiguredRotation:
    """What :meth:`Client.configure_rotation` did: the configuration, and the rotation it started."""

    config: RotationConfig
    started: Rotation | None
    """The rotation started at once (``rotate_now``); None after a dry run or when disabling."""


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


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

    def parse(data: Mapping[str, Any]) -> Page[SecretInfo]:
        items = tuple(SecretInfo.from_json(item) for item in data["secrets"])
        return Page(items=items, next_page_token=data.get("next_page_token") or None)

    return Call(
        method="GET", path="/v1/secrets", params=tuple(params), idempotent=True, parse=parse
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
    def parse(data: Mapping[str, Any]) -> Page[VersionInfo]:
        items = tuple(VersionInfo.from_json(item, name=name) for item in data["versions"])
        return Page(items=items, next_page_token=data.get("next_page_token") or None)

    return Call(
        method="GET",
        path=secret_path(name, "versions"),
        params=tuple(_paging(page_size, page_token)),
        idempotent=True,
        parse=parse,
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

    def parse(data: Mapping[str, Any]) -> SecretStages:
        return SecretStages(name=data["name"], stages=dict(data["stages"]))

    return Call(method="POST", path=secret_path(name, "stage"), body=body, parse=parse)


def generate_password(options: PasswordOptions) -> Call[str]:
    unknown = set(options) - set(PasswordOptions.__annotations__)
    if unknown:
        raise TypeError(f"unknown password options: {', '.join(sorted(unknown))}")

    def parse(data: Mapping[str, Any]) -> str:
        password = data["password"]
        if not isinstance(password, str):
            raise TypeError("password is not text")
        return password

    # Generating has no effect on the server, so asking again is harmless.
    return Call(
        method="POST", path="/v1/passwords", body=dict(options), idempotent=True, parse=parse
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
        parse=_configured,
    )


def disable_rotation(name: str) -> Call[RotationConfig]:
    return Call(
        method="PUT",
        path=secret_path(name, "rotation"),
        body={"enabled": False},
        idempotent=True,
        parse=lambda data: RotationConfig.from_json(data["rotation"]),
    )


def _configured(data: Mapping[str, Any]) -> ConfiguredRotation:
    started = data.get("started")
    return ConfiguredRotation(
        config=RotationConfig.from_json(data["rotation"]),
        started=None if started is None else Rotation.from_json(started),
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
    def parse(data: Mapping[str, Any]) -> Page[Rotation]:
        items = tuple(Rotation.from_json(item) for item in data["rotations"])
        return Page(items=items, next_page_token=data.get("next_page_token") or None)

    return Call(
        method="GET",
        path=secret_path(name, "rotations"),
        params=tuple(_paging(page_size, page_token)),
        idempotent=True,
        parse=parse,
    )


def list_due_rotations() -> Call[tuple[str, ...]]:
    def parse(data: Mapping[str, Any]) -> tuple[str, ...]:
        names = data["secrets"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TypeError("secrets is not a list of names")
        return tuple(names)

    return Call(method="GET", path="/v1/due-rotations", idempotent=True, parse=parse)


def _status(data: Mapping[str, Any]) -> str:
    status = data["status"]
    if not isinstance(status, str):
        raise TypeError("status is not text")
    return status


def healthz() -> Call[str]:
    return Call(method="GET", path="/healthz", idempotent=True, authenticated=False, parse=_status)


def readyz() -> Call[str]:
    return Call(method="GET", path="/readyz", idempotent=True, authenticated=False, parse=_status)


def load_json(secret: SecretValue) -> dict[str, Any]:
    """The value of ``secret`` as a JSON object."""
    try:
        data = json.loads(secret.value)
    except ValueError:
        # Never chain: the decoder error holds the document, which is the secret.
        raise errors.InvalidParameter(
            f"secret {secret.name!r} (version {secret.version_id}) does not hold JSON"
        ) from None
    if not isinstance(data, dict):
        raise errors.InvalidParameter(
            f"secret {secret.name!r} (version {secret.version_id}) does not hold a JSON object"
        )
    return data
