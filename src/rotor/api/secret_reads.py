"""Reading a secret's value: the one handler every dialect's read goes through.

Each dialect authenticates its caller its own way and parses its own request into a
:class:`Read`; :func:`read` then authorizes it (``kms:GetSecretValue`` on the
secret's resource), fetches the value, and notes what the request's audit event
records (the secret, and the version it read). The dialect only shapes the answer.
So a read is allowed, refused and audited the same whichever API it came through
(the native fast path, the native route, or the KMS dialect's ``GetSecretValue``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rotor.access.keys import Identity, secret_resource
from rotor.settings import Settings
from rotor.store import versions
from rotor.store.database import Store
from rotor.store.versions import SecretValue

ACTION = "kms:GetSecretValue"


@dataclasses.dataclass(frozen=True, slots=True)
class Read:
    """A read: of a secret's version by id, or at a stage (Current when neither is given)."""

    name: str
    stage: str | None = None
    version_id: str | None = None


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
