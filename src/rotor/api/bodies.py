"""Reading a request body in full, with a size cap, before any framework sees it."""

from __future__ import annotations

from starlette.types import Receive

from rotor import errors


class ClientGone(Exception):
    """The client went away before its request body was read."""


async def read_capped(receive: Receive, limit: int) -> bytes:
    """The whole body; RequestTooLarge past ``limit`` bytes, ClientGone if the client left."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.RequestTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
