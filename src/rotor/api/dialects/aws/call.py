"""One call of the AWS dialect: who asks, with what, and the readers of the fields
several operations share (a secret's id, its value).

Each operation (:mod:`rotor.api.dialects.aws.operations`) is a function of a :class:`Call`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any

from rotor.access.keys import Identity, secret_resource
from rotor.api.dialects.aws.wire import AwsError, Body, invalid_parameter
from rotor.rotation.scheduler import Scheduler
from rotor.settings import Settings
from rotor.store.database import Store


@dataclasses.dataclass(kw_only=True)
class Call:
    """One request: who asks, with what, and what the server has to answer it."""

    identity: Identity
    body: Body
    settings: Settings
    store: Store
    #: Starts and runs rotations (RotateSecret), over the server's engine.
    scheduler: Scheduler
    #: What the audit event of this call records (action, secret name, version id).
    audit: dict[str, Any]

    def authorize(self, action: str, name: str | None) -> None:
        """``action`` on the secret ``name`` (on ``*`` for an action of no secret)."""
        self.audit["action"] = action
        resource = "*"
        if name is not None:
            self.audit["secret_name"] = name
            resource = secret_resource(
                name, region=self.settings.region, account=self.settings.account_id
            )
        self.identity.require(action, resource)

    def secret_id(self) -> str:
        """``SecretId`` as a secret's name (ARNs are not accepted yet)."""
        value = self.body.required("SecretId")
        if value.startswith("arn:"):
            raise AwsError(
                "InvalidRequestException",
                "A SecretId given as an ARN is not supported by rotor yet; give the name.",
            )
        return value

    def value(self) -> str | bytes | None:
        """``SecretString`` or ``SecretBinary`` (base64 on the wire), at most one."""
        text = self.body.text("SecretString")
        binary = self.body.text("SecretBinary")
        if text is not None and binary is not None:
            raise invalid_parameter(
                "SecretString", "You can't specify both a binary secret value and a string one."
            )
        if binary is None:
            return text
        try:
            return base64.b64decode(binary, validate=True)
        except (binascii.Error, ValueError):
            raise invalid_parameter("SecretBinary", "it is not valid base64") from None
