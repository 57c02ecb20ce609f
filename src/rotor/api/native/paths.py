"""Paths of the native API: secret names in paths, and the path of a secret.

Importing this module registers the ``secret`` path convertor with the framework, so a
route written with ``{name:secret}`` (:data:`SECRET`) matches a name with slashes.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from rotor import protocol

SECRET = "/secrets/{name:secret}"


class SecretNameConvertor(Convertor[str]):
    """Secret names in paths: may contain ``/`` but never ``:`` (which starts a custom method)."""

    regex = rf"[{protocol.NAME_CHARACTERS}]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("secret", SecretNameConvertor())
