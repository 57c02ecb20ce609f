"""The synchronous client of rotor's native API, on httpx.

Each method is one line: :mod:`rotor.client._base` builds the call (and
:mod:`rotor.client._models` parses the answer), and :meth:`Client._send` does
the I/O and the retries.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from rotor.client import _base, _config, _models
from rotor.client._access_methods import AccessMethods

T = TypeVar("T")


class Client(AccessMethods):
    """A connection to a rotor server.

    Configuration comes from the arguments, else the ``ROTOR_URL``,
    ``ROTOR_ACCESS_KEY_ID`` and ``ROTOR_ACCESS_KEY_SECRET`` environment variables,
    else the data dir (``data_dir`` or ``ROTOR_DATA_DIR``) of a server running on
    this machine. ``transport`` replaces the network, e.g. with
    ``httpx.ASGITransport`` or ``httpx.MockTransport``.

    ``signing="hmac"`` (or ``ROTOR_AUTH=hmac``) signs every request with the key
    secret (``ROTOR-HMAC-SHA256``, a fresh timestamp and nonce each time) instead
    of sending it as a bearer key. An ``https://`` server's certificate is always
    verified: against ``ca_bundle`` (or ``ROTOR_CA_BUNDLE``), a PEM file of CA
    certificates, when given, else httpx's default CAs; ``verify`` is passed to
    httpx as it is unless it is True.

    Errors are raised as :mod:`rotor.errors` classes: the one the server
    answered with, or :class:`rotor.errors.ServerUnreachable` when there was no
    answer after the retries.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        security_token: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        credentials_file: str | os.PathLike[str] | None = None,
        signing: _config.Signing | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        timeout: httpx.Timeout = _base.DEFAULT_TIMEOUT,
        retry: _base.Retry = _base.DEFAULT_RETRY,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = _config.resolve_config(
            url=url,
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            security_token=security_token,
            data_dir=data_dir,
            credentials_file=credentials_file,
            signing=signing,
            ca_bundle=ca_bundle,
            environ=environ,
        )
        self.retry = retry
        self._http = httpx.Client(
            base_url=self.config.url,
            timeout=timeout,
            verify=_config.tls_verify(self.config, verify),
            transport=transport,
            headers={"User-Agent": "rotor-client", "Accept": "application/json"},
        )

    @property
    def url(self) -> str:
        return self.config.url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.config.url}>"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, call: _base.Call[T]) -> T:
        request = self._http.build_request(
            call.method,
            call.path,
            params=call.params,
            json=call.body,
            headers=_base.headers(self.config, call),
        )
        retries = 0
        while True:
            _base.sign(self.config, call, request)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                delay = _base.retry_delay(self.retry, call, retries, error=exc)
                if delay is None:
                    raise _base.unreachable(self.config, exc) from exc
            else:
                delay = _base.retry_delay(self.retry, call, retries, response=response)
                if delay is None:
                    return _base.handle(call, response)
                response.close()
            retries += 1
            time.sleep(delay)

    # -- secrets -------------------------------------------------------------------------------

    def create_secret(
        self,
        name: str,
        *,
        value: str | bytes | None = None,
        description: str | None = None,
        secret_type: str | None = None,
        tags: Mapping[str, str] | None = None,
        version_id: str | None = None,
    ) -> _models.SecretInfo:
        """Create a secret; a ``value`` becomes its first version, staged Current."""
        return self._send(
            _base.create_secret(
                name,
                value=value,
                description=description,
                secret_type=secret_type,
                tags=tags,
                version_id=version_id,
            )
        )

    def describe_secret(self, name: str) -> _models.SecretInfo:
        """A secret's metadata and stages; works while it is scheduled for deletion."""
        return self._send(_base.describe_secret(name))

    def update_secret(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> _models.SecretInfo:
        """Change the description and/or replace all tags."""
        return self._send(_base.update_secret(name, description=description, tags=tags))

    def list_secrets(
        self,
        *,
        prefix: str | None = None,
        tags: Mapping[str, str] | None = None,
        include_pending_deletion: bool = False,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> _models.Page[_models.SecretInfo]:
        """One page of secrets ordered by name; every tag given must match."""
        return self._send(
            _base.list_secrets(
                prefix=prefix,
                tags=tags,
                include_pending_deletion=include_pending_deletion,
                page_size=page_size,
                page_token=page_token,
            )
        )

    def iter_secrets(
        self,
        *,
        prefix: str | None = None,
        tags: Mapping[str, str] | None = None,
        include_pending_deletion: bool = False,
        page_size: int | None = None,
    ) -> Iterator[_models.SecretInfo]:
        """Every secret matching the filters, fetching pages as needed."""
        token: str | None = None
        while True:
            page = self.list_secrets(
                prefix=prefix,
                tags=tags,
                include_pending_deletion=include_pending_deletion,
                page_size=page_size,
                page_token=token,
            )
            yield from page.items
            if page.next_page_token is None:
                return
            token = page.next_page_token

    def delete_secret(
        self, name: str, *, recovery_days: int | None = None, force: bool = False
    ) -> _models.SecretInfo:
        """Schedule deletion after ``recovery_days`` (7-30, default 30), or delete now with ``force``."""
        return self._send(_base.delete_secret(name, recovery_days=recovery_days, force=force))

    def restore_secret(self, name: str) -> _models.SecretInfo:
        """Cancel a scheduled deletion."""
        return self._send(_base.restore_secret(name))

    # -- values and versions -------------------------------------------------------------------

    def get_value(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> _models.SecretValue:
        """A version's value, by stage (default Current) and/or version id."""
        return self._send(_base.get_value(name, stage=stage, version_id=version_id))

    def get_json(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> dict[str, Any]:
        """A value that holds a JSON object, decoded."""
        return _models.load_json(self.get_value(name, stage=stage, version_id=version_id))

    def put_value(
        self,
        name: str,
        value: str | bytes,
        *,
        version_id: str | None = None,
        stages: tuple[str, ...] | list[str] | None = None,
    ) -> _models.VersionInfo:
        """Add a version (text for ``str``, binary for ``bytes``), staged ``stages`` (default Current).

        Without ``version_id`` the client picks a UUID, so a retried put never adds two versions.
        """
        return self._send(_base.put_value(name, value, version_id=version_id, stages=stages))

    def list_versions(
        self, name: str, *, page_size: int | None = None, page_token: str | None = None
    ) -> _models.Page[_models.VersionInfo]:
        """One page of a secret's versions, newest first."""
        return self._send(_base.list_versions(name, page_size=page_size, page_token=page_token))

    def iter_versions(
        self, name: str, *, page_size: int | None = None
    ) -> Iterator[_models.VersionInfo]:
        """Every version of a secret, newest first, fetching pages as needed."""
        token: str | None = None
        while True:
            page = self.list_versions(name, page_size=page_size, page_token=token)
            yield from page.items
            if page.next_page_token is None:
                return
            token = page.next_page_token

    def update_stage(
        self,
        name: str,
        stage: str,
        *,
        move_to_version: str | None = None,
        remove_from_version: str | None = None,
    ) -> _models.SecretStages:
        """Move a stage to a version and/or remove it from one; moving Current moves Previous."""
        return self._send(
            _base.update_stage(
                name,
                stage,
                move_to_version=move_to_version,
                remove_from_version=remove_from_version,
            )
        )

    # -- rotation ------------------------------------------------------------------------------

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
    ) -> _models.ConfiguredRotation:
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
        return self._send(
            _base.configure_rotation(
                name,
                function=function,
                parameters=parameters,
                every=every,
                cron=cron,
                window=window,
                flow=flow,
                rotate_now=rotate_now,
            )
        )

    def disable_rotation(self, name: str) -> _models.RotationConfig:
        """Stop scheduled rotations of a secret (its configuration is kept)."""
        return self._send(_base.disable_rotation(name))

    def describe_rotation(self, name: str) -> _models.RotationConfig:
        """A secret's rotation configuration; NotFound when rotation was never configured."""
        return self._send(_base.describe_rotation(name))

    def rotate_secret(
        self, name: str, *, version_id: str | None = None, require_new: bool = False
    ) -> _models.Rotation:
        """Start a rotation now and return at once (``.created`` is False when one was running).

        With a rotation already running, returns that one, or raises RotationInProgress
        when ``require_new``. Follow it with :meth:`wait_for_rotation`.
        """
        return self._send(_base.rotate_secret(name, version_id=version_id, require_new=require_new))

    def cancel_rotation(self, name: str) -> _models.Rotation:
        """Cancel the running rotation of a secret before its end step; Pending is removed.

        NotFound when none is running; RotationInProgress when it is in its end step.
        """
        return self._send(_base.cancel_rotation(name))

    def get_rotation(self, rotation_id: str) -> _models.Rotation:
        """One rotation, with its steps and events."""
        return self._send(_base.get_rotation(rotation_id))

    def list_rotations(
        self, name: str, *, page_size: int | None = None, page_token: str | None = None
    ) -> _models.Page[_models.Rotation]:
        """One page of a secret's rotations, newest first (without events)."""
        return self._send(_base.list_rotations(name, page_size=page_size, page_token=page_token))

    def iter_rotations(
        self, name: str, *, page_size: int | None = None
    ) -> Iterator[_models.Rotation]:
        """Every rotation of a secret, newest first, fetching pages as needed."""
        token: str | None = None
        while True:
            page = self.list_rotations(name, page_size=page_size, page_token=token)
            yield from page.items
            if page.next_page_token is None:
                return
            token = page.next_page_token

    def list_due_rotations(self) -> tuple[str, ...]:
        """The names of the secrets whose scheduled rotation is due now."""
        return self._send(_base.list_due_rotations())

    def wait_for_rotation(
        self,
        rotation_id: str,
        *,
        timeout: float | None = 600.0,
        poll: float = 0.25,
        on_update: Callable[[_models.Rotation], None] | None = None,
    ) -> _models.Rotation:
        """Poll a rotation until it is no longer running and return it (with its events).

        ``on_update`` is called with every state read, the last one included. Raises
        TimeoutError when it still runs after ``timeout`` seconds (None: wait for ever);
        the rotation itself goes on.
        """
        if poll <= 0:
            raise ValueError("poll must be positive")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            rotation = self.get_rotation(rotation_id)
            if on_update is not None:
                on_update(rotation)
            if rotation.done:
                return rotation
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"rotation {rotation_id} of {rotation.name!r} is still running "
                        f"after {timeout:g} s"
                    )
                time.sleep(min(poll, left))
            else:
                time.sleep(poll)

    # -- passwords and health ------------------------------------------------------------------

    def generate_password(self, **options: Unpack[_base.PasswordOptions]) -> str:
        """A random password from the server's CSPRNG."""
        return self._send(_base.generate_password(options))

    def healthz(self) -> str:
        """``"ok"`` while the server process runs (no credentials needed)."""
        return self._send(_base.healthz())

    def readyz(self) -> str:
        """``"ready"`` when the server's store answers; else raises ServiceUnavailable."""
        return self._send(_base.readyz())
