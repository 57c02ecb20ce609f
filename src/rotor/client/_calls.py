"""What an operation hands to a client to run, and how an answer becomes its result.

Each API operation (:mod:`rotor.client._operations_secrets`,
:mod:`rotor.client._operations_rotation`, :mod:`rotor.client._operations_access`)
is a function that returns one of three descriptions, and nothing here does I/O:

- a :class:`Call`: one request (method, path, query, body, whether it is safe to
  retry) and how to parse its answer;
- :data:`Pages`: the call that fetches the page at a token, for the ``iter_*`` methods;
- a :class:`Poll`: a call sent again until its result is final, for the waits.

A client (:mod:`rotor.client.client`) sends the :func:`request` of a call, signed
for its connection by :func:`sign`, and hands the response to :func:`handle`, which
returns the parsed result or raises the :mod:`rotor.errors` class the server
answered with (:func:`errors.from_response`); nothing turns an error into a return
value. No message built here ever contains a secret value or an access key secret.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeAlias, TypeVar, cast

import httpx

from rotor import errors
from rotor.client import _signing
from rotor.client._connection import ClientConfig
from rotor.client._models import Page

T = TypeVar("T")
U = TypeVar("U")


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
    wait: float = 0.0
    """Seconds the server may hold the answer back (a long poll): added to the read timeout."""

    def then(self, after: Callable[[T], U]) -> Call[U]:
        """This call, with ``after`` applied to what it parses."""
        # replace() keeps every other field; its typing cannot change the type argument.
        parse = self.parse
        return dataclasses.replace(cast("Call[Any]", self), parse=lambda data: after(parse(data)))


Pages: TypeAlias = Callable[[str | None], Call[Page[T]]]
"""The call that fetches the page at a token (None: the first page)."""


def page_of(
    path: str,
    key: str,
    item: Callable[[Any], T],
    *,
    params: Iterable[tuple[str, str]] = (),
    page_size: int | None,
    page_token: str | None,
) -> Call[Page[T]]:
    """``GET path``, asking for one page: the answer's ``key`` list, each entry parsed by ``item``."""
    query = list(params)
    if page_size is not None:
        query.append(("page_size", str(page_size)))
    if page_token:
        query.append(("page_token", page_token))
    return Call(
        method="GET",
        path=path,
        params=tuple(query),
        idempotent=True,
        parse=lambda data: Page.from_json(data, key, item),
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Poll(Generic[T]):
    """A call sent again and again until its result is final; that result is returned."""

    call: Call[T]
    delay: Callable[[T], float | None]
    """Seconds to wait before sending ``call`` again after this result, or None: it is final."""


# -- sending and answers -----------------------------------------------------------------------


URLs: TypeAlias = dict[tuple[str, tuple[tuple[str, str], ...]], httpx.URL]
"""A client's absolute URLs by path and query, built by :func:`url`."""

_URLS_KEPT = 256


def request(
    base_url: httpx.URL,
    timeout: httpx.Timeout,
    client_config: ClientConfig,
    call: Call[Any],
    urls: URLs,
) -> httpx.Request:
    """The request of ``call`` to the server at ``base_url``, with the client's
    :data:`DEFAULT_HEADERS`, the call's :func:`headers` and its timeout; :func:`sign` it
    before each try. ``urls`` is the client's cache for :func:`url`."""
    return httpx.Request(
        call.method,
        url(base_url, call, urls),
        json=call.body,
        headers={**DEFAULT_HEADERS, **headers(client_config, call)},
        extensions={"timeout": _timeout(timeout, call.wait).as_dict()},
    )


DEFAULT_HEADERS = {
    "User-Agent": "rotor-client",
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
}
"""The headers of every request (those httpx.Client sends by default, with rotor's own)."""


def url(base_url: httpx.URL, call: Call[Any], urls: URLs) -> httpx.URL:
    """The absolute URL of ``call`` under ``base_url``: the one httpx.Client builds from the
    path, its base URL and the query, but parsed once per client and path rather than three
    times a request (a third of the client's own time on a cached read path)."""
    key = (call.path, call.params)
    found = urls.get(key)
    if found is None:
        found = httpx.URL(call.path)
        if found.is_relative_url:  # as httpx.Client._merge_url: append to the base URL's path
            found = base_url.copy_with(raw_path=base_url.raw_path + found.raw_path.lstrip(b"/"))
        if call.params:
            found = httpx.URL(found, params=call.params)
        if len(urls) >= _URLS_KEPT:
            urls.clear()
        urls[key] = found
    return found


def _timeout(timeout: httpx.Timeout, wait: float) -> httpx.Timeout:
    """``timeout``, its read timeout longer by ``wait`` seconds (None: no read timeout)."""
    if not wait or timeout.read is None:
        return timeout
    return httpx.Timeout(
        connect=timeout.connect, read=timeout.read + wait, write=timeout.write, pool=timeout.pool
    )


def headers(client_config: ClientConfig, call: Call[Any]) -> dict[str, str]:
    """The headers of ``call``; raises InvalidParameter when it needs credentials there are not.

    A signed call gets its ``Authorization`` from :func:`sign`, once it is built.
    """
    if not call.authenticated:
        return {}
    if client_config.credentials is None:
        raise errors.InvalidParameter(client_config.missing_credentials)
    out = {}
    if client_config.signing == "bearer":
        out["Authorization"] = client_config.credentials.authorization
    if client_config.credentials.security_token:
        out[_signing.SECURITY_TOKEN_HEADER] = client_config.credentials.security_token
    return out


def sign(client_config: ClientConfig, call: Call[Any], request: httpx.Request) -> None:
    """Sign ``request`` when the client signs (``hmac``): call it before every attempt, so a
    retry carries a fresh timestamp and nonce instead of being refused as a replay."""
    credentials = client_config.credentials
    if not call.authenticated or client_config.signing != "hmac" or credentials is None:
        return
    request.headers["Authorization"] = _signing.authorization(
        request,
        access_key_id=credentials.access_key_id,
        access_key_secret=credentials.access_key_secret,
        security_token=credentials.security_token,
    )


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
    code = error_code(response)
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


def error_code(response: httpx.Response) -> str | None:
    """The ``code`` of a rotor error answer; None when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None
