"""What ``GET /v1/status`` answers with: every configured rotation's state at a glance.

Strict like :mod:`rotor.client._models`: a missing field or a wrong type raises.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from rotor.client._models import parse_time, text_field

PROBLEM_STATES = ("failing", "overdue")
"""The states a monitor alerts on (``rotor status`` exits 1 when a secret is in one)."""


def _optional_time(value: Any) -> dt.datetime | None:
    return None if value is None else parse_time(value)


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    return None if data.get(key) is None else text_field(data, key)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class SecretRotationStatus:
    """One secret's rotation at a glance: its state, schedule, and what it last did."""

    name: str
    state: str
    """``ok``, ``running``, ``failing``, ``overdue``, ``disabled`` or ``never-rotated``."""
    function: str
    enabled: bool
    every_seconds: int | None
    cron: str | None
    window_seconds: int | None
    next_rotation_at: dt.datetime | None
    """When the next scheduled rotation is due; None without a schedule or while disabled."""
    last_rotated_at: dt.datetime | None
    """When a rotation of it last succeeded."""
    last_rotation_id: str | None
    """The latest rotation that ended (None: none has)."""
    last_status: str | None
    """How it ended: ``succeeded``, ``failed``, ``cancelled`` or ``abandoned``."""
    last_started_at: dt.datetime | None
    last_finished_at: dt.datetime | None
    last_error: str | None
    """Why it failed, was cancelled or abandoned, as its history says (never a secret value)."""
    running_rotation_id: str | None
    """The rotation running now, if one is."""
    running_since: dt.datetime | None

    @property
    def problem(self) -> bool:
        """Whether it is failing or overdue."""
        return self.state in PROBLEM_STATES

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SecretRotationStatus:
        last, running = data.get("last_rotation") or {}, data.get("running_rotation") or {}
        cron, error = data.get("cron"), last.get("error")
        return cls(
            name=text_field(data, "name"),
            state=text_field(data, "state"),
            function=text_field(data, "function"),
            enabled=_bool(data["enabled"]),
            every_seconds=_optional_int(data.get("every_seconds")),
            cron=None if cron is None else str(cron),
            window_seconds=_optional_int(data.get("window_seconds")),
            next_rotation_at=_optional_time(data.get("next_rotation_at")),
            last_rotated_at=_optional_time(data.get("last_rotated_at")),
            last_rotation_id=_optional_text(last, "id"),
            last_status=_optional_text(last, "status"),
            last_started_at=_optional_time(last.get("started_at")),
            last_finished_at=_optional_time(last.get("finished_at")),
            last_error=None if error is None else str(error),
            running_rotation_id=_optional_text(running, "id"),
            running_since=_optional_time(running.get("started_at")),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class RotationStatus:
    """Every configured rotation the caller may see (``rotor:ListRotations``), by name,
    and how many are in each state."""

    at: dt.datetime
    """When the server decided the states."""
    overdue_grace_seconds: float
    """How long past due a rotation that has not started may be before it is overdue."""
    summary: Mapping[str, int]
    """State -> how many of the secrets the caller may see (under the prefix asked
    for) are in it; every state is named. With ``problems=True`` it still counts them all."""
    secrets: tuple[SecretRotationStatus, ...]
    """The secrets, by name (only the failing and overdue ones with ``problems=True``)."""

    @property
    def problems(self) -> int:
        """How many secrets are failing or overdue."""
        return sum(self.summary.get(state, 0) for state in PROBLEM_STATES)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RotationStatus:
        summary = data["summary"]
        if not isinstance(summary, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in summary.items()
        ):
            raise TypeError("summary is not a map of states to counts")
        grace = data["overdue_grace_seconds"]
        if isinstance(grace, bool) or not isinstance(grace, int | float):
            raise TypeError("overdue_grace_seconds is not a number")
        return cls(
            at=parse_time(data["at"]),
            overdue_grace_seconds=float(grace),
            summary=dict(summary),
            secrets=tuple(SecretRotationStatus.from_json(item) for item in data["secrets"]),
        )
