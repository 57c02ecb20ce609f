"""Every error rotor raises on purpose, with a stable code.

The tree::

    RotorError                      500  InternalError
    ├── InvalidRequest              400  (exit 2)
    │   ├── InvalidParameter        400  InvalidParameter
    │   ├── MalformedRequest        400  MalformedRequest
    │   ├── UnknownOperation        404  UnknownOperation
    │   └── MethodNotAllowed        405  MethodNotAllowed
    ├── Unauthenticated             401  Unauthenticated     (exit 5)
    ├── AccessDenied                403  AccessDenied        (exit 5)
    │   └── DelegationDenied        403  DelegationDenied
    ├── NotFound                    404  NotFound            (exit 3)
    ├── Conflict                    409  (exit 4)
    │   ├── SecretExists            409  SecretExists
    │   ├── VersionConflict         409  VersionConflict
    │   ├── SecretPendingDeletion   409  SecretPendingDeletion
    │   └── RotationInProgress      409  RotationInProgress
    ├── TooLarge                    413  (exit 2)
    │   ├── ValueTooLarge           413  ValueTooLarge
    │   └── RequestTooLarge         413  RequestTooLarge
    ├── ServerError                 500  (exit 6)
    │   ├── InternalError           500  InternalError
    │   ├── DecryptionFailed        500  DecryptionFailed
    │   ├── FunctionFailed          502  RotationFunctionFailed
    │   └── ServiceUnavailable      503  ServiceUnavailable
    └── ServerUnreachable           --   ServerUnreachable   (exit 7, client side only)

Each subclass's docstring is its default message. The message of an error is
shown to clients, so it never carries a secret value or a driver's text; the
cause (``raise ... from``) goes to the server log only.

This module imports nothing from rotor: the application client reuses it and
maps a response back to the same class with :func:`from_response`.
"""

from __future__ import annotations

import functools
from typing import ClassVar


class RotorError(Exception):
    """Internal error."""

    code: ClassVar[str] = "InternalError"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (type(self).__doc__ or self.code).strip()
        super().__init__(self.message)


class InvalidRequest(RotorError):
    """The request is not valid."""

    code = "InvalidRequest"
    http_status = 400
    exit_code = 2


class InvalidParameter(InvalidRequest):
    """A parameter is missing or has an invalid value."""

    code = "InvalidParameter"


class MalformedRequest(InvalidRequest):
    """The request body is not valid JSON."""

    code = "MalformedRequest"


class UnknownOperation(InvalidRequest):
    """No such operation."""

    code = "UnknownOperation"
    http_status = 404


class MethodNotAllowed(InvalidRequest):
    """The path exists, but no operation of this API uses this method."""

    code = "MethodNotAllowed"
    http_status = 405


class Unauthenticated(RotorError):
    """Authentication required."""

    code = "Unauthenticated"
    http_status = 401
    exit_code = 5


class AccessDenied(RotorError):
    """Access denied."""

    code = "AccessDenied"
    http_status = 403
    exit_code = 5


class DelegationDenied(AccessDenied):
    """The configurer may not give this rotation what it asks for."""

    code = "DelegationDenied"


class NotFound(RotorError):
    """Not found."""

    code = "NotFound"
    http_status = 404
    exit_code = 3


class Conflict(RotorError):
    """The request conflicts with the current state."""

    code = "Conflict"
    http_status = 409
    exit_code = 4


class SecretExists(Conflict):
    """A secret with this name already exists."""

    code = "SecretExists"


class VersionConflict(Conflict):
    """This version id already holds another value."""

    code = "VersionConflict"


class SecretPendingDeletion(Conflict):
    """The secret is scheduled for deletion."""

    code = "SecretPendingDeletion"


class RotationInProgress(Conflict):
    """A rotation of this secret is already running."""

    code = "RotationInProgress"


class TooLarge(RotorError):
    """Too large."""

    code = "TooLarge"
    http_status = 413
    exit_code = 2


class ValueTooLarge(TooLarge):
    """The secret value is larger than 64 KiB."""

    code = "ValueTooLarge"


class RequestTooLarge(TooLarge):
    """The request body is too large."""

    code = "RequestTooLarge"


class ServerError(RotorError):
    """Internal error."""

    code = "InternalError"
    http_status = 500
    exit_code = 6


class InternalError(ServerError):
    """Internal error."""

    code = "InternalError"


class DecryptionFailed(ServerError):
    """The stored value could not be decrypted (wrong master key or tampered data)."""

    code = "DecryptionFailed"


class FunctionFailed(ServerError):
    """The rotation function failed."""

    code = "RotationFunctionFailed"
    http_status = 502

    def __init__(self, message: str | None = None, *, retryable: bool = True) -> None:
        super().__init__(message)
        #: False when trying again cannot help (a refused login, a handler that does not
        #: load): the rotation fails at once instead of spending its retries.
        self.retryable = retryable


class ServiceUnavailable(ServerError):
    """The service is unavailable; try again later."""

    code = "ServiceUnavailable"
    http_status = 503


class ServerUnreachable(RotorError):
    """The rotor server cannot be reached."""

    code = "ServerUnreachable"
    http_status = 0
    exit_code = 7


@functools.cache
def by_code() -> dict[str, type[RotorError]]:
    """Map each stable code to its class."""
    found: dict[str, type[RotorError]] = {}
    pending: list[type[RotorError]] = [RotorError]
    while pending:
        cls = pending.pop()
        # Only this module's classes speak on the wire; a subclass elsewhere (a
        # function's private error) never takes over a code.
        if cls.__module__ == __name__:
            found[cls.code] = cls
        pending.extend(cls.__subclasses__())
    found["InternalError"] = InternalError
    return found


_BY_STATUS: dict[int, type[RotorError]] = {
    401: Unauthenticated,
    403: AccessDenied,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: TooLarge,
    503: ServiceUnavailable,
}


def from_response(status: int, code: str | None, message: str | None) -> RotorError:
    """Rebuild the error a server sent as ``{"code", "message"}`` with ``status``."""
    cls = by_code().get(code or "")
    if cls is None:
        cls = _BY_STATUS.get(status) or (InvalidRequest if 400 <= status < 500 else InternalError)
    return cls(message)
