"""The ``Endpoint`` and ``Port`` fields of database secrets: a host, with or without a
port, and a port number.

Imports nothing but :mod:`rotor.errors`: the rotation functions and the application
client (:mod:`rotor.client`) read the fields with these readers, so that both accept
exactly the same values. Errors name the field, never the value given.
"""

from __future__ import annotations

from rotor import errors


def split_host_port(text: str, what: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` as (host, port or None)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise errors.InvalidParameter(f"{what}: field 'Endpoint' is not a host name")
        return host, port_of(rest[1:], what) if rest else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port_of(port, what)
    return text, None


def port_of(value: object, what: str) -> int:
    """A port number given as an integer or as digits."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise errors.InvalidParameter(f"{what}: field 'Port' must be a port number (1-65535)")
    return value
