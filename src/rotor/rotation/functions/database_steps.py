"""What every step of the database rotation functions (MySQL and MariaDB, PostgreSQL)
works with: the rotated secret's values parsed, the rotation's options, the Pending value
made, the pair of alternating accounts and their master secret checked, the end.

Each function's steps (``_Step`` in :mod:`mysql` and :mod:`postgres`) add their driver:
how a secret's credentials log in (:meth:`Steps.logs_in`) and what else they connect
for. A secret's fields may have aliases (PostgreSQL's, :data:`postgres_connections.ALIASES`):
they are read under either name, and a new value is written in the spelling the value
it copies used.
"""

from __future__ import annotations

import abc
import dataclasses
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from rotor import errors
from rotor.rotation.functions import accounts, generated
from rotor.rotation.functions.base import (
    InvocationContext,
    options_of,
    parse_json_object,
    version_of,
)
from rotor.rotation.functions.database_secrets import Endpoint, TlsMode
from rotor.store import passwords, stages

_REQUIRED = {"Endpoint": str, "AccountName": str, "AccountPassword": str}


def canonical(value: Mapping[str, Any], aliases: Mapping[str, str], what: str) -> dict[str, Any]:
    """``value`` with every alias also under its field's name (the aliases stay); a field
    given under both names with different values is refused."""
    result = dict(value)
    for alias, field in aliases.items():
        if alias not in value:
            continue
        if field in value and value[field] != value[alias]:
            raise errors.InvalidParameter(
                f"{what} gives both {field!r} and its alias {alias!r}, with different values"
            )
        result[field] = value[alias]
    return result


def spelled(value: Mapping[str, Any], aliases: Mapping[str, str], field: str) -> str:
    """The key ``value`` holds ``field`` under: the alias when only that is present."""
    for alias, name in aliases.items():
        if name == field and alias in value and field not in value:
            return alias
    return field


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatabaseSecret:
    """A parsed user or master secret."""

    #: The value as stored (aliases as given).
    value: dict[str, Any] = dataclasses.field(repr=False)
    #: The name of the secret it is a value of (for messages).
    secret: str
    endpoint: Endpoint
    account: str
    password: str = dataclasses.field(repr=False)
    #: ``DBName``; None when absent or empty (each function has its default).
    database: str | None
    tls: TlsMode
    master_secret: str | None
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def parse(
        cls,
        raw: str | bytes,
        what: str,
        *,
        secret: str,
        default_port: int,
        master_field: bool = False,
        aliases: Mapping[str, str] | None = None,
    ) -> DatabaseSecret:
        stored = parse_json_object(raw, what)
        value = canonical(stored, aliases or {}, what)
        fields: dict[str, type] = dict(_REQUIRED)
        if master_field:
            fields["MasterSecret"] = str
        accounts.require_fields(value, fields, what)
        if not value["AccountName"]:
            raise errors.InvalidParameter(f"{what}: field 'AccountName' is empty")
        database = value.get("DBName")
        if database is not None and not isinstance(database, str):
            raise errors.InvalidParameter(f"{what}: field 'DBName' has the wrong type")
        return cls(
            value=stored,
            secret=secret,
            endpoint=Endpoint.of(value, what, default_port=default_port),
            account=value["AccountName"],
            password=value["AccountPassword"],
            database=database or None,
            tls=TlsMode.of(value, what),
            master_secret=value.get("MasterSecret"),
            aliases=dict(aliases or {}),
        )

    def with_account(self, account: str, password: str) -> dict[str, Any]:
        """The stored value with another account and password, in the same spelling."""
        return {
            **self.value,
            spelled(self.value, self.aliases, "AccountName"): account,
            spelled(self.value, self.aliases, "AccountPassword"): password,
        }


class Steps(abc.ABC):
    """What every step of a database function works with (one instance per invocation)."""

    #: The port of an ``Endpoint`` that names none.
    DEFAULT_PORT: ClassVar[int]
    #: ``ExcludeCharacters`` of a new password unless the rotation's parameters say.
    EXCLUDED_CHARACTERS: ClassVar[str]
    #: Alias -> field of the secret's JSON.
    ALIASES: ClassVar[Mapping[str, str]] = {}

    def __init__(self, event: dict[str, Any], context: InvocationContext) -> None:
        self.context = context
        self.access = context.secrets
        self.name = context.secrets.secret_name
        self.version = version_of(event, context)
        self.options = options_of(event, context)

    @abc.abstractmethod
    def logs_in(self, secret: DatabaseSecret, label: str) -> bool:
        """Whether ``secret``'s credentials log in (``label`` names them in errors)."""

    def parse(
        self, raw: str | bytes, what: str, secret: str, *, master_field: bool = False
    ) -> DatabaseSecret:
        return DatabaseSecret.parse(
            raw,
            what,
            secret=secret,
            default_port=self.DEFAULT_PORT,
            master_field=master_field,
            aliases=self.ALIASES,
        )

    def current(self, *, master_field: bool) -> DatabaseSecret:
        return self._parse("Current", master_field, stage=stages.CURRENT)

    def pending(self, *, master_field: bool) -> DatabaseSecret:
        return self._parse("Pending", master_field, version_id=self.version)

    def _parse(self, label: str, master_field: bool, **where: str) -> DatabaseSecret:
        value = self.access.get_value(self.name, **where)
        what = f"the {label} value of secret {self.name!r}"
        return self.parse(value.value, what, self.name, master_field=master_field)

    def exists(self) -> bool:
        return self.access.find_value(self.name, version_id=self.version) is not None

    def put_new(self, current: DatabaseSecret, account: str) -> None:
        """Pending: Current with ``account`` and a new password of the rotation's policy."""
        options = {"ExcludeCharacters": self.EXCLUDED_CHARACTERS, **self.options}
        password = passwords.generate_password(**generated.password_policy(options))
        value = current.with_account(account, password)
        self.access.put_pending(self.name, json.dumps(value), self.version)

    def same_endpoint(self, current: DatabaseSecret, other: DatabaseSecret, what: str) -> None:
        if other.endpoint != current.endpoint:
            raise errors.InvalidParameter(
                f"{what} is for another server than the Current value: its Endpoint and "
                f"Port give {other.endpoint}, not {current.endpoint}"
            )

    def check_pair(self, current: DatabaseSecret, pending: DatabaseSecret) -> None:
        """Pending is the other account of Current's pair, on the same server."""
        if not accounts.is_pair(current.account, pending.account):
            raise errors.InvalidParameter(
                f"the Pending account {pending.account!r} is not the other account of the "
                f"Current one, {current.account!r}; refusing to modify it"
            )
        self.same_endpoint(current, pending, "the Pending value")

    def master(
        self, current: DatabaseSecret, pending: DatabaseSecret, *, current_must_log_in: bool = True
    ) -> DatabaseSecret:
        """The master secret, once Current is known to log in and the endpoints agree."""
        if current_must_log_in and not self.logs_in(current, "the Current credentials"):
            raise errors.FunctionFailed(
                f"the Current credentials of {current.account!r} no longer log in to "
                f"{current.endpoint}; refusing to change anything"
            )
        name = str(current.master_secret)
        what = f"the master secret {name!r}"
        raw = self.access.get_value(name, stage=stages.CURRENT).value
        master = self.parse(raw, what, name)
        self.same_endpoint(current, master, what)
        if master.account in (pending.account, current.account):
            raise errors.InvalidParameter(
                f"{what} is for {master.account!r}, one of the accounts being rotated"
            )
        return master

    def end(self) -> None:
        self.access.finish(self.name, self.version, expected_current=self.context.expected_current)
