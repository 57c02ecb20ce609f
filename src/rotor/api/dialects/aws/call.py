"""One call of the AWS dialect: who asks, with what, and the readers of the fields
several operations share (a secret's id, its value), and a secret's ARN.

Each operation (:mod:`rotor.api.dialects.aws.operations`) is a function of a :class:`Call`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any

from rotor.access.keys import Identity, secret_resource
from rotor.api.dialects.aws.wire import Body, invalid_parameter
from rotor.rotation.scheduler import Scheduler
from rotor.settings import Settings
from rotor.store import secrets as secrets_store
from rotor.store.database import Store
from rotor.store.secrets import Secret


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

    def resource(self, name: str) -> str:
        """The resource policies match the secret ``name`` by."""
        return secret_resource(name, region=self.settings.region, account=self.settings.account_id)

    def authorize(self, action: str, name: str | None) -> None:
        """``action`` on the secret ``name`` (on ``*`` for an action of no secret)."""
        self.audit["action"] = action
        resource = "*"
        if name is not None:
            self.audit["secret_name"] = name
            resource = self.resource(name)
        self.identity.require(action, resource)

    def arn(self, secret: Secret) -> str:
        """The secret's ARN, ``arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>``."""
        return self.arn_of(secret.name, secret.arn_suffix)

    def arn_of(self, name: str, suffix: str | None = None) -> str:
        """The ARN of the secret ``name`` (its suffix read from the store unless given)."""
        return secrets_store.aws_arn(
            name,
            suffix if suffix is not None else secrets_store.arn_suffix(self.store, name),
            region=self.settings.region,
            account=self.settings.account_id,
        )

    def secret_id(self, value: str | None = None) -> str:
        """``SecretId`` (or ``value``) as a secret's name: a name, or the secret's ARN,
        complete or partial (without the suffix), as AWS resolves them
        (:func:`rotor.store.secrets.name_of_aws_arn`)."""
        if value is None:
            value = self.body.required("SecretId")
        if not value.startswith("arn:"):
            return value
        return secrets_store.name_of_aws_arn(
            self.store, value, region=self.settings.region, account=self.settings.account_id
        )

    def tags(self, name: str = "Tags") -> dict[str, str] | None:
        """``Tags``, ``[{"Key": ..., "Value": ...}]``, as a dict (checked by the store)."""
        tags = self.body.values.get(name)
        if tags is None:
            return None
        if not isinstance(tags, list) or not all(
            isinstance(t, dict)
            and isinstance(t.get("Key"), str)
            and isinstance(t.get("Value"), str)
            for t in tags
        ):
            raise invalid_parameter(name, 'expected a list of {"Key": ..., "Value": ...}')
        return {t["Key"]: t["Value"] for t in tags}

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
