"""The secret, value, version, stage, rotation and health methods of both clients.

Each method is written once and builds the :class:`_base.Call` it stands for;
:mod:`rotor.client._methods` makes it send that call on a
:class:`rotor.client.Client` (returning the result) and on a
:class:`rotor.client.AsyncClient` (returning a coroutine of it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Unpack

from rotor.client import _base, _models
from rotor.client._methods import Pages, operation, paginated, then


class SecretMethods:
    """Secrets, their values, versions and stages, rotation, passwords and health."""

    # -- secrets -------------------------------------------------------------------------------

    @operation
    def create_secret(
        self,
        name: str,
        *,
        value: str | bytes | None = None,
        description: str | None = None,
        secret_type: str | None = None,
        tags: Mapping[str, str] | None = None,
        version_id: str | None = None,
    ) -> _base.Call[_models.SecretInfo]:
        """Create a secret; a ``value`` becomes its first version, staged Current."""
        return _base.create_secret(
            name,
            value=value,
            description=description,
            secret_type=secret_type,
            tags=tags,
            version_id=version_id,
        )

    @operation
    def describe_secret(self, name: str) -> _base.Call[_models.SecretInfo]:
        """A secret's metadata and stages; works while it is scheduled for deletion."""
        return _base.describe_secret(name)

    @operation
    def update_secret(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> _base.Call[_models.SecretInfo]:
        """Change the description and/or replace all tags."""
        return _base.update_secret(name, description=description, tags=tags)

    @operation
    def list_secrets(
        self,
        *,
        prefix: str | None = None,
        tags: Mapping[str, str] | None = None,
        include_pending_deletion: bool = False,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> _base.Call[_models.Page[_models.SecretInfo]]:
        """One page of secrets ordered by name; every tag given must match."""
        return _base.list_secrets(
            prefix=prefix,
            tags=tags,
            include_pending_deletion=include_pending_deletion,
            page_size=page_size,
            page_token=page_token,
        )

    @paginated
    def iter_secrets(
        self,
        *,
        prefix: str | None = None,
        tags: Mapping[str, str] | None = None,
        include_pending_deletion: bool = False,
        page_size: int | None = None,
    ) -> Pages[_models.SecretInfo]:
        """Every secret matching the filters, fetching pages as needed."""
        return lambda token: _base.list_secrets(
            prefix=prefix,
            tags=tags,
            include_pending_deletion=include_pending_deletion,
            page_size=page_size,
            page_token=token,
        )

    @operation
    def delete_secret(
        self, name: str, *, recovery_days: int | None = None, force: bool = False
    ) -> _base.Call[_models.SecretInfo]:
        """Schedule deletion after ``recovery_days`` (7-30, default 30), or delete now with ``force``."""
        return _base.delete_secret(name, recovery_days=recovery_days, force=force)

    @operation
    def restore_secret(self, name: str) -> _base.Call[_models.SecretInfo]:
        """Cancel a scheduled deletion."""
        return _base.restore_secret(name)

    # -- values and versions -------------------------------------------------------------------

    @operation
    def get_value(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> _base.Call[_models.SecretValue]:
        """A version's value, by stage (default Current) and/or version id."""
        return _base.get_value(name, stage=stage, version_id=version_id)

    @operation
    def get_json(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> _base.Call[dict[str, Any]]:
        """A value that holds a JSON object, decoded."""
        return then(_base.get_value(name, stage=stage, version_id=version_id), _models.load_json)

    @operation
    def put_value(
        self,
        name: str,
        value: str | bytes,
        *,
        version_id: str | None = None,
        stages: tuple[str, ...] | list[str] | None = None,
    ) -> _base.Call[_models.VersionInfo]:
        """Add a version (text for ``str``, binary for ``bytes``), staged ``stages`` (default Current).

        Without ``version_id`` the client picks a UUID, so a retried put never adds two versions.
        """
        return _base.put_value(name, value, version_id=version_id, stages=stages)

    @operation
    def list_versions(
        self, name: str, *, page_size: int | None = None, page_token: str | None = None
    ) -> _base.Call[_models.Page[_models.VersionInfo]]:
        """One page of a secret's versions, newest first."""
        return _base.list_versions(name, page_size=page_size, page_token=page_token)

    @paginated
    def iter_versions(
        self, name: str, *, page_size: int | None = None
    ) -> Pages[_models.VersionInfo]:
        """Every version of a secret, newest first, fetching pages as needed."""
        return lambda token: _base.list_versions(name, page_size=page_size, page_token=token)

    @operation
    def update_stage(
        self,
        name: str,
        stage: str,
        *,
        move_to_version: str | None = None,
        remove_from_version: str | None = None,
    ) -> _base.Call[_models.SecretStages]:
        """Move a stage to a version and/or remove it from one; moving Current moves Previous."""
        return _base.update_stage(
            name, stage, move_to_version=move_to_version, remove_from_version=remove_from_version
        )

    # -- rotation ------------------------------------------------------------------------------

    @operation
    def configure_rotation(
        self,
        name: str,
        *,
        function: str | None,
        parameters: Mapping[str, Any] | None = None,
        every: str | None = None,
        cron: str | None = None,
        window: str | None = None,
        flow: str | None = None,
        rotate_now: bool = True,
    ) -> _base.Call[_models.ConfiguredRotation]:
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
        return _base.configure_rotation(
            name,
            function=function,
            parameters=parameters,
            every=every,
            cron=cron,
            window=window,
            flow=flow,
            rotate_now=rotate_now,
        )

    @operation
    def disable_rotation(self, name: str) -> _base.Call[_models.RotationConfig]:
        """Stop scheduled rotations of a secret (its configuration is kept)."""
        return _base.disable_rotation(name)

    @operation
    def describe_rotation(self, name: str) -> _base.Call[_models.RotationConfig]:
        """A secret's rotation configuration; NotFound when rotation was never configured."""
        return _base.describe_rotation(name)

    @operation
    def rotate_secret(
        self, name: str, *, version_id: str | None = None, require_new: bool = False
    ) -> _base.Call[_models.Rotation]:
        """Start a rotation now and return at once (``.created`` is False when one was running).

        With a rotation already running, returns that one, or raises RotationInProgress
        when ``require_new``. Follow it with :meth:`wait_for_rotation`.
        """
        return _base.rotate_secret(name, version_id=version_id, require_new=require_new)

    @operation
    def cancel_rotation(self, name: str) -> _base.Call[_models.Rotation]:
        """Cancel the running rotation of a secret before its end step; Pending is removed.

        NotFound when none is running; RotationInProgress when it is in its end step.
        """
        return _base.cancel_rotation(name)

    @operation
    def get_rotation(self, rotation_id: str) -> _base.Call[_models.Rotation]:
        """One rotation, with its steps and events."""
        return _base.get_rotation(rotation_id)

    @operation
    def list_rotations(
        self, name: str, *, page_size: int | None = None, page_token: str | None = None
    ) -> _base.Call[_models.Page[_models.Rotation]]:
        """One page of a secret's rotations, newest first (without events)."""
        return _base.list_rotations(name, page_size=page_size, page_token=page_token)

    @paginated
    def iter_rotations(self, name: str, *, page_size: int | None = None) -> Pages[_models.Rotation]:
        """Every rotation of a secret, newest first, fetching pages as needed."""
        return lambda token: _base.list_rotations(name, page_size=page_size, page_token=token)

    @operation
    def list_due_rotations(self) -> _base.Call[tuple[str, ...]]:
        """The names of the secrets whose scheduled rotation is due now."""
        return _base.list_due_rotations()

    # -- passwords and health ------------------------------------------------------------------

    @operation
    def generate_password(self, **options: Unpack[_base.PasswordOptions]) -> _base.Call[str]:
        """A random password from the server's CSPRNG."""
        return _base.generate_password(options)

    @operation
    def healthz(self) -> _base.Call[str]:
        """``"ok"`` while the server process runs (no credentials needed)."""
        return _base.healthz()

    @operation
    def readyz(self) -> _base.Call[str]:
        """``"ready"`` when the server's store answers; else raises ServiceUnavailable."""
        return _base.readyz()


class RotationWait:
    """When ``wait_for_rotation`` reads a rotation again: the polling both clients share."""

    def __init__(self, rotation_id: str, *, timeout: float | None, poll: float) -> None:
        if poll <= 0:
            raise ValueError("poll must be positive")
        self.rotation_id = rotation_id
        self.timeout = timeout
        self.poll = poll
        self.deadline = None if timeout is None else time.monotonic() + timeout

    def delay(self, rotation: _models.Rotation) -> float | None:
        """Seconds to wait before reading ``rotation`` again, or None once it is done.

        Raises TimeoutError when it still runs at the deadline.
        """
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
