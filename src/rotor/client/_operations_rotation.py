"""The rotation operations of both clients, and the wait for a rotation to end.

Each operation is defined here once, as a function that returns the
:class:`_calls.Call` it stands for (:data:`_calls.Pages` for ``iter_rotations``,
a :class:`_calls.Poll` for ``wait_for_rotation``); its docstring is the client
method's. :mod:`rotor.client.client` makes each one a method of
:class:`rotor.client.Client` and of :class:`rotor.client.AsyncClient`. No I/O
happens here; :class:`RotationWait` decides when a wait reads the rotation again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from rotor import errors
from rotor.client._calls import Call, Pages, Poll, page_of
from rotor.client._models import ConfiguredRotation, Page, Rotation, RotationConfig
from rotor.client._operations_secrets import secret_path
from rotor.client._status_models import RotationStatus

_ROTATION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


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
    """Enable rotation of a secret with a rotation function and, optionally, a schedule.

    ``every`` (``30d``, ``12h``, ``90m``) or ``cron`` (UTC) is the schedule, ``window``
    how long after its due time a rotation may start, ``flow`` a flow definition
    (YAML text; ``""`` goes back to the default flow). What is None keeps its
    configured value (``function`` too, when rotation was configured before).

    With ``rotate_now`` a rotation starts at once (``.started``; follow it with
    :meth:`wait_for_rotation`); without, the function's new and test steps first run
    as a dry run into a throwaway version, and a failure raises InvalidParameter
    with nothing stored.
    """
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
    """Stop scheduled rotations of a secret (its configuration is kept)."""
    return Call(
        method="PUT",
        path=secret_path(name, "rotation"),
        body={"enabled": False},
        idempotent=True,
        parse=lambda data: RotationConfig.from_json(data["rotation"]),
    )


def describe_rotation(name: str) -> Call[RotationConfig]:
    """A secret's rotation configuration; NotFound when rotation was never configured."""
    return Call(
        method="GET",
        path=secret_path(name, "rotation"),
        idempotent=True,
        parse=RotationConfig.from_json,
    )


def rotate_secret(
    name: str, *, version_id: str | None = None, require_new: bool = False
) -> Call[Rotation]:
    """Start a rotation now and return at once (``.created`` is False when one was running).

    With a rotation already running, returns that one, or raises RotationInProgress
    when ``require_new``. Follow it with :meth:`wait_for_rotation`.

    ``version_id`` makes the call idempotent: the rotation that made (or is making)
    that version is returned, however often it is asked; RotationInProgress while a
    rotation of another version runs; VersionConflict when that version exists and
    no rotation made it (the Current version, say).
    """
    body: dict[str, Any] = {"require_new": require_new}
    if version_id is not None:
        body["version_id"] = version_id
    return Call(
        method="POST", path=secret_path(name, "rotate"), body=body, parse=Rotation.from_json
    )


def cancel_rotation(name: str) -> Call[Rotation]:
    """Cancel the running rotation of a secret before its end step; Pending is removed.

    NotFound when none is running; RotationInProgress when it is in its end step.
    """
    return Call(method="POST", path=secret_path(name, "cancel-rotation"), parse=Rotation.from_json)


def get_rotation(rotation_id: str) -> Call[Rotation]:
    """One rotation, with its steps and events."""
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
    """One page of a secret's rotations, newest first (without events)."""
    return page_of(
        secret_path(name, "rotations"),
        "rotations",
        Rotation.from_json,
        page_size=page_size,
        page_token=page_token,
    )


def iter_rotations(name: str, *, page_size: int | None = None) -> Pages[Rotation]:
    """Every rotation of a secret, newest first, fetching pages as needed."""
    return lambda token: list_rotations(name, page_size=page_size, page_token=token)


def list_due_rotations() -> Call[tuple[str, ...]]:
    """The names of the secrets whose scheduled rotation is due now."""

    def parse(data: Mapping[str, Any]) -> tuple[str, ...]:
        names = data["secrets"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TypeError("secrets is not a list of names")
        return tuple(names)

    return Call(method="GET", path="/v1/due-rotations", idempotent=True, parse=parse)


def get_status(*, prefix: str | None = None, problems: bool = False) -> Call[RotationStatus]:
    """Every configured rotation's state at a glance (``ok``, ``running``, ``failing``,
    ``overdue``, ``disabled``, ``never-rotated``), with how many are in each.

    Only the secrets the caller may list the rotations of (``rotor:ListRotations``) are
    shown, and counted. ``prefix`` narrows them to names that start with it;
    ``problems`` shows only the failing and overdue ones (the summary still counts all).
    ``.problems`` of the answer is how many are failing or overdue.
    """
    params: list[tuple[str, str]] = []
    if prefix:
        params.append(("prefix", prefix))
    if problems:
        params.append(("problems", "true"))
    return Call(
        method="GET",
        path="/v1/status",
        params=tuple(params),
        idempotent=True,
        parse=RotationStatus.from_json,
    )


# -- waiting -----------------------------------------------------------------------------------


def wait_for_rotation(
    rotation_id: str,
    *,
    timeout: float | None = 600.0,
    poll: float = 0.25,
    on_update: Callable[[Rotation], None] | None = None,
) -> Poll[Rotation]:
    """Poll a rotation until it is no longer running and return it (with its events).

    ``on_update`` is called with every state read, the last one included. Raises
    TimeoutError when it still runs after ``timeout`` seconds (None: wait for ever);
    the rotation itself goes on.
    """
    waiting = RotationWait(rotation_id, timeout=timeout, poll=poll, on_update=on_update)
    return Poll(call=get_rotation(rotation_id), delay=waiting.delay)


class RotationWait:
    """When ``wait_for_rotation`` reads a rotation again."""

    def __init__(
        self,
        rotation_id: str,
        *,
        timeout: float | None,
        poll: float,
        on_update: Callable[[Rotation], None] | None = None,
    ) -> None:
        if poll <= 0:
            raise ValueError("poll must be positive")
        self.rotation_id = rotation_id
        self.timeout = timeout
        self.poll = poll
        self.on_update = on_update
        self.deadline = None if timeout is None else time.monotonic() + timeout

    def delay(self, rotation: Rotation) -> float | None:
        """Seconds to wait before reading ``rotation`` again, or None once it is done.

        Calls ``on_update`` with it first; raises TimeoutError when it still runs at the
        deadline.
        """
        if self.on_update is not None:
            self.on_update(rotation)
        if rotation.done:
            return None
        if self.deadline is None:
            return self.poll
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"rotation {self.rotation_id} of {rotation.name!r} is still running "
                f"after {self.timeout:g} s"
            )
        return min(self.poll, left)
