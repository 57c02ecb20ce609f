"""An in-process cache of secret values for applications: :class:`SecretCache`.

    from rotor.client import SecretCache

    cache = SecretCache()                    # a Client from ROTOR_URL/... or the data dir
    password = cache.get_value("app/db")     # the server the first time, memory after that
    settings = cache.get_json("app/config")  # a value that holds a JSON object, as a new dict

Entries are keyed by (secret name, stage, version id); a read by stage alone
(default ``Current``) and a read by version id are different entries. An entry
is served from memory for ``refresh_interval`` seconds (default five minutes)
after it was fetched; the first read after that fetches it again, in the
reading thread. A rotation is therefore seen at the latest one interval after
it moved ``Current``, or at once after :meth:`SecretCache.refresh`.

Errors: when a refresh fails because the server is unreachable or answers 5xx
(:class:`rotor.errors.ServerUnreachable`, :class:`rotor.errors.ServerError`), the
last value is served and the key is not tried again before a capped exponential
backoff (``backoff``, doubled after each failure, at most ``max_backoff``
seconds). Any other error (``NotFound``, ``AccessDenied``, ...) is raised and
drops the entry: a value the server refuses is not served from memory. A miss
with nothing cached raises whatever the server (or its absence) raised.

A value read with :meth:`SecretCache.get_json` is decoded once, on the first such read
of each fetched value, and kept with the entry; every read returns a copy of it (a
``dict.copy()`` when no field holds an object or a list), so a caller that changes the
dict it got changes nothing in the cache.

Threads: a hit is one dict lookup and one clock read, with no lock; the lock is
never held during network I/O. Only one thread fetches a key at a time: others
asking for the same key meanwhile get the last value when there is one, else
wait for that fetch's outcome. No background thread is started, unless the cache
watches.

Watching (``SecretCache(watch=True)``): one daemon thread follows the server's event
log (``GET /v1/events``, long polls; :mod:`rotor.client._cache_watch`) and, when a
secret changes (a value put, a stage moved, a rotation's end, a deletion scheduled,
done or cancelled), makes every cached entry of it be fetched again on its next read,
so a rotation is seen within about a second of it instead of within the refresh
interval. An entry is expired, not dropped: its last value is still served through a
failed refresh, as above. A fetch under way when the event arrives is stored already
expired. The key needs ``rotor:ListEvents`` on the secrets it reads; while the stream
fails (denied, unreachable, an older server without the events API), the refresh
interval applies as without watching, the failure is logged once at WARNING, and the
stream is tried again with a capped backoff (``backoff`` to ``max_backoff``). The
refresh interval always applies too: keep it finite, as the bound on staleness should
the stream miss something. :meth:`SecretCache.close` stops the thread at once.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, Unpack

import httpx

from rotor import errors
from rotor.client import _connection, _models, _retries
from rotor.client._cache_watch import Watch
from rotor.client._closing import ClosesOnExit
from rotor.client.client import Client

logger = logging.getLogger(__name__)

DEFAULT_REFRESH_INTERVAL = 300.0
"""Seconds a fetched value is served from memory before the next read fetches it again."""
DEFAULT_MAX_SIZE = 1024
"""Entries kept before the least recently read one is evicted."""

_TRANSIENT = (errors.ServerUnreachable, errors.ServerError)
"""Failures a stale value is served through: no answer, or a 5xx one."""

_Key = tuple[str, str | None, str | None]
"""(secret name, stage, version id); the stage is ``Current`` when neither is given."""

_SCALARS = frozenset({str, int, float, bool, type(None)})
"""The JSON values a copy may share: nothing can change them."""


def _key(name: str, stage: str | None, version_id: str | None) -> _Key:
    return (name, "Current" if stage is None and version_id is None else stage, version_id)


def _copy(value: Any) -> Any:
    """A copy of a decoded JSON value that shares no dict or list with it."""
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


class _Decoded:
    """The JSON object an entry's value holds, decoded on the first :meth:`SecretCache.get_json`.

    Set once, in one assignment, so readers need no lock (two threads may both decode the
    first time; either result is the same).
    """

    __slots__ = ("document",)

    def __init__(self) -> None:
        self.document: tuple[dict[str, Any], bool] | None = None
        """The object, and whether every one of its values is a scalar."""

    def copy(self, secret: _models.SecretValue) -> dict[str, Any]:
        """A new dict equal to the object ``secret`` holds; InvalidParameter if it holds none."""
        document = self.document
        if document is None:
            value = _models.load_json(secret)
            document = (value, all(type(v) in _SCALARS for v in value.values()))
            self.document = document
        value, flat = document
        return value.copy() if flat else _copy(value)


class ClientOptions(TypedDict, total=False):
    """The arguments of :class:`rotor.client.Client`, for a :class:`SecretCache` that builds one."""

    url: str | None
    access_key_id: str | None
    access_key_secret: str | None
    security_token: str | None
    data_dir: str | os.PathLike[str] | None
    credentials_file: str | os.PathLike[str] | None
    signing: _connection.Signing | None
    ca_bundle: str | os.PathLike[str] | None
    timeout: httpx.Timeout
    retry: _retries.Retry
    verify: bool | str | ssl.SSLContext
    transport: httpx.BaseTransport | None
    environ: Mapping[str, str] | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Entry:
    """A cached value; replaced whole, never changed, so readers need no lock."""

    secret: _models.SecretValue
    refresh_at: float
    """The clock reading from which a read fetches the value again."""
    ticket: int
    """The number of the fetch that produced it; a later fetch's value wins."""
    failures: int = 0
    """Refreshes failed in a row (transiently) since the value was fetched."""
    decoded: _Decoded = dataclasses.field(default_factory=_Decoded, compare=False)
    """The value as a JSON object, once :meth:`SecretCache.get_json` has read it."""


class _Fetch:
    """One fetch of a key in progress, which other threads may wait for."""

    __slots__ = ("discarded", "done", "error", "expired", "secret", "ticket")

    def __init__(self, ticket: int) -> None:
        self.ticket = ticket
        self.done = threading.Event()
        self.secret: _models.SecretValue | None = None
        self.error: BaseException | None = None
        self.discarded = False
        """Set by invalidate/clear: the value may predate them, so it is not stored."""
        self.expired = False
        """Set when the secret changed meanwhile: the value is stored, to be fetched again."""

    def result(self) -> _models.SecretValue:
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.secret is not None
        return self.secret


class SecretCache(ClosesOnExit):
    """A thread-safe, in-process cache of secret values in front of a :class:`Client`.

    ``client`` is used as given (and left open by :meth:`close`); without it the cache
    builds one from ``client_options`` (the arguments of :class:`Client`, which falls
    back on ``ROTOR_URL``, ``ROTOR_ACCESS_KEY_ID``/``_SECRET`` or the data dir) and
    closes it with :meth:`close`. A cache that reads through a stale value pays the
    client's own retries first; give the client a smaller :class:`Retry` to fail over
    to the cached value sooner.

    ``refresh_interval`` is how long a fetched value is served from memory;
    ``max_size`` how many entries are kept, the least recently read evicted first;
    ``backoff`` and ``max_backoff`` how long a key whose refresh failed (unreachable
    or 5xx) keeps serving its last value before the next try (doubling from
    ``backoff`` up to ``max_backoff`` seconds). ``clock`` returns seconds on a
    monotonic scale (tests pass their own).

    ``watch=True`` starts one daemon thread that follows the server's events and makes
    a changed secret be fetched again on its next read (see the module's docstring): a
    rotation is then seen within about a second. The key needs ``rotor:ListEvents`` on
    the secrets read; without it (or while the server cannot be reached) the refresh
    interval applies as without watching. A client on an injected ``transport`` cannot
    be watched through (ValueError): the thread needs connections of its own.
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        refresh_interval: float = DEFAULT_REFRESH_INTERVAL,
        max_size: int = DEFAULT_MAX_SIZE,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        watch: bool = False,
        **client_options: Unpack[ClientOptions],
    ) -> None:
        if refresh_interval < 0:
            raise ValueError("refresh_interval must not be negative")
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        if not 0 < backoff <= max_backoff:
            raise ValueError("backoff must be positive and at most max_backoff")
        if client is not None and client_options:
            raise TypeError("give either a client or the options to build one, not both")
        self.client = client if client is not None else Client(**client_options)
        self.refresh_interval = refresh_interval
        self.max_size = max_size
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._owns_client = client is None
        self._clock = clock
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()
        self._fetches: dict[_Key, _Fetch] = {}
        self._tickets = itertools.count(1)
        self._lock = threading.Lock()
        self._closed = False
        self._watch: Watch | None = None
        if watch:
            try:
                self._watch = Watch(
                    self.client,
                    mark=self._mark,
                    expire=self._expire,
                    backoff=backoff,
                    max_backoff=max_backoff,
                )
            except BaseException:
                if self._owns_client:
                    self.client.close()
                raise

    @property
    def watching(self) -> bool:
        """Whether the cache follows the server's events now (False without ``watch``,
        and while the stream fails)."""
        return self._watch is not None and self._watch.following

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self._entries)}/{self.max_size} of {self.client!r}>"

    def __len__(self) -> int:
        """The number of cached entries."""
        return len(self._entries)

    # -- reads ---------------------------------------------------------------------------------

    def get_value(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> str | bytes:
        """A secret's value (``str`` for text, ``bytes`` for binary), by stage (default
        Current) and/or version id, from memory while it is fresh.

        Unlike :meth:`Client.get_value`, this returns the value itself; use
        :meth:`get_secret_value` for its version id and stages.
        """
        return self.get_secret_value(name, stage=stage, version_id=version_id).value

    def get_secret_value(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> _models.SecretValue:
        """Like :meth:`get_value`, with the version id, stages and creation time.

        A hit is one dict lookup and one clock read, without the lock.
        """
        key = _key(name, stage, version_id)
        entry = self._entries.get(key)
        if entry is not None and self._clock() < entry.refresh_at:
            try:  # noqa: SIM105 - contextlib.suppress would cost more than the whole hit
                self._entries.move_to_end(key)  # most recently used; atomic without the lock
            except KeyError:  # evicted or invalidated since it was read
                pass
            return entry.secret
        return self._read(key)

    def get_json(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> dict[str, Any]:
        """A value that holds a JSON object, as a new dict each call (the value is decoded
        once per fetch, and copied).

        Raises InvalidParameter, naming the secret and version but not quoting the
        value, when it is not JSON or not an object.
        """
        secret = self.get_secret_value(name, stage=stage, version_id=version_id)
        entry = self._entries.get(_key(name, stage, version_id))
        if entry is None or entry.secret is not secret:
            return _models.load_json(secret)  # evicted or replaced meanwhile: decode this one
        return entry.decoded.copy(secret)

    def refresh(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> _models.SecretValue:
        """Fetch a value now, cache it and return it; errors are raised, even transient ones
        (the last value stays cached, and is served under the usual backoff)."""
        key = _key(name, stage, version_id)
        with self._lock:
            self._check_open()
            fetch = self._start(key)
        return self._fetch(key, fetch, serve_stale=False)

    def invalidate(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> None:
        """Forget a secret's cached values: every one without ``stage``/``version_id``, else the
        one they name. The next read fetches; a fetch already under way is not cached."""
        with self._lock:
            if stage is None and version_id is None:
                keys = [key for key in self._entries if key[0] == name]
                keys += [key for key in self._fetches if key[0] == name]
            else:
                keys = [(name, stage, version_id)]
            for key in keys:
                self._entries.pop(key, None)
                fetch = self._fetches.pop(key, None)
                if fetch is not None:
                    fetch.discarded = True

    def clear(self) -> None:
        """Forget every cached value."""
        with self._lock:
            self._entries.clear()
            for fetch in self._fetches.values():
                fetch.discarded = True
            self._fetches.clear()

    def close(self) -> None:
        """Stop watching, forget every value and close the client if the cache built it;
        reads then fail."""
        with self._lock:
            self._closed = True
        if self._watch is not None:
            self._watch.stop()
        self.clear()
        if self._owns_client:
            self.client.close()

    # -- what the watch calls ------------------------------------------------------------------

    def _mark(self) -> int:
        """A number below that of every fetch started from now on."""
        with self._lock:
            return next(self._tickets)

    def _expire(self, name: str | None, before: int | None) -> None:
        """Make the entries of ``name`` (None: all) that were fetched before the fetch
        numbered ``before`` (None: all) be fetched again on their next read; their last
        values are kept for serving through a failed refresh. Fetches of them under way
        are stored expired."""

        def concerned(key: _Key, ticket: int) -> bool:
            return (name is None or key[0] == name) and (before is None or ticket < before)

        with self._lock:
            now = self._clock()
            for key, entry in list(self._entries.items()):
                if concerned(key, entry.ticket) and entry.refresh_at > now:
                    self._entries[key] = dataclasses.replace(entry, refresh_at=now)
            for key, fetch in self._fetches.items():
                if concerned(key, fetch.ticket):
                    fetch.expired = True

    # -- the slow path -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the secret cache is closed")

    def _start(self, key: _Key) -> _Fetch:
        """Register a new fetch of ``key`` (under the lock); later readers wait for it."""
        fetch = _Fetch(next(self._tickets))
        self._fetches[key] = fetch
        return fetch

    def _read(self, key: _Key) -> _models.SecretValue:
        """A miss or an expired entry: fetch, or let the thread already fetching do it."""
        with self._lock:
            self._check_open()
            entry = self._entries.get(key)
            if entry is not None and self._clock() < entry.refresh_at:
                return entry.secret  # refreshed by another thread meanwhile
            running = self._fetches.get(key)
            if running is None:
                running, leader = self._start(key), True
            elif entry is not None:
                return entry.secret  # being refreshed by another thread: the last value meanwhile
            else:
                leader = False
        if not leader:
            return running.result()
        return self._fetch(key, running, serve_stale=True)

    def _fetch(self, key: _Key, fetch: _Fetch, *, serve_stale: bool) -> _models.SecretValue:
        """Run ``fetch`` of ``key`` (without the lock), store its outcome, and wake its waiters."""
        name, stage, version_id = key
        try:
            secret = self.client.get_value(name, stage=stage, version_id=version_id)
        except _TRANSIENT as exc:
            stale = self._failed(key, fetch, exc)
            if stale is None or not serve_stale:
                raise
            return stale
        except errors.RotorError as exc:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry.ticket < fetch.ticket:
                    del self._entries[key]  # refused now: never serve it again
                self._finish(key, fetch, error=exc)
            raise
        except BaseException as exc:
            with self._lock:
                self._finish(key, fetch, error=exc)
            raise
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.ticket > fetch.ticket:
                secret = entry.secret  # a fetch started later has finished first
            elif not fetch.discarded:
                refresh_at = self._clock() + (0.0 if fetch.expired else self.refresh_interval)
                self._entries[key] = _Entry(
                    secret=secret, refresh_at=refresh_at, ticket=fetch.ticket
                )
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_size:
                    self._entries.popitem(last=False)
            self._finish(key, fetch, secret=secret)
        return secret

    def _failed(
        self, key: _Key, fetch: _Fetch, exc: errors.RotorError
    ) -> _models.SecretValue | None:
        """Record a transient failure; returns the value to serve meanwhile, if there is one."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.ticket > fetch.ticket:
                self._finish(key, fetch, secret=entry.secret)
                return entry.secret  # a fetch started later has succeeded meanwhile
            if entry is None or fetch.discarded:
                self._finish(key, fetch, error=exc)
                return None
            failures = entry.failures + 1
            delay = min(self.max_backoff, self.backoff * 2.0 ** (failures - 1))
            self._entries[key] = dataclasses.replace(
                entry, refresh_at=self._clock() + delay, failures=failures
            )
            self._finish(key, fetch, secret=entry.secret)
        logger.warning(
            "serving the cached value of %r (version %s) after a failed refresh (%s); "
            "trying again in %.3g s",
            key[0],
            entry.secret.version_id,
            exc.message,
            delay,
        )
        return entry.secret

    def _finish(
        self,
        key: _Key,
        fetch: _Fetch,
        *,
        secret: _models.SecretValue | None = None,
        error: BaseException | None = None,
    ) -> None:
        """End ``fetch`` (under the lock) and wake the threads waiting for it."""
        if self._fetches.get(key) is fetch:
            del self._fetches[key]
        fetch.secret, fetch.error = secret, error
        fetch.done.set()
