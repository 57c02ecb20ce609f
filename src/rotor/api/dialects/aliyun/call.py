"""One call of the KMS dialect: who asks, with what parameters, and the readers of
the parameters several actions share (a secret's name or ARN, its data, a page).

Each action (:mod:`rotor.api.dialects.aliyun.actions`) is a function of a :class:`Call`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any

from rotor import errors
from rotor.access.keys import Identity, secret_resource
from rotor.api.dialects.aliyun.wire import Params, invalid
from rotor.rotation.engine import Engine
from rotor.rotation.scheduler import Scheduler
from rotor.settings import Settings
from rotor.store import versions
from rotor.store.database import Store


@dataclasses.dataclass(kw_only=True)
class Call:
    """One request: who asks, with what, and what the server has to answer it."""

    identity: Identity
    params: Params
    settings: Settings
    engine: Engine
    scheduler: Scheduler
    #: What the audit event of this call records (secret name, version id).
    audit: dict[str, Any]

    @property
    def store(self) -> Store:
        return self.engine.store

    def arn(self, name: str) -> str:
        return secret_resource(name, region=self.settings.region, account=self.settings.account_id)

    def authorize(self, action: str, name: str | None = None) -> None:
        if name is not None:
            self.audit["secret_name"] = name
        self.identity.require(f"kms:{action}", self.arn(name) if name is not None else "*")

    def secret_name(self) -> str:
        """``SecretName``, given as a name or as the secret's ARN."""
        name = self.params.required("SecretName")
        if not name.startswith("acs:"):
            return name
        prefix = self.arn("")
        if not name.startswith(prefix):
            raise errors.NotFound(f"no secret {name}: this server's ARNs start with {prefix}")
        return name[len(prefix) :]

    def secret_data(self, kind_name: str = "SecretDataType") -> str | bytes:
        """``SecretData``, text or (base64) binary as ``kind_name`` says."""
        data = self.params.required("SecretData")
        kind = self.params.text(kind_name, versions.TEXT)
        if kind == versions.TEXT:
            return data
        if kind == versions.BINARY:
            try:
                return base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise invalid("SecretData", "binary data must be base64") from None
        raise invalid(kind_name, "expected text or binary")

    def page(self, default_size: int) -> tuple[int, int]:
        """The page asked for: ``PageNumber`` (from 1) and ``PageSize`` (1-100)."""
        number = self.params.integer("PageNumber", 1, 1, 1_000_000)
        size = self.params.integer("PageSize", default_size, 1, 100)
        return number, size
