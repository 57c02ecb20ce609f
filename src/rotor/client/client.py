"""The synchronous client of rotor's native API, on httpx.

Each method is one line: :mod:`rotor.client._base` builds the call and parses
the answer, and :meth:`Client._send` does the I/O and the retries.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from rotor.client import _base

T = TypeVar("T")


class Client:
    """A connection to a rotor server.

    Configuration comes from the arguments, else the ``ROTOR_URL``,
    ``ROTOR_ACCESS_KEY_ID`` and ``ROTOR_ACCESS_KEY_SECRET`` environment variables,
    else the data dir (``data_dir`` or ``ROTOR_DATA_DIR``) of a server running on
    this machine. ``transport`` replaces the network, e.g. with
    ``httpx.ASGITransport`` or ``httpx.MockTransport``.

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
        data_dir: str | os.PathLike[str] | None = None,
        credentials_file: str | os.PathLike[str] | None = None,
        timeout: httpx.Timeout = _base.DEFAULT_TIMEOUT,
        retry: _base.Retry = _base.DEFAULT_RETRY,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = _base.resolve_config(
            url=url,
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            data_dir=data_dir,
            credentials_file=credentials_file,
            environ=environ,
        )
        self.retry = retry
        self._http = httpx.Client(
            base_url=self.config.url,
            timeout=timeout,
            verify=verify,
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
    ) -> _base.SecretInfo:
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

    def describe_secret(self, name: str) -> _base.SecretInfo:
        """A secret's metadata and stages; works while it is scheduled for deletion."""
        return self._send(_base.describe_secret(name))

    def update_secret(
        self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None
    ) -> _base.SecretInfo:
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
    ) -> _base.Page[_base.SecretInfo]:
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
    ) -> Iterator[_base.SecretInfo]:
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
    ) -> _base.SecretInfo:
        """Schedule deletion after ``recovery_days`` (7-30, default 30), or delete now with ``force``."""
        return self._send(_base.delete_secret(name, recovery_days=recovery_days, force=force))

    def restore_secret(self, name: str) -> _base.SecretInfo:
        """Cancel a scheduled deletion."""
        return self._send(_base.restore_secret(name))

    # -- values and versions -------------------------------------------------------------------

    def get_value(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> _base.SecretValue:
        """A version's value, by stage (default Current) and/or version id."""
        return self._send(_base.get_value(name, stage=stage, version_id=version_id))

    def get_json(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> dict[str, Any]:
        """A value that holds a JSON object, decoded."""
        return _base.load_json(self.get_value(name, stage=stage, version_id=version_id))

    def put_value(
        self,
        name: str,
        value: str | bytes,
        *,
        version_id: str | None = None,
        stages: tuple[str, ...] | list[str] | None = None,
    ) -> _base.VersionInfo:
        """Add a version (text for ``str``, binary for ``bytes``), staged ``stages`` (default Current).

        Without ``version_id`` the client picks a UUID, so a retried put never adds two versions.
        """
        return self._send(_base.put_value(name, value, version_id=version_id, stages=stages))

    def list_versions(
        self, name: str, *, page_size: int | None = None, page_token: str | None = None
    ) -> _base.Page[_base.VersionInfo]:
        """One page of a secret's versions, newest first."""
        return self._send(_base.list_versions(name, page_size=page_size, page_token=page_token))

    def iter_versions(
        self, name: str, *, page_size: int | None = None
    ) -> Iterator[_base.VersionInfo]:
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
    ) -> _base.SecretStages:
        """Move a stage to a version and/or remove it from one; moving Current moves Previous."""
        return self._send(
            _base.update_stage(
                name,
                stage,
                move_to_version=move_to_version,
                remove_from_version=remove_from_version,
            )
        )

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
