"""The clients of rotor's native API, on httpx: :class:`Client` and :class:`AsyncClient`.

Both are thin I/O shells around one core. Every API operation is defined once,
as a function of :mod:`rotor.client._operations_secrets`,
:mod:`rotor.client._operations_rotation`, :mod:`rotor.client._operations_access`,
:mod:`rotor.client._operations_events` or :mod:`rotor.client._operations_notifications`
that returns what to run (a :class:`_calls.Call`, :data:`_calls.Pages` or a
:class:`_calls.Poll`); :class:`_BaseClient` names each one once, and
:mod:`rotor.client._binding` makes it a method that returns its result here and a
coroutine of it on the async client. What is left in the two shells is the I/O:
sending a call with retries (:meth:`Client._send`), walking pages (``_iterate``)
and polling (``_poll``).
"""

from __future__ import annotations

import abc
import asyncio
import os
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import httpx

from rotor.client import (
    _calls,
    _connection,
    _operations_access,
    _operations_events,
    _operations_notifications,
    _operations_rotation,
    _operations_secrets,
    _retries,
)
from rotor.client._binding import operation, paginated, polled
from rotor.client._closing import ClosesOnExit

T = TypeVar("T")
TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)


class _BaseClient(abc.ABC, Generic[TransportT]):
    """What both clients share: how they are configured, and every API method."""

    # -- secrets, values, versions, stages, passwords and health -------------------------------
    create_secret = operation(_operations_secrets.create_secret)
    describe_secret = operation(_operations_secrets.describe_secret)
    update_secret = operation(_operations_secrets.update_secret)
    list_secrets = operation(_operations_secrets.list_secrets)
    iter_secrets = paginated(_operations_secrets.iter_secrets)
    delete_secret = operation(_operations_secrets.delete_secret)
    restore_secret = operation(_operations_secrets.restore_secret)
    get_value = operation(_operations_secrets.get_value)
    get_json = operation(_operations_secrets.get_json)
    put_value = operation(_operations_secrets.put_value)
    list_versions = operation(_operations_secrets.list_versions)
    iter_versions = paginated(_operations_secrets.iter_versions)
    update_stage = operation(_operations_secrets.update_stage)
    generate_password = operation(_operations_secrets.generate_password)
    healthz = operation(_operations_secrets.healthz)
    readyz = operation(_operations_secrets.readyz)

    # -- rotation ------------------------------------------------------------------------------
    configure_rotation = operation(_operations_rotation.configure_rotation)
    disable_rotation = operation(_operations_rotation.disable_rotation)
    describe_rotation = operation(_operations_rotation.describe_rotation)
    rotate_secret = operation(_operations_rotation.rotate_secret)
    cancel_rotation = operation(_operations_rotation.cancel_rotation)
    get_rotation = operation(_operations_rotation.get_rotation)
    list_rotations = operation(_operations_rotation.list_rotations)
    iter_rotations = paginated(_operations_rotation.iter_rotations)
    list_due_rotations = operation(_operations_rotation.list_due_rotations)
    get_status = operation(_operations_rotation.get_status)
    wait_for_rotation = polled(_operations_rotation.wait_for_rotation)

    # -- access control and audit --------------------------------------------------------------
    create_principal = operation(_operations_access.create_principal)
    list_principals = operation(_operations_access.list_principals)
    get_principal = operation(_operations_access.get_principal)
    delete_principal = operation(_operations_access.delete_principal)
    register_function = operation(_operations_access.register_function)
    list_functions = operation(_operations_access.list_functions)
    get_function = operation(_operations_access.get_function)
    remove_function = operation(_operations_access.remove_function)
    create_access_key = operation(_operations_access.create_access_key)
    list_access_keys = operation(_operations_access.list_access_keys)
    disable_access_key = operation(_operations_access.disable_access_key)
    enable_access_key = operation(_operations_access.enable_access_key)
    delete_access_key = operation(_operations_access.delete_access_key)
    put_policy = operation(_operations_access.put_policy)
    get_policy = operation(_operations_access.get_policy)
    list_policies = operation(_operations_access.list_policies)
    delete_policy = operation(_operations_access.delete_policy)
    attach_policy = operation(_operations_access.attach_policy)
    detach_policy = operation(_operations_access.detach_policy)
    get_caller_identity = operation(_operations_access.get_caller_identity)
    assume_role = operation(_operations_access.assume_role)
    list_audit_events = operation(_operations_access.list_audit_events)
    iter_audit_events = paginated(_operations_access.iter_audit_events)
    list_nodes = operation(_operations_access.list_nodes)

    # -- the event log -------------------------------------------------------------------------
    list_events = operation(_operations_events.list_events)

    # -- notifications and their deliveries ----------------------------------------------------
    create_notification = operation(_operations_notifications.create_notification)
    list_notifications = operation(_operations_notifications.list_notifications)
    get_notification = operation(_operations_notifications.get_notification)
    delete_notification = operation(_operations_notifications.delete_notification)
    retry_notification = operation(_operations_notifications.retry_notification)
    list_deliveries = operation(_operations_notifications.list_deliveries)
    iter_deliveries = paginated(_operations_notifications.iter_deliveries)
    retry_delivery = operation(_operations_notifications.retry_delivery)

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
        timeout: httpx.Timeout = _connection.DEFAULT_TIMEOUT,
        retry: _retries.Retry = _retries.DEFAULT_RETRY,
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
        self._timeout = timeout
        self._verify = _connection.tls_verify(self.config, verify)
        self._transported = transport is not None
        self._urls: _calls.URLs = {}
        self._base_url = httpx.URL(f"{self.config.url}/")
        self._connect(verify=self._verify, transport=transport)

    @classmethod
    def _twin_of(cls, other: _BaseClient[Any]) -> Self:
        """A client of ``other``'s server, key, signing, timeout, TLS and retries, with
        connections of its own, so that it can be closed (or, async, its calls cancelled)
        without disturbing ``other``. ValueError for a client on an injected transport,
        which a twin of the other kind cannot use."""
        if other._transported:
            raise ValueError("a client on an injected transport has no twin")
        twin = cls.__new__(cls)
        twin.config, twin.retry = other.config, other.retry
        twin._timeout, twin._verify, twin._transported = other._timeout, other._verify, False
        twin._urls, twin._base_url = {}, other._base_url
        twin._connect(verify=other._verify, transport=None)
        return twin

    @abc.abstractmethod
    def _connect(self, *, verify: bool | ssl.SSLContext, transport: TransportT | None) -> None:
        """Set ``self._transport``: ``transport``, else an httpx connection pool to
        :attr:`config`'s server (through the proxy the environment names for it, as
        httpx.Client's ``trust_env`` finds it: :func:`_connection.proxy`)."""

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

    _transport: httpx.BaseTransport

    def _connect(
        self, *, verify: bool | ssl.SSLContext, transport: httpx.BaseTransport | None
    ) -> None:
        self._transport = transport or httpx.HTTPTransport(
            verify=verify, proxy=_connection.proxy(self.config.url)
        )

    def close(self) -> None:
        self._transport.close()

    def _send(self, call: _calls.Call[T]) -> T:
        request = _calls.request(self._base_url, self._timeout, self.config, call, self._urls)
        retries = 0
        while True:
            _calls.sign(self.config, call, request)
            try:
                # The transport itself, not an httpx.Client: its auth, redirect, cookie and
                # event-hook layers, none of which rotor uses, were a quarter of a read's CPU.
                response = self._transport.handle_request(request)
                response.request = request
                try:
                    response.read()
                except BaseException:
                    response.close()
                    raise
            except httpx.TransportError as exc:
                delay = _retries.retry_delay(self.retry, call, retries, error=exc)
                if delay is None:
                    raise _retries.unreachable(self.config, exc) from exc
            else:
                delay = _retries.retry_delay(self.retry, call, retries, response=response)
                if delay is None:
                    return _calls.handle(call, response)
                response.close()
            retries += 1
            time.sleep(delay)

    def _iterate(self, pages: _calls.Pages[T]) -> Iterator[T]:
        token: str | None = None
        while True:
            page = self._send(pages(token))
            yield from page.items
            if page.next_page_token is None:
                return
            token = page.next_page_token

    def _poll(self, poll: _calls.Poll[T]) -> T:
        while True:
            result = self._send(poll.call)
            delay = poll.delay(result)
            if delay is None:
                return result
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

    _transport: httpx.AsyncBaseTransport

    def _connect(
        self, *, verify: bool | ssl.SSLContext, transport: httpx.AsyncBaseTransport | None
    ) -> None:
        self._transport = transport or httpx.AsyncHTTPTransport(
            verify=verify, proxy=_connection.proxy(self.config.url)
        )

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(self, call: _calls.Call[T]) -> T:
        request = _calls.request(self._base_url, self._timeout, self.config, call, self._urls)
        retries = 0
        while True:
            _calls.sign(self.config, call, request)
            try:
                response = await self._transport.handle_async_request(request)
                response.request = request
                try:
                    await response.aread()
                except BaseException:
                    await response.aclose()
                    raise
            except httpx.TransportError as exc:
                delay = _retries.retry_delay(self.retry, call, retries, error=exc)
                if delay is None:
                    raise _retries.unreachable(self.config, exc) from exc
            else:
                delay = _retries.retry_delay(self.retry, call, retries, response=response)
                if delay is None:
                    return _calls.handle(call, response)
                await response.aclose()
            retries += 1
            await asyncio.sleep(delay)

    async def _iterate(self, pages: _calls.Pages[T]) -> AsyncIterator[T]:
        token: str | None = None
        while True:
            page = await self._send(pages(token))
            for item in page.items:
                yield item
            if page.next_page_token is None:
                return
            token = page.next_page_token

    async def _poll(self, poll: _calls.Poll[T]) -> T:
        while True:
            result = await self._send(poll.call)
            delay = poll.delay(result)
            if delay is None:
                return result
            await asyncio.sleep(delay)
