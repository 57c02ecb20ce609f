"""What the database rotation functions share: a secret's server and TLS fields, logins.

- :class:`Endpoint`: a secret's ``Endpoint`` (``host``, ``host:port``, ``[v6]:port``)
  and ``Port``, the default port being the function's;
- :class:`TlsMode`: its ``SSL`` field (see :mod:`rotor.ssl_field`);
- :class:`TlsSettings`: the TLS rotation parameters (``CaBundle``, ``ClientCertificate``,
  ``ClientKey``, ``AllowPlaintextFallback``);
- :func:`retry_refused`: the test step's login, retried briefly while the server refuses
  it (some servers apply a password change with a delay).

Nothing here knows a database driver: :mod:`mysql_connections` and
:mod:`postgres_connections` turn these into their driver's connection arguments.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rotor import endpoint_field, errors
from rotor import ssl_field as tls

#: Logins with new credentials are retried: some servers apply a change with a delay.
LOGIN_ATTEMPTS = 5
LOGIN_FIRST_DELAY_SECONDS = 0.05
_T = TypeVar("_T")


class TlsMode(enum.Enum):
    """How a secret's connections use TLS (its ``SSL`` field)."""

    #: ``SSL`` true: TLS with verification, never plaintext.
    REQUIRED = "required"
    #: ``SSL`` absent: TLS if it works, else plaintext with a warning.
    PREFERRED = "preferred"
    #: ``SSL`` false: plaintext.
    DISABLED = "disabled"

    @classmethod
    def of(cls, secret: Mapping[str, Any], what: str) -> TlsMode:
        """The mode ``secret``'s ``SSL`` asks for; InvalidParameter (naming ``what``) if
        it is not one of the values of :mod:`tls`."""
        asked = tls.requested(secret, what)
        if asked is None:
            return cls.PREFERRED
        return cls.REQUIRED if asked else cls.DISABLED


@dataclasses.dataclass(frozen=True, kw_only=True, order=True)
class Endpoint:
    """A server address: host (lower case) and port."""

    host: str
    port: int

    @classmethod
    def of(cls, secret: Mapping[str, Any], what: str, *, default_port: int) -> Endpoint:
        """The ``Endpoint`` (``host``, ``host:port`` or ``[v6]:port``) and ``Port`` of a
        secret; ``default_port`` when neither names one."""
        raw = secret.get("Endpoint")
        if not isinstance(raw, str) or not raw.strip():
            raise errors.InvalidParameter(f"{what}: field 'Endpoint' must be a host name")
        host, embedded = endpoint_field.split_host_port(raw.strip(), what)
        port = embedded
        if "Port" in secret and secret["Port"] is not None:
            port = endpoint_field.port_of(secret["Port"], what)
            if embedded is not None and embedded != port:
                raise errors.InvalidParameter(
                    f"{what}: 'Endpoint' names port {embedded} but 'Port' is {port}"
                )
        return cls(host=host.lower().rstrip("."), port=port or default_port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class TlsSettings:
    """The TLS rotation parameters."""

    ca_bundle: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    allow_plaintext_fallback: bool = True

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> TlsSettings:
        paths: dict[str, str | None] = {}
        for key in ("CaBundle", "ClientCertificate", "ClientKey"):
            value = options.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise errors.InvalidParameter(f"{key} must be the path of a PEM file")
            paths[key] = value
        if bool(paths["ClientCertificate"]) != bool(paths["ClientKey"]):
            raise errors.InvalidParameter("give both ClientCertificate and ClientKey, or neither")
        fallback = options.get("AllowPlaintextFallback", True)
        if isinstance(fallback, str) and fallback.strip().lower() in ("true", "false"):
            fallback = fallback.strip().lower() == "true"
        if not isinstance(fallback, bool):
            raise errors.InvalidParameter("AllowPlaintextFallback must be true or false")
        return cls(
            ca_bundle=paths["CaBundle"],
            client_certificate=paths["ClientCertificate"],
            client_key=paths["ClientKey"],
            allow_plaintext_fallback=fallback,
        )


def check_tls_configuration(
    parameters: Mapping[str, Any], current: Mapping[str, Any] | None
) -> None:
    """InvalidParameter for invalid TLS rotation parameters, or an invalid ``SSL`` in the
    secret's Current value (None: it has no JSON value yet). Nothing is connected to."""
    TlsSettings.of(parameters)
    if current is not None:
        TlsMode.of(current, "the Current value")


class LoginRefused(errors.FunctionFailed):
    """The server refused the credentials (access denied), as opposed to being unreachable."""


def retry_refused(attempt: Callable[[], _T]) -> _T:
    """``attempt()``, called again with backoff while it raises :class:`LoginRefused`
    (:data:`LOGIN_ATTEMPTS` calls in all); the last refusal is raised."""
    delay = LOGIN_FIRST_DELAY_SECONDS
    for number in range(1, LOGIN_ATTEMPTS + 1):
        try:
            return attempt()
        except LoginRefused:
            if number == LOGIN_ATTEMPTS:
                raise
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
