"""Where a notification may be sent, so that a subscription cannot be turned into a way
to reach internal services.

By default a target URL is ``https`` and every address its host resolves to is a public
one (not loopback, private, link-local, shared, multicast or reserved). An administrator
widens that with ``ROTOR_NOTIFICATION_ALLOWED_TARGETS``: hosts, ``host:port`` pairs and
CIDR networks that may also be reached over plain ``http`` or at a non-public address.
A URL carries no credentials (the signature authenticates rotor to the receiver).

The rules are checked when a subscription is created (what can be known without DNS)
and again at every delivery, after resolving the host; the delivery then connects to
the very address that was checked, so a name that resolves elsewhere the second time
(DNS rebinding) cannot redirect it. Redirects are never followed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import urllib.parse

from rotor import errors

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Allowed:
    """What ``ROTOR_NOTIFICATION_ALLOWED_TARGETS`` allows beyond https to public addresses."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Allowed:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
                continue
            except ValueError:
                pass
            hosts.add(item.lower())
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    def host(self, host: str, port: int) -> bool:
        return host in self.hosts or f"{host}:{port}" in self.hosts or self.address(host)

    def address(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    #: The path and query the request asks for.
    target: str


def parse(url: str, allowed: Allowed) -> Target:
    """The URL's parts, when its form is one rotor may deliver to; InvalidParameter else."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise errors.InvalidParameter(f"url is not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("https", "http") or not host:
        raise errors.InvalidParameter("url must be an https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise errors.InvalidParameter(
            "url must not carry credentials: the receiver verifies the signature instead"
        )
    if parts.fragment:
        raise errors.InvalidParameter("url must not have a #fragment")
    port = port or (443 if scheme == "https" else 80)
    if scheme == "http" and not allowed.host(host, port):
        raise errors.InvalidParameter(
            "url must be https; plain http only to a target an administrator allowed "
            "(ROTOR_NOTIFICATION_ALLOWED_TARGETS)"
        )
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    checked = Target(url=url, scheme=scheme, host=host, port=port, target=target)
    if _literal(host) is not None:
        check_address(checked, host, allowed)
    return checked


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_address(target: Target, address: str, allowed: Allowed) -> None:
    """Refuse an address of ``target`` that is not public, unless allowed."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    public = (mapped or ip).is_global and not (mapped or ip).is_multicast
    if public or allowed.host(target.host, target.port) or allowed.address(address):
        return
    raise errors.InvalidParameter(
        f"url's host {target.host} is at {address}, not a public address; an administrator "
        "may allow it (ROTOR_NOTIFICATION_ALLOWED_TARGETS)"
    )


def resolve(target: Target, allowed: Allowed) -> str:
    """The address to connect to: the host's first address, every one of them checked."""
    literal = _literal(target.host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise errors.InvalidParameter(f"url's host {target.host} does not resolve") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        check_address(target, address, allowed)
    return addresses[0]
