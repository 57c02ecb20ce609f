"""When a client sends a call again, and the error it raises when no answer came.

:class:`Retry` is the policy (capped exponential backoff with jitter);
:func:`retry_delay` applies it to one failed try of a :class:`_calls.Call`;
:func:`unreachable` is the :class:`rotor.errors.ServerUnreachable` raised after
the last try, saying why (a timeout, a refused connection, a certificate that
could not be verified) and where the URL and CA bundle came from. Nothing here
does I/O; the clients sleep and send.
"""

from __future__ import annotations

import dataclasses
import random
import ssl
from typing import Any

import httpx

from rotor import errors
from rotor.client import _calls
from rotor.client._connection import ClientConfig

_RETRY_STATUSES = frozenset({500, 502, 503, 504})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Retry:
    """How a client retries: capped exponential backoff with jitter.

    Only requests that are safe to repeat are retried after a connection error or a
    5xx answer; a request that never reached the server (the connection could not
    be opened) is always safe. A 4xx answer is never retried.
    """

    attempts: int = 3
    """Retries after the first try (0 disables retrying)."""
    backoff: float = 0.25
    """Seconds before the first retry; doubled for each further one."""
    max_backoff: float = 4.0
    """The cap on the wait between two tries."""

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based), jittered in [d/2, d]."""
        capped = min(self.max_backoff, self.backoff * 2.0 ** (retry - 1))
        return capped / 2 + random.random() * capped / 2  # noqa: S311 - jitter, not a secret


DEFAULT_RETRY = Retry()


def retry_delay(
    policy: Retry,
    call: _calls.Call[Any],
    retries_done: int,
    *,
    error: httpx.TransportError | None = None,
    response: httpx.Response | None = None,
) -> float | None:
    """Seconds to wait before sending ``call`` again, or None to stop trying."""
    if retries_done >= policy.attempts:
        return None
    if error is not None:
        if _certificate_error(error) is not None:
            return None  # asking again gives the same answer
        never_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
        repeatable = isinstance(
            error, httpx.NetworkError | httpx.PoolTimeout | httpx.RemoteProtocolError
        )
        if not (never_sent or (call.idempotent and repeatable)):
            return None
    elif response is not None:
        if not call.idempotent or response.status_code not in _RETRY_STATUSES:
            return None
        if _calls.error_code(response) == errors.DecryptionFailed.code:
            return None  # asking again gives the same answer
    return policy.delay(retries_done + 1)


def unreachable(client_config: ClientConfig, error: httpx.TransportError) -> errors.RotorError:
    """The error for a request that got no answer."""
    certificate = _certificate_error(error)
    if certificate is not None:
        trusted = (
            f"the CA bundle {client_config.ca_bundle} (from {client_config.ca_bundle_source})"
            if client_config.ca_bundle
            else "the default CA certificates"
        )
        reason = (
            f"its TLS certificate could not be verified with {trusted}: "
            f"{certificate.verify_message or certificate.reason}; give the CA certificate "
            "that signed it with ROTOR_CA_BUNDLE (the CLI's --ca-bundle, the client's ca_bundle)"
        )
    elif isinstance(error, httpx.TimeoutException):
        reason = "timed out"
    else:
        reason = str(error) or type(error).__name__
        if isinstance(error, httpx.RemoteProtocolError) and client_config.url.startswith("http:"):
            reason += " (if the server serves HTTPS, use an https:// URL)"
    return errors.ServerUnreachable(
        f"cannot reach the rotor server at {client_config.url} "
        f"(from {client_config.url_source}): {reason}"
    )


def _certificate_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind a transport error, if that is what it was."""
    seen: BaseException | None = error
    for _ in range(8):  # httpx -> httpcore -> ssl
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
