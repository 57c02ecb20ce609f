"""The rotation-function contract.

A rotation function performs the steps of a rotation for one kind of target.
The engine calls :meth:`RotationFunction.invoke` with an *event* (the JSON
object a cloud workflow would pass: ``SecretName``, ``Step``, ``VersionId`` and
the rotation parameters) and an :class:`InvocationContext`, once per task of the
flow, and again with the same event when a step is retried or resumed after a
crash. So every step must be idempotent:

- **new** creates the Pending version (``VersionId``) with new credentials,
  unless that version already exists;
- **set** makes the target system accept the Pending credentials;
- **test** proves they work;
- **end** moves Current to the Pending version (Previous follows) and removes Pending.

A function returns a JSON object (merged into the flow's ``$local``), or None.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from rotor import errors
from rotor.store import secrets, stages, versions
from rotor.store.database import Store
from rotor.store.functions import RegisteredFunction

STEPS = ("new", "set", "test", "end")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Credentials:
    """Short-lived credentials a custom function uses to call rotor's API."""

    access_key_id: str
    access_key_secret: str = dataclasses.field(repr=False)
    security_token: str = dataclasses.field(default="", repr=False)


class Redactor:
    """Remembers secret values a rotation touched, to blank them out of messages and logs.

    A whole value is remembered; of a JSON object, the fields whose name says they hold
    a secret (``AccountPassword``, ``AccessKeySecret``, ``Token``...), so that account
    names, endpoints and references such as ``MasterSecret`` stay readable in the
    rotation history.
    """

    MIN_LENGTH = 4
    SECRET_FIELD_WORDS = (
        "password",
        "passwd",
        "passphrase",
        "token",
        "credential",
        "accesskeysecret",
        "clientsecret",
        "secretkey",
        "privatekey",
        "apikey",
    )

    def __init__(self) -> None:
        self._values: set[str] = set()

    def remember(self, value: str | bytes) -> None:
        if isinstance(value, bytes):
            try:
                value = value.decode()
            except UnicodeDecodeError:
                return
        if len(value) >= self.MIN_LENGTH:
            self._values.add(value)
        try:
            parsed = json.loads(value)
        except ValueError:
            return
        if isinstance(parsed, dict):
            for name, field in parsed.items():
                folded = str(name).lower().replace("_", "").replace("-", "")
                secret_like = any(w in folded for w in self.SECRET_FIELD_WORDS)
                if secret_like and isinstance(field, str) and len(field) >= self.MIN_LENGTH:
                    self._values.add(field)

    def __call__(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, "***")
        return text


class SecretsAccess:
    """The part of the store a rotation function may touch.

    The rotated secret, and read access to the secrets delegated to the rotation
    (:mod:`rotor.access.delegation`, checked before the rotation ran). Every value
    read or written is remembered by the redactor.
    """

    def __init__(
        self, store: Store, secret_name: str, delegated: frozenset[str], redactor: Redactor
    ) -> None:
        self._store = store
        self.secret_name = secret_name
        self.redact = redactor
        self.delegated = delegated - {secret_name}

    @property
    def allowed_names(self) -> frozenset[str]:
        return self.delegated | {self.secret_name}

    def aws_arn(self, *, region: str, account: str) -> str:
        """The rotated secret's AWS-form ARN (the SecretId AWS gives its rotation handlers)."""
        suffix = secrets.arn_suffix(self._store, self.secret_name)
        return secrets.aws_arn(self.secret_name, suffix, region=region, account=account)

    def _check(self, name: str, *, write: bool = False) -> None:
        if name != self.secret_name and (write or name not in self.delegated):
            what = "write" if write else "read"
            raise errors.AccessDenied(
                f"this rotation may not {what} secret {name!r}: it was not delegated to it"
            )

    def get_value(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> versions.SecretValue:
        self._check(name)
        value = versions.get_value(self._store, name, stage=stage, version_id=version_id)
        self.redact.remember(value.value)
        return value

    def find_value(
        self, name: str, *, stage: str | None = None, version_id: str | None = None
    ) -> versions.SecretValue | None:
        """Like :meth:`get_value`, but None when the stage or version does not exist."""
        try:
            return self.get_value(name, stage=stage, version_id=version_id)
        except errors.NotFound:
            self.get_secret_stages(name)  # a missing secret is still an error
            return None

    def get_registration_secret(self, name: str) -> versions.SecretValue:
        """Current of a secret the function's registration names (an HTTP function's
        headers): read by rotor for the adapter, never reachable with the function's
        credentials. The registrant proved it may read it."""
        value = versions.get_value(self._store, name, stage=stages.CURRENT)
        self.redact.remember(value.value)
        return value

    def get_secret_stages(self, name: str) -> dict[str, str]:
        self._check(name)
        return secrets.get_secret(self._store, name).stages

    def put_pending(self, name: str, value: str | bytes, version_id: str) -> None:
        self._check(name, write=True)
        self.redact.remember(value)
        versions.put_value(self._store, name, value, version_id=version_id, stages=[stages.PENDING])

    def finish(self, name: str, version_id: str, *, expected_current: str | None) -> None:
        """Move Current to ``version_id`` (only from ``expected_current``) and drop Pending."""
        self._check(name, write=True)
        stages.make_current(self._store, name, version_id, expected_current=expected_current)

    def drop_pending(self, name: str, version_id: str) -> None:
        """Remove Pending from ``version_id`` once it is Current (what the end leaves)."""
        self._check(name, write=True)
        self._drop_pending(name, version_id, self.get_secret_stages(name))

    def _drop_pending(self, name: str, version_id: str, on: dict[str, str]) -> None:
        if on.get(stages.PENDING) == version_id == on.get(stages.CURRENT):
            stages.update_stage(self._store, name, stages.PENDING, remove_from_version=version_id)


@dataclasses.dataclass(frozen=True, kw_only=True)
class InvocationContext:
    """What a function gets beside the event."""

    #: The rotation's version id; what a cloud runtime calls ``requestId``.
    request_id: str
    rotation_id: str
    #: True while rotation is being enabled: only new and test run, into a throwaway version.
    dry_run: bool
    #: The rotation's configured parameters. A flow's events carry only what its
    #: mappings name, so functions read their own settings here (see :func:`options_of`).
    parameters: Mapping[str, Any]
    #: Current when the rotation started: end moves Current only away from it.
    expected_current: str | None
    secrets: SecretsAccess
    #: Record a line in the rotation history (redacted).
    log: Callable[[str], None]
    #: Short-lived credentials and the API URL, for functions that call rotor over HTTP.
    mint_credentials: Callable[[], Credentials]
    api_url: str
    timeout_seconds: float
    #: The registration of the function being run, when it is a registered one.
    function: RegisteredFunction | None = None
    #: The region and account rotor's ARNs name (``ROTOR_REGION``, ``ROTOR_ACCOUNT_ID``).
    region: str = ""
    account_id: str = ""


class RotationFunction(Protocol):
    """A rotation function. Installed under the entry-point group ``rotor.rotation_functions``."""

    def invoke(
        self, event: dict[str, Any], context: InvocationContext
    ) -> dict[str, Any] | None: ...


@runtime_checkable
class ChecksConfiguration(Protocol):
    """A function that can tell a bad configuration before anything is stored."""

    #: Every rotation parameter it reads; a configuration naming another is refused.
    PARAMETERS: frozenset[str]

    def check_configuration(
        self, parameters: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> None:
        """Raise InvalidParameter for bad parameters or a bad Current value (a JSON
        object, or None when the secret has none yet)."""


def options_of(event: Mapping[str, Any], context: InvocationContext) -> dict[str, Any]:
    """A function's settings: the event, overridden by the configured rotation parameters."""
    return {**event, **context.parameters}


def step_of(event: Mapping[str, Any]) -> str:
    step = event.get("Step")
    if step not in STEPS:
        raise errors.InvalidParameter(f"invalid step {step!r}; expected one of {', '.join(STEPS)}")
    return str(step)


def version_of(event: Mapping[str, Any], context: InvocationContext) -> str:
    version = event.get("VersionId") or context.request_id
    return str(version)


def parse_json_object(value: str | bytes, what: str) -> dict[str, Any]:
    """A secret value that must be a JSON object; the error never includes the value."""
    try:
        parsed = json.loads(value)
    except ValueError:
        raise errors.InvalidParameter(f"{what} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise errors.InvalidParameter(f"{what} is not a JSON object")
    return parsed
