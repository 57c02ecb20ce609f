"""Reading a secret's value: the one handler every dialect's read goes through.

Each dialect authenticates its caller its own way and parses its own request into a
:class:`Read`; :func:`read` then authorizes it (``kms:GetSecretValue`` on the
secret's resource), fetches the value, and notes what the request's audit event
records (the secret, and the version it read). The dialect only shapes the answer.
So a read is allowed, refused and audited the same whichever API it came through
(the native fast path, the native route, or the KMS dialect's ``GetSecretValue``).

A bearer read pays no round trip for the access generation (:func:`read_folded`): it
authenticates from the cache, and the value's own query reads the generation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from rotor import errors
from rotor.access.keys import Identity, secret_resource
from rotor.settings import Settings
from rotor.store import versions
from rotor.store.database import Store
from rotor.store.versions import SecretValue

ACTION = "kms:GetSecretValue"
#: How many times :func:`read_folded` authenticates and reads before giving up on a
#: generation that keeps moving: once from the cache, then checked against the store.
ATTEMPTS = 3


@dataclasses.dataclass(frozen=True, slots=True)
class Read:
    """A read: of a secret's version by id, or at a stage (Current when neither is given)."""

    name: str
    stage: str | None = None
    version_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What :func:`read_folded` came to: the identity (None: the credentials were refused,
    with ``error``), and the value or the error that refused the read."""

    identity: Identity | None
    value: SecretValue | None = None
    error: errors.RotorError | None = None


def read_folded(
    store: Store,
    settings: Settings,
    authenticate: Callable[[bool], Identity],
    request: Read,
    audit: dict[str, Any],
    *,
    with_rotation: bool = False,
) -> Outcome:
    """Authenticate (``authenticate(cached)``) and :func:`read`, with no round trip for
    the access generation: the first attempt authenticates from the cache, and the value
    is answered only if the generation its query read (from the same snapshot as the
    value) is the one the identity was read under. Otherwise, and after any refusal or
    error under the cache (which may be stale either way), it authenticates again
    checked against the store and reads again; a value read under another generation is
    never answered. A store outage is raised."""
    for attempt in range(ATTEMPTS):
        cached = attempt == 0
        audit.clear()  # what an attempt not answered noted (its version) is not this one's
        try:
            identity = authenticate(cached)
        except errors.ServiceUnavailable:
            raise
        except errors.RotorError as exc:
            if cached:
                continue
            return Outcome(None, error=exc)
        try:
            value = read(store, settings, identity, request, audit, with_rotation=with_rotation)
        except errors.ServiceUnavailable:
            raise
        except errors.RotorError as exc:
            if cached:
                continue
            return Outcome(identity, error=exc)
        if value.access_generation == identity.generation:
            return Outcome(identity, value)
    raise errors.ServiceUnavailable("access changed during the read; try again")


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
    audit["version_id"] = value.version_id
    return value
