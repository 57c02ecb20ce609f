"""The clients of rotor's native API, on httpx: :class:`Client` and :class:`AsyncClient`.

Both are thin I/O shells around one core. Every API method is defined once, in
the mixins :class:`_secret_methods.SecretMethods` and
:class:`_access_methods.AccessMethods`, as the :mod:`rotor.client._base` call it
sends; :mod:`rotor.client._methods` turns each into a method that returns its
result here and a coroutine of it on the async client. What is left in this
module is the I/O: sending a call with retries (:meth:`Client._send`), walking
pages (``_iterate``) and polling a rotation (``wait_for_rotation``).
"""

from __future__ import annotations

import abc
import asyncio
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType
from typing import Generic, TypeVar

import httpx

from rotor.client import _base, _connection, _models
from rotor.client._access_methods import AccessMethods
from rotor.client._closing import ClosesOnExit
from rotor.client._methods import Pages
from rotor.client._secret_methods import RotationWait, SecretMethods

T = TypeVar("T")
TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)

_HEADERS = {"User-Agent": "rotor-client", "Accept": "application/json"}


class _BaseClient(SecretMethods, AccessMethods, abc.ABC, Generic[TransportT]):
    """What both clients share: how they are configured, and every API method."""

    def __init__(
        self,
        url: str | None = None,
        *,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        security_token: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        credentials_file: str | os.PathLike[str] | None = None,
        signing: _connection.Signing | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        timeout: httpx.Timeout = _base.DEFAULT_TIMEOUT,
        retry: _base.Retry = _base.DEFAULT_RETRY,
        verify: bool | str | ssl.SSLContext = True,
        transport: TransportT | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = _connection.resolve_config(
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
        self._connect(
            timeout=timeout, verify=_connection.tls_verify(self.config, verify), transport=transport
        )

    @abc.abstractmethod
    def _connect(
        self, *, timeout: httpx.Timeout, verify: bool | ssl.SSLContext, transport: TransportT | None
    ) -> None:
        """Open ``self._http``, the httpx client of :attr:`config`'s server."""

    @property
    def url(self) -> str:
        return self.config.url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.config.url}>"


class Client(_BaseClient[httpx.BaseTransport], ClosesOnExit):
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

    _http: httpx.Client

    def _connect(
        self,
        *,
        timeout: httpx.Timeout,
        verify: bool | ssl.SSLContext,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self._http = httpx.Client(
            base_url=self.config.url,
            timeout=timeout,
            verify=verify,
            transport=transport,
            headers=_HEADERS,
        )

    def close(self) -> None:
        self._http.close()

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

    def _iterate(self, pages: Pages[T]) -> Iterator[T]:
        token: str | None = None
        while True:
            page = self._send(pages(token))
            yield from page.items
            if page.next_page_token is None:
                return
            token = page.next_page_token

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
        waiting = RotationWait(rotation_id, timeout=timeout, poll=poll)
        while True:
            rotation = self.get_rotation(rotation_id)
            if on_update is not None:
                on_update(rotation)
            delay = waiting.delay(rotation)
            if delay is None:
                return rotation
            time.sleep(delay)


class AsyncClient(_BaseClient[httpx.AsyncBaseTransport]):
    """A connection to a rotor server for asyncio: :class:`Client`, awaited.

    It takes the same arguments and finds its configuration the same way (see
    :class:`Client`), except that ``transport`` is an ``httpx.AsyncBaseTransport``
    (e.g. ``httpx.ASGITransport`` or ``httpx.MockTransport``). Every method of
    ``Client`` is a coroutine here, and ``iter_*`` return async iterators::

        async with AsyncClient() as rotor:
            value = await rotor.get_value("app/db")
            async for secret in rotor.iter_secrets(prefix="app/"):
                ...

    Retries, timeouts and errors are those of :class:`Client`; calls made
    concurrently (``asyncio.gather``) share one connection pool.
    """

    _http: httpx.AsyncClient

    def _connect(
        self,
        *,
        timeout: httpx.Timeout,
        verify: bool | ssl.SSLContext,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=self.config.url,
            timeout=timeout,
            verify=verify,
            transport=transport,
            headers=_HEADERS,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(self, call: _base.Call[T]) -> T:
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
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                delay = _base.retry_delay(self.retry, call, retries, error=exc)
                if delay is None:
                    raise _base.unreachable(self.config, exc) from exc
            else:
                delay = _base.retry_delay(self.retry, call, retries, response=response)
                if delay is None:
                    return _base.handle(call, response)
                await response.aclose()
            retries += 1
            await asyncio.sleep(delay)

    async def _iterate(self, pages: Pages[T]) -> AsyncIterator[T]:
        token: str | None = None
        while True:
            page = await self._send(pages(token))
            for item in page.items:
                yield item
            if page.next_page_token is None:
                return
            token = page.next_page_token

    async def wait_for_rotation(
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
        waiting = RotationWait(rotation_id, timeout=timeout, poll=poll)
        while True:
            rotation = await self.get_rotation(rotation_id)
            if on_update is not None:
                on_update(rotation)
            delay = waiting.delay(rotation)
            if delay is None:
                return rotation
            await asyncio.sleep(delay)
