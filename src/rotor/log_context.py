"""What a log line concerns: the request being served, the rotation being run.

The front door (:mod:`rotor.api.front`) sets the request id for the duration of a
request and the engine (:mod:`rotor.rotation.engine`) the rotation id and secret for
the duration of a rotation, so that every line logged meanwhile, by rotor or by a
library, can be found by them (:mod:`rotor.api.logs` writes them on the line). They
are context variables rather than arguments because the code that logs (a store
call, a driver, uvicorn) knows nothing of requests or rotations.

A context variable follows the work: ``asyncio.to_thread`` and the framework's
thread pool copy it into their threads, a new ``threading.Thread`` does not (so a
rotation started by a request runs in its pool thread without that request's id).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "rotor_request_id", default=None
)
ROTATION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "rotor_rotation_id", default=None
)
SECRET: contextvars.ContextVar[str | None] = contextvars.ContextVar("rotor_secret", default=None)

#: The fields a line may carry, in the order they are written.
FIELDS = ("request_id", "rotation_id", "secret")
_VARIABLES = {"request_id": REQUEST_ID, "rotation_id": ROTATION_ID, "secret": SECRET}


@contextlib.contextmanager
def request(request_id: str) -> Iterator[None]:
    """Lines logged inside name the request ``request_id``."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


@contextlib.contextmanager
def rotation(rotation_id: str, secret: str | None = None) -> Iterator[None]:
    """Lines logged inside name the rotation ``rotation_id`` (of ``secret``, when known)."""
    tokens = ROTATION_ID.set(rotation_id), SECRET.set(secret)
    try:
        yield
    finally:
        ROTATION_ID.reset(tokens[0])
        SECRET.reset(tokens[1])


def current() -> dict[str, str]:
    """The fields set here and now, in :data:`FIELDS` order (none set: empty)."""
    values = {name: variable.get() for name, variable in _VARIABLES.items()}
    return {name: value for name, value in values.items() if value is not None}
