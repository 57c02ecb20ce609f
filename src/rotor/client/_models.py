"""What the API answers with: frozen result values, each parsed by its ``from_json``.

Parsing is strict (a missing field, a wrong type or a naive time raises, and
:func:`rotor.client._calls.handle` reports that as an unexpected response), and
no repr shows a secret value.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, TypeVar

from rotor import errors

T = TypeVar("T")


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
            value = text_field(data, "value")
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

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SecretStages:
        return cls(name=data["name"], stages=dict(data["stages"]))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    """One page of a listing; pass ``next_page_token`` back for the next one (None: last page)."""

    items: tuple[T, ...]
    next_page_token: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], key: str, item: Callable[[Any], T]) -> Page[T]:
        """The page whose items are the list ``data[key]``, each parsed by ``item``."""
        items = tuple(item(entry) for entry in data[key])
        return cls(items=items, next_page_token=data.get("next_page_token") or None)


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
    ``succeeded``, ``failed``, ``abandoned``, ``cancelled``, ``resumed`` or ``log``."""

    at: dt.datetime
    kind: str
    step: str | None
    """The task it concerns, as ``RotateSecretNew (new)``."""
    message: str | None
    node: str | None = None
    """The node that recorded it (None for events older than node names)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RotationEvent:
        return cls(
            at=parse_time(data["at"]),
            kind=data["kind"],
            step=data.get("step"),
            message=data.get("message"),
            node=data.get("node"),
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
    node: str | None = None
    """The node that started it, then the one running (or that last ran) it."""
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
        created = data.get("created")
        return cls(
            id=data["id"],
            name=data["name"],
            version_id=data["version_id"],
            function=data["function"],
            status=text_field(data, "status"),
            step_index=int(data["step_index"]),
            attempts=int(data.get("attempts") or 0),
            started_by=data.get("started_by") or "",
            created_at=parse_time(data["created_at"]),
            updated_at=parse_time(data["updated_at"]),
            finished_at=_optional_time(data.get("finished_at")),
            error=data.get("error"),
            steps=tuple(RotationStep.from_json(step) for step in data.get("steps") or ()),
            events=tuple(RotationEvent.from_json(event) for event in data.get("events") or ()),
            node=data.get("node"),
            created=None if created is None else _bool(created),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class DryRun:
    """What a dry run checked, and what it could not."""

    ran: tuple[str, ...]
    """The tasks that ran, e.g. ``RotateSecretNew (new)``."""
    skipped: tuple[str, ...]
    """The tasks that did not run, each with why."""
    log: tuple[str, ...]
    """What the functions reported while they ran (secret values blanked out)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DryRun:
        return cls(
            ran=tuple(str(t) for t in data["ran"]),
            skipped=tuple(str(t) for t in data["skipped"]),
            log=tuple(str(t) for t in data["log"]),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConfiguredRotation:
    """What :meth:`Client.configure_rotation` did: the configuration, and the rotation it started."""

    config: RotationConfig
    started: Rotation | None
    """The rotation started at once (``rotate_now``); None after a dry run or when disabling."""
    dry_run: DryRun | None = None
    """What the dry run (``rotate_now=False``) checked and could not check."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConfiguredRotation:
        started = data.get("started")
        dry_run = data.get("dry_run")
        return cls(
            config=RotationConfig.from_json(data["rotation"]),
            started=None if started is None else Rotation.from_json(started),
            dry_run=None if dry_run is None else DryRun.from_json(dry_run),
        )


def text_field(data: Mapping[str, Any], key: str) -> str:
    """``data[key]``, which must be text."""
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not text")
    return value


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
