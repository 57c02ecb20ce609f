"""Reading a secret's value: the one handler every dialect's read goes through.

Each dialect authenticates its caller its own way and parses its own request into a
:class:`Read`; :func:`read` then authorizes it (``kms:GetSecretValue`` on the
secret's resource), fetches the value, and notes what the request's audit event
records (the secret, and the version it read). The dialect only shapes the answer.
So a read is allowed, refused and audited the same whichever API it came through
(the native fast path, the native route, or the KMS dialect's ``GetSecretValue``).

A read pays no round trip for the access generation, whatever its credentials
(:func:`folded`, which every dialect's read goes through): it authenticates from the
cache, and the value's own query reads the generation, which :func:`read` checks is the
one the identity was read under (:class:`GenerationMoved` otherwise).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from rotor import errors
from rotor.access.keys import Identity, secret_resource
from rotor.settings import Settings
from rotor.store import versions
from rotor.store.database import Store
from rotor.store.versions import SecretValue

ACTION = "kms:GetSecretValue"
#: How many times :func:`folded` authenticates and reads before giving up on a
#: generation that keeps moving: once from the cache, then checked against the store.
ATTEMPTS = 3
_T = TypeVar("_T")


class GenerationMoved(errors.ServiceUnavailable):
    """A value read under another access generation than the one its reader's identity
    was read under: it is not answered (what may be read has changed in between)."""

    def __init__(self) -> None:
        super().__init__("access changed during the read; try again")


@dataclasses.dataclass(frozen=True, slots=True)
class Read:
    """A read: of a secret's version by id, or at a stage (Current when neither is given)."""

    name: str
    stage: str | None = None
    version_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome(Generic[_T]):
    """What :func:`folded` came to: the identity (None: the credentials were refused,
    with ``error``), and the answer or the error that refused the read."""

    identity: Identity | None
    value: _T | None = None
    error: errors.RotorError | None = None


def folded(
    authenticate: Callable[[bool], Identity],
    run: Callable[[Identity], _T],
    audit: dict[str, Any],
) -> Outcome[_T]:
    """Authenticate (``authenticate(cached)``) and ``run`` a read (which reads through
    :func:`read`), with no round trip for the access generation: the first attempt
    authenticates from the cache, and :func:`read` answers a value only if the generation
    its query read is the identity's. Otherwise (:class:`GenerationMoved`), and after any
    refusal or error under the cache (which may be stale either way), it authenticates
    again checked against the store and runs again; a value read under another
    generation is never answered. ``audit`` is put back to what it held before each
    attempt (what an attempt not answered noted is not this one's). A store outage, and
    an error not rotor's (a dialect's own, about the request), is raised.

    ``authenticate`` runs up to :data:`ATTEMPTS` times for one request: a scheme with
    nonces claims its nonce once (:class:`rotor.store.nonces.ClaimOnce`)."""
    noted = dict(audit)
    for attempt in range(ATTEMPTS):
        cached = attempt == 0
        audit.clear()
        audit.update(noted)
        try:
            identity = authenticate(cached)
        except errors.ServiceUnavailable:
            raise
        except errors.RotorError as exc:
            if cached:
                continue
            return Outcome(None, error=exc)
        try:
            return Outcome(identity, run(identity))
        except GenerationMoved:
            continue
        except errors.ServiceUnavailable:
            raise
        except errors.RotorError as exc:
            if cached:
                continue
            return Outcome(identity, error=exc)
    raise GenerationMoved()


def refused_or_answered(outcome: Outcome[_T]) -> _T | errors.RotorError:
    """A dialect's view of an outcome: the answer, or the error that refused the
    credentials (returned, so the caller backs off before raising it); the error that
    refused the read itself is raised."""
    if outcome.identity is None:
        assert outcome.error is not None
        return outcome.error
    if outcome.error is not None:
        raise outcome.error
    assert outcome.value is not None
    return outcome.value


def read_folded(
    store: Store,
    settings: Settings,
    authenticate: Callable[[bool], Identity],
    request: Read,
    audit: dict[str, Any],
    *,
    with_rotation: bool = False,
) -> Outcome[SecretValue]:
    """:func:`folded` of :func:`read`."""

    def run(identity: Identity) -> SecretValue:
        return read(store, settings, identity, request, audit, with_rotation=with_rotation)

    return folded(authenticate, run, audit)


def read(
    store: Store,
    settings: Settings,
    identity: Identity,
    request: Read,
    audit: dict[str, Any],
    *,
    with_rotation: bool = False,
) -> SecretValue:
    """The value ``request`` asks for, if ``identity`` may read it; ``audit`` gets the
    action, the secret and the version read (whatever the outcome, what is known).
    :class:`GenerationMoved` when the value's query read another access generation than
    the identity's (one from the store's keys) was read under.
    ``with_rotation`` also reads the secret's rotation schedule (same query)."""
    audit["action"] = ACTION
    audit["secret_name"] = request.name
    resource = secret_resource(request.name, region=settings.region, account=settings.account_id)
    identity.require(ACTION, resource)
    value = versions.get_value(
        store,
        request.name,
        stage=request.stage,
        version_id=request.version_id,
        with_rotation=with_rotation,
    )
    if identity.generation >= 0 and value.access_generation != identity.generation:
        raise GenerationMoved()
    audit["version_id"] = value.version_id
    return value
