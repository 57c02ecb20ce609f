"""``rds-alternating``: alternating accounts on a managed RDS instance, through the RDS OpenAPI.

The database's accounts can only be managed through the cloud's RDS API
(2014-08-15), called with Alibaba Cloud's official SDK (``alibabacloud_rds20140815``,
imported by this module only). The secret holds ``{"AccountName",
"AccountPassword"}`` and optionally ``Endpoint``/``Port``/``DBName``/``SSL``, used
by the test step to log in.

Rotation parameters:

- ``RegionId``, ``InstanceId``: the RDS instance.
- ``CredentialsSecret``: the name of a rotor secret holding the cloud access key,
  ``{"AccessKeyId", "AccessKeySecret"}`` (plus ``SecurityToken`` for STS), read at
  every step.
- ``Endpoint``: the RDS API endpoint (``host[:port]``, or a URL whose scheme sets
  the protocol); default: the SDK's public endpoint for the region
  (``rds.aliyuncs.com`` for most regions).
- ``Protocol``: ``https`` (default) or ``http``.
- ``SignatureAlgorithm``: ``ACS3-HMAC-SHA256`` (default) or ``HMAC-SHA1`` (RPC v1).
- ``PasswordLength`` (8-32, default 32), ``ExcludeCharacters``,
  ``MaxAccountNameLength`` (default 32; 16 for MySQL 5.6), ``ApiTimeoutSeconds``
  (per API call, default 10).

Steps:

- **new**: the alternate account name (``app`` <-> ``app_rt``) and a password, both
  checked against RDS's rules before anything changes, stored as Pending.
- **set**: Pending must be Current's alternate; Current's account must exist.
  CreateAccount (with Current's ``AccountType``) when the Pending account is
  missing, else ResetAccountPassword; then its ``DatabasePrivileges`` are made
  equal to Current's (RevokeAccountPrivilege for extras and changes,
  GrantAccountPrivilege for what is missing).
- **test**: DescribeAccounts shows the Pending account ``Available`` with
  Current's type and privileges; with an ``Endpoint`` in the secret, the Pending
  credentials also log in (PyMySQL: verified TLS, never plaintext, when ``SSL`` is
  true; plain when it is false or absent). ``SSL`` is true, false, ``"true"`` or
  ``"false"`` (any letter case, see :mod:`tls`); any other value fails every step
  before anything is called or changed.
- **end**: Current moves to the Pending version (Previous follows).

Throttling (``Throttling*`` codes) and 5xx answers, timeouts and connection
errors are retried inside the step with exponential backoff; other errors fail
the step with the API's code and message (never a password).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import secrets
import ssl
import string
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pymysql
from alibabacloud_rds20140815 import models as rds_models
from alibabacloud_rds20140815.client import Client as RdsClient
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from darabonba.exceptions import UnretryableException, ValidateException
from darabonba.runtime import RuntimeOptions
from Tea.exceptions import TeaException

from rotor import errors
from rotor.rotation.functions import accounts, rds_options
from rotor.rotation.functions.base import (
    InvocationContext,
    options_of,
    parse_json_object,
    step_of,
    version_of,
)
from rotor.rotation.functions.rds_options import (
    PASSWORD_PUNCTUATION,
    Options,
    check_account_name,
    check_password,
    login_tls,
)
from rotor.store import passwords, stages

T = TypeVar("T")

AVAILABLE = "Available"
LOGIN_TIMEOUT = 10
_SECRET_FIELDS = {"AccountName": str, "AccountPassword": str}


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RdsAccount:
    """An account as DescribeAccounts reports it."""

    name: str
    account_type: str
    status: str
    #: DBName -> AccountPrivilege.
    privileges: dict[str, str]


def _is_retryable(code: str, status: int) -> bool:
    return code.startswith("Throttling") or ".Throttling" in code or status >= 500


class RdsApi:
    """The RDS calls the rotation makes, retried on throttling, 5xx and transport errors."""

    #: Attempts per API call, and the backoff between them (doubling, capped).
    attempts = 5
    backoff_seconds = 0.5
    max_backoff_seconds = 8.0

    def __init__(
        self,
        options: Options,
        credentials: Mapping[str, Any],
        *,
        deadline: float,
        log: Callable[[str], None],
        secret_values: list[str],
    ) -> None:
        config = openapi_models.Config(
            access_key_id=credentials["AccessKeyId"],
            access_key_secret=credentials["AccessKeySecret"],
            security_token=credentials.get("SecurityToken") or None,
            region_id=options.region_id,
            endpoint=options.endpoint,
            protocol=options.protocol,
            read_timeout=options.api_timeout_seconds * 1000,
            connect_timeout=min(options.api_timeout_seconds, 5) * 1000,
        )
        if options.signature_algorithm is not None:
            config.signature_algorithm = options.signature_algorithm
        self._client = RdsClient(config)
        self._runtime = RuntimeOptions(autoretry=False)
        self._instance = options.instance_id
        self._deadline = deadline
        self._log = log
        self._secret_values = [v for v in secret_values if v]

    # -- the calls ----------------------------------------------------------------------

    def describe_account(self, name: str) -> RdsAccount | None:
        request = rds_models.DescribeAccountsRequest(
            dbinstance_id=self._instance, account_name=name
        )
        response = self._call(
            "DescribeAccounts",
            lambda: self._client.describe_accounts_with_options(request, self._runtime),
        )
        body = response.body.to_map() if response is not None else {}
        listed = (body.get("Accounts") or {}).get("DBInstanceAccount") or []
        for item in listed:
            if item.get("AccountName") == name:
                privileges = (item.get("DatabasePrivileges") or {}).get("DatabasePrivilege") or []
                return RdsAccount(
                    name=name,
                    account_type=str(item.get("AccountType") or ""),
                    status=str(item.get("AccountStatus") or ""),
                    privileges={
                        str(p.get("DBName")): str(p.get("AccountPrivilege")) for p in privileges
                    },
                )
        return None

    def create_account(self, name: str, password: str, account_type: str) -> bool:
        """Create the account; False when it already exists (a retried call that went through)."""
        request = rds_models.CreateAccountRequest(
            dbinstance_id=self._instance,
            account_name=name,
            account_password=password,
            account_type=account_type,
        )
        created = self._call(
            "CreateAccount",
            lambda: self._client.create_account_with_options(request, self._runtime),
            tolerate="InvalidAccountName.Duplicate",
        )
        return created is not None

    def reset_password(self, name: str, password: str) -> None:
        request = rds_models.ResetAccountPasswordRequest(
            dbinstance_id=self._instance, account_name=name, account_password=password
        )
        self._call(
            "ResetAccountPassword",
            lambda: self._client.reset_account_password_with_options(request, self._runtime),
        )

    def grant(self, name: str, privileges: Mapping[str, str]) -> None:
        request = rds_models.GrantAccountPrivilegeRequest(
            dbinstance_id=self._instance,
            account_name=name,
            dbname=",".join(privileges),
            account_privilege=",".join(privileges.values()),
        )
        self._call(
            "GrantAccountPrivilege",
            lambda: self._client.grant_account_privilege_with_options(request, self._runtime),
        )

    def revoke(self, name: str, db_names: list[str]) -> None:
        request = rds_models.RevokeAccountPrivilegeRequest(
            dbinstance_id=self._instance, account_name=name, dbname=",".join(db_names)
        )
        self._call(
            "RevokeAccountPrivilege",
            lambda: self._client.revoke_account_privilege_with_options(request, self._runtime),
        )

    # -- retries and errors -------------------------------------------------------------

    def _call(self, action: str, call: Callable[[], T], *, tolerate: str = "") -> T | None:
        """``call()``, retried when that may help; None when the API answers ``tolerate``."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except AlibabaCloudException as exc:
                code, status = str(exc.code or ""), int(exc.status_code or 0)
                if tolerate and code == tolerate:
                    return None
                message = self._scrub(str((exc.data or {}).get("Message") or ""))
                retryable = _is_retryable(code, status)
                problem = f"{code} (HTTP {status}): {message}"
                cause: BaseException = exc
            except UnretryableException as exc:  # the request never got an answer
                inner = exc.inner_exception
                retryable, code = True, "Unreachable"
                # Never the transport's message: it can hold the URL and its query string.
                problem = f"no answer from the RDS API ({type(inner).__name__})"
                cause = exc
            except (TeaException, ValidateException) as exc:
                raise errors.FunctionFailed(
                    f"RDS {action} could not be sent: {self._scrub(str(exc))}"
                ) from exc
            delay = min(self.backoff_seconds * 2 ** (attempt - 1), self.max_backoff_seconds)
            delay *= 0.5 + secrets.randbelow(1000) / 2000  # jitter
            if retryable and attempt < self.attempts and time.monotonic() + delay < self._deadline:
                self._log(f"RDS {action} failed with {code}; retrying in {delay:.1f}s")
                time.sleep(delay)
                continue
            tries = f" after {attempt} attempts" if attempt > 1 else ""
            raise errors.FunctionFailed(f"RDS {action} failed{tries}: {problem}") from cause

    def _scrub(self, text: str) -> str:
        """The API's text without any secret, in any encoding a request may have used.

        A ``SignatureDoesNotMatch`` message echoes the server's string to sign, which
        holds every parameter percent-encoded; drop it.
        """
        marker = "string to sign is:"
        if marker in text:
            text = text[: text.index(marker) + len(marker)] + " (omitted)"
        for value in self._secret_values:
            encoded = urllib.parse.quote(value, safe="~")
            for form in {
                value,
                encoded,
                urllib.parse.quote(encoded, safe="~"),
                urllib.parse.quote_plus(value),
            }:
                text = text.replace(form, "***")
        return text


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for all logins (PyMySQL would build one per connect)."""
    return ssl.create_default_context()


class RdsAlternating:
    """The ``rds-alternating`` rotation function."""

    PARAMETERS = rds_options.PARAMETERS

    def check_configuration(
        self, parameters: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> None:
        """InvalidParameter for parameters :class:`Options` refuses, invalid TLS settings
        (the API's ``Endpoint``/``Protocol``, the ``SSL`` of the secret's Current value; None
        when it has no JSON value yet), before anything is stored."""
        rds_options.check_configuration(parameters, current)
        Options.parse(parameters)

    def invoke(self, event: dict[str, Any], context: InvocationContext) -> dict[str, Any] | None:
        step = step_of(event)
        options = Options.parse(options_of(event, context))
        name = context.secrets.secret_name
        version = version_of(event, context)
        if step == "new":
            self._new(context, options, name, version)
        elif step == "set":
            self._set(context, options, name, version)
        elif step == "test":
            self._test(context, options, name, version)
        else:
            context.secrets.finish(name, version, expected_current=context.expected_current)
        return {"VersionId": version}

    # -- secrets ------------------------------------------------------------------------

    @staticmethod
    def _account(context: InvocationContext, name: str, **where: str) -> dict[str, Any]:
        what = "the Pending value" if "version_id" in where else "the Current value"
        value = parse_json_object(context.secrets.get_value(name, **where).value, what)
        accounts.require_fields(value, _SECRET_FIELDS, what)
        login_tls(value, what)
        return value

    def _api(self, context: InvocationContext, options: Options, *extra: str) -> RdsApi:
        value = context.secrets.get_value(options.credentials_secret, stage=stages.CURRENT).value
        what = f"the cloud credentials secret {options.credentials_secret!r}"
        credentials = parse_json_object(value, what)
        accounts.require_fields(credentials, {"AccessKeyId": str, "AccessKeySecret": str}, what)
        return RdsApi(
            options,
            credentials,
            deadline=time.monotonic() + context.timeout_seconds,
            log=context.log,
            secret_values=[credentials["AccessKeySecret"], *extra],
        )

    # -- steps --------------------------------------------------------------------------

    def _new(self, context: InvocationContext, options: Options, name: str, version: str) -> None:
        if context.secrets.find_value(name, version_id=version) is not None:
            return
        current = self._account(context, name, stage=stages.CURRENT)
        check_account_name(current["AccountName"], options.max_name_length, "the Current account")
        other = accounts.alternate_name(current["AccountName"], max_length=options.max_name_length)
        check_account_name(other, options.max_name_length, "the alternate account")
        password = self._password(options)
        pending = {**current, "AccountName": other, "AccountPassword": password}
        context.secrets.put_pending(name, json.dumps(pending), version)
        context.log(f"new: Pending account {other} with a fresh password")

    @staticmethod
    def _password(options: Options) -> str:
        excluded = set(options.exclude_characters)
        excluded |= {c for c in string.punctuation if c not in PASSWORD_PUNCTUATION}
        password = passwords.generate_password(
            length=options.password_length,
            exclude_characters="".join(sorted(excluded)),
            require_each_included_type=True,
        )
        check_password(password, "the generated password (check ExcludeCharacters)")
        return password

    def _set(self, context: InvocationContext, options: Options, name: str, version: str) -> None:
        current = self._account(context, name, stage=stages.CURRENT)
        pending = self._account(context, name, version_id=version)
        if not accounts.is_pair(current["AccountName"], pending["AccountName"]):
            raise errors.InvalidParameter(
                f"the Pending account {pending['AccountName']!r} is not the alternate of the "
                f"Current account {current['AccountName']!r}"
            )
        check_account_name(pending["AccountName"], options.max_name_length, "the Pending account")
        check_password(pending["AccountPassword"], "the Pending password")
        api = self._api(context, options, current["AccountPassword"], pending["AccountPassword"])
        where = f"RDS instance {options.instance_id}"
        source = api.describe_account(current["AccountName"])
        if source is None:
            raise errors.FunctionFailed(
                f"the Current account {current['AccountName']!r} does not exist on {where}; "
                "nothing was changed"
            )
        custom = sorted(db for db, p in source.privileges.items() if p == "Custom")
        if custom:
            raise errors.FunctionFailed(
                f"the Current account has custom privileges on {', '.join(custom)}, which the "
                "RDS API cannot copy; nothing was changed"
            )
        target_name, password = pending["AccountName"], pending["AccountPassword"]
        target = api.describe_account(target_name)
        if target is not None and target.account_type != source.account_type:
            raise errors.FunctionFailed(
                f"account {target_name!r} exists on {where} as {target.account_type}, but the "
                f"Current account is {source.account_type}; nothing was changed"
            )
        if target is None:
            if api.create_account(target_name, password, source.account_type):
                context.log(f"set: created {source.account_type} account {target_name}")
            else:  # created by an earlier attempt whose answer was lost
                api.reset_password(target_name, password)
                context.log(f"set: account {target_name} already existed; reset its password")
            target = api.describe_account(target_name)
            if target is None:
                raise errors.FunctionFailed(
                    f"account {target_name!r} was created but {where} does not list it"
                )
        else:
            api.reset_password(target_name, password)
            context.log(f"set: reset the password of account {target_name}")
        stale = sorted(db for db, p in target.privileges.items() if source.privileges.get(db) != p)
        if stale:
            api.revoke(target_name, stale)
            context.log(f"set: revoked {target_name}'s privileges on {', '.join(stale)}")
        missing = {
            db: p for db, p in sorted(source.privileges.items()) if target.privileges.get(db) != p
        }
        if missing:
            api.grant(target_name, missing)
            granted = ", ".join(f"{p} on {db}" for db, p in missing.items())
            context.log(f"set: granted {target_name} {granted}")

    def _test(self, context: InvocationContext, options: Options, name: str, version: str) -> None:
        current = self._account(context, name, stage=stages.CURRENT)
        if context.dry_run:
            # Rotation is being enabled: set has not run, so check what set relies on.
            api = self._api(context, options, current["AccountPassword"])
            if api.describe_account(current["AccountName"]) is None:
                raise errors.FunctionFailed(
                    f"the Current account {current['AccountName']!r} does not exist on RDS "
                    f"instance {options.instance_id}"
                )
            self._login(current, what="the Current account")
            return
        pending = self._account(context, name, version_id=version)
        api = self._api(context, options, current["AccountPassword"], pending["AccountPassword"])
        source = api.describe_account(current["AccountName"])
        target = api.describe_account(pending["AccountName"])
        problem = None
        if target is None:
            problem = "does not exist"
        elif target.status != AVAILABLE:
            problem = f"is {target.status or 'in an unknown state'}, not {AVAILABLE}"
        elif source is not None and target.account_type != source.account_type:
            problem = (
                f"is {target.account_type}, not {source.account_type} like the Current account"
            )
        elif source is not None and target.privileges != source.privileges:
            problem = (
                f"has the privileges {target.privileges}, not the Current account's "
                f"{source.privileges}"
            )
        if problem is not None:
            raise errors.FunctionFailed(
                f"the Pending account {pending['AccountName']!r} {problem} on RDS instance "
                f"{options.instance_id}"
            )
        self._login(pending, what="the Pending account")
        context.log(
            f"test: account {pending['AccountName']} is Available with the right privileges"
        )

    @staticmethod
    def _login(value: Mapping[str, Any], *, what: str) -> None:
        """Log in with ``value``'s credentials when it names an ``Endpoint``."""
        host = value.get("Endpoint")
        if not host:
            return
        try:
            port = int(value.get("Port") or 3306)
        except (TypeError, ValueError):
            raise errors.InvalidParameter("the secret's Port must be an integer") from None
        tls: dict[str, Any] = (
            {"ssl": _tls_context()} if login_tls(value, what) else {"ssl_disabled": True}
        )
        try:
            conn = pymysql.connect(
                host=str(host),
                port=port,
                user=value["AccountName"],
                password=value["AccountPassword"],
                database=value.get("DBName") or None,
                connect_timeout=LOGIN_TIMEOUT,
                **tls,
            )
        except pymysql.MySQLError as exc:
            detail = ": ".join(str(a) for a in exc.args) or type(exc).__name__
            raise errors.FunctionFailed(
                f"{what} {value['AccountName']!r} cannot log in to {host}:{port}: {detail}"
            ) from exc
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1")
        finally:
            conn.close()
