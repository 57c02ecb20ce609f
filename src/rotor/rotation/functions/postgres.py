"""``postgres-alternating`` and ``postgres-single-user``: rotate PostgreSQL credentials.

The secret's fields, their aliases and TLS are described in :mod:`postgres_connections`;
``postgres-alternating`` also needs ``MasterSecret`` (alias ``masterarn``), the name of a
secret of the same shape for a role with ``CREATEROLE`` (and, on PostgreSQL 16 and
later, ``ADMIN OPTION`` on each group role of the account) on the same server. Errors
name the secret whose credentials failed; a value that is not such an object, or a
missing or mistyped field, fails naming the field before anything is changed.

``postgres-alternating`` (alternating accounts, see :mod:`accounts`):

- **new**: copy Current with the other role of the pair (``app`` <-> ``app_rt``) and a
  fresh password into Pending, unless this version exists. A name longer than the
  server's 63 bytes is refused.
- **set**: done if the Pending credentials already log in. Otherwise check that Pending
  is the other role of Current's on the same endpoint, that Current logs in and that
  the master points at the same endpoint; then, as the master, make the other role a
  copy of the current one (see :mod:`postgres_roles`: attributes, CONNECTION LIMIT,
  VALID UNTIL, memberships, per-role settings, direct grants) and give it the new
  password last. What the master lacks is refused first, naming it.
- **test**: log in with Pending (retrying briefly), and check as the master that the
  Pending role holds exactly what the Current one does. In a dry run set never ran, so
  test checks everything set would check and changes nothing.
- **end**: Current moves to the new version; Previous keeps working until the next one.

Ownership: objects belong to the role that creates them, so two roles that take turns
would each own half of the application's tables. The model (documented in
docs/how-to/postgres.md): the application's objects belong to a group role (NOLOGIN)
both roles are members of, and ``ALTER ROLE app SET role = 'app_owner'`` makes every
session of the role act as the group; rotation copies the membership and the setting,
so whatever either role creates belongs to the group and works for the other.

``postgres-single-user``: the role changes its own password with its Current
credentials: new -> set -> test -> end. From set until applications read the new
Current, connections opened with the old password fail. The rotation parameter
``PasswordValidDays`` adds ``VALID UNTIL`` (now + that many days), which PostgreSQL lets
only a role with CREATEROLE set on itself.

Neither function puts a password in statement text: the verifier is computed here
(``PQencryptPasswordConn``, with the server's ``password_encryption``, so SCRAM-SHA-256
where the server uses it) and sent instead. Identifiers are quoted by psycopg.

Rotation parameters: the password policy of ``generated-password`` (``ExcludeCharacters``
defaults to the characters that break ``.pgpass`` lines and connection URIs), the TLS
parameters (``CaBundle``, ``ClientCertificate``, ``ClientKey``,
``AllowPlaintextFallback``, ``SslMode``) and ``PasswordValidDays``.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Mapping
from typing import Any

from psycopg import sql

from rotor import errors
from rotor.rotation.functions import (
    accounts,
    database_secrets,
    database_steps,
    generated,
    postgres_roles,
)
from rotor.rotation.functions.base import (
    InvocationContext,
    step_of,
)
from rotor.rotation.functions.database_secrets import TlsMode, TlsSettings
from rotor.rotation.functions.database_steps import DatabaseSecret
from rotor.rotation.functions.postgres_connections import (
    ALIASES,
    DEFAULT_DATABASE,
    DEFAULT_PORT,
    MAX_IDENTIFIER_BYTES,
    Connection,
    Connector,
    Login,
    libpq_ssl_mode,
    server_version,
    session_user,
    ssl_mode_of,
)

#: ``:`` and ``\\`` break .pgpass lines, ``/ @ : ' "`` connection URIs and strings,
#: whitespace keyword/value connection strings.
DEFAULT_EXCLUDED_CHARACTERS = ":/@'\"\\ \t\n"
_REQUIRED = {"Endpoint": str, "AccountName": str, "AccountPassword": str}


class _Step(database_steps.Steps):
    """What every step of both functions works with."""

    DEFAULT_PORT = DEFAULT_PORT
    EXCLUDED_CHARACTERS = DEFAULT_EXCLUDED_CHARACTERS
    ALIASES = ALIASES

    def __init__(self, event: dict[str, Any], context: InvocationContext) -> None:
        super().__init__(event, context)
        self.settings = TlsSettings.of(self.options)
        self.ssl_mode = ssl_mode_of(self.options)
        self.connector = Connector(self.settings, context.log)

    def login(self, secret: DatabaseSecret, label: str) -> Login:
        what = f"{label} of secret {secret.secret!r}"
        return Login(
            endpoint=secret.endpoint,
            user=secret.account,
            password=secret.password,
            database=secret.database or DEFAULT_DATABASE,
            ssl_mode=libpq_ssl_mode(secret.tls, self.settings, self.ssl_mode, what),
            label=what,
        )

    def logs_in(self, secret: DatabaseSecret, label: str) -> bool:
        return self.connector.logs_in(self.login(secret, label))

    def master(
        self, current: DatabaseSecret, pending: DatabaseSecret, *, current_must_log_in: bool = True
    ) -> DatabaseSecret:
        master = super().master(current, pending, current_must_log_in=current_must_log_in)
        # The master works in the application's database (its grants live there).
        return dataclasses.replace(master, database=current.database)

    def prove_login(self, login: Login) -> None:
        """Log in (retrying a refusal with backoff), check the role, run a query."""
        database_secrets.retry_refused(functools.partial(self._log_in_and_query, login))

    def _log_in_and_query(self, login: Login) -> None:
        with self.connector.connect(login) as conn:
            if session_user(conn) != login.user:
                raise errors.FunctionFailed(
                    f"{login.label} log in, but as another role than {login.user!r}"
                )
            if conn.execute("SELECT 1").fetchone() != (1,):
                raise errors.FunctionFailed("the test query returned a wrong result")


def password_statement(
    conn: Connection, role: str, password: str, *, valid_until: datetime.datetime | None = None
) -> sql.Composed:
    """``ALTER ROLE role PASSWORD '<verifier>'``: the verifier computed here with the
    server's ``password_encryption``, so the password never reaches the server's log."""
    row = conn.execute("SHOW password_encryption").fetchone()
    algorithm = str(row[0]) if row else "scram-sha-256"
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), algorithm.encode())
    statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(verifier.decode())
    )
    if valid_until is not None:
        statement += sql.SQL(" VALID UNTIL {}").format(sql.Literal(valid_until.isoformat()))
    return statement


def valid_days_of(options: Mapping[str, Any]) -> int | None:
    raw = options.get("PasswordValidDays")
    if raw is None:
        return None
    try:
        days = int(raw)
    except (TypeError, ValueError):
        raise errors.InvalidParameter("PasswordValidDays must be a number of days") from None
    if isinstance(raw, bool) or days < 1:
        raise errors.InvalidParameter("PasswordValidDays must be a number of days (1 or more)")
    return days


class _Checked:
    """Both functions check a configuration alike: TLS settings and password policy."""

    PARAMETERS = (
        frozenset(
            {
                "CaBundle",
                "ClientCertificate",
                "ClientKey",
                "AllowPlaintextFallback",
                "SslMode",
            }
        )
        | generated.POLICY_PARAMETERS
    )

    def check_configuration(
        self, parameters: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> None:
        """InvalidParameter for invalid TLS settings in ``parameters`` or in the secret's
        Current value, or a password policy that makes no password."""
        settings = TlsSettings.of(parameters)
        asked = ssl_mode_of(parameters)
        if current is not None:
            value = database_steps.canonical(current, ALIASES, "the Current value")
            libpq_ssl_mode(TlsMode.of(value, "the Current value"), settings, asked, "the secret")
        generated.check_password_policy(parameters, ExcludeCharacters=DEFAULT_EXCLUDED_CHARACTERS)


class PostgresSingleUser(_Checked):
    """One role changes its own password; see the module docstring."""

    PARAMETERS = _Checked.PARAMETERS | {"PasswordValidDays"}

    def check_configuration(
        self, parameters: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> None:
        super().check_configuration(parameters, current)
        valid_days_of(parameters)

    def invoke(self, event: dict[str, Any], context: InvocationContext) -> dict[str, Any] | None:
        step_name = step_of(event)
        step = _Step(event, context)
        if step_name == "new":
            if not step.exists():
                current = step.current(master_field=False)
                step.put_new(current, current.account)
        elif step_name == "set":
            self._set(step)
        elif step_name == "test":
            if step.context.dry_run:
                current = step.current(master_field=False)
                with step.connector.connect(step.login(current, "the Current credentials")) as c:
                    version = server_version(c)
                step.context.log(f"test: dry run: {current.account!r} logs in ({version})")
            else:
                pending = step.pending(master_field=False)
                step.prove_login(step.login(pending, "the Pending credentials"))
        else:
            step.end()
        return {"VersionId": step.version}

    def _set(self, step: _Step) -> None:
        current = step.current(master_field=False)
        pending = step.pending(master_field=False)
        if pending.account != current.account:
            raise errors.InvalidParameter(
                f"the Pending account {pending.account!r} is not the Current one, "
                f"{current.account!r}; refusing to modify it"
            )
        step.same_endpoint(current, pending, "the Pending value")
        if step.connector.logs_in(step.login(pending, "the Pending credentials")):
            step.context.log(f"set: {pending.account!r} already logs in with the new password")
            return
        days = valid_days_of(step.options)
        until = None
        if days is not None:
            until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)
        with step.connector.connect(step.login(current, "the Current credentials")) as conn:
            statement = password_statement(
                conn, current.account, pending.password, valid_until=until
            )
            conn.execute(statement)
            version = server_version(conn)
        step.context.log(f"set: new password set for {current.account!r} ({version})")


class PostgresAlternating(_Checked):
    """Alternating roles through a master secret; see the module docstring."""

    def invoke(self, event: dict[str, Any], context: InvocationContext) -> dict[str, Any] | None:
        step_name = step_of(event)
        step = _Step(event, context)
        if step_name == "new":
            self._new(step)
        elif step_name == "set":
            self._set(step)
        elif step_name == "test":
            self._test(step)
        else:
            step.end()
        return {"VersionId": step.version}

    def _new(self, step: _Step) -> None:
        if step.exists():
            return
        current = step.current(master_field=True)
        with step.connector.connect(step.login(current, "the Current credentials")) as conn:
            version = server_version(conn)
        other = accounts.alternate_name(
            current.account, max_length=MAX_IDENTIFIER_BYTES, measure=_bytes, unit="bytes"
        )
        step.put_new(current, other)
        step.context.log(f"new: the next role is {other!r} ({version})")

    def _set(self, step: _Step) -> None:
        current, pending = self._pair(step)
        if step.connector.logs_in(step.login(pending, "the Pending credentials")):
            step.context.log(f"set: {pending.account!r} already logs in with the new password")
            return
        master = step.master(current, pending)
        with step.connector.connect(step.login(master, "the master credentials")) as conn:
            plan = postgres_roles.plan_copy(conn, master.account, current.account, pending.account)
            postgres_roles.apply_copy(conn, plan, password_statement, pending.password)
            for line in plan.summary():
                step.context.log(f"set: {line}")

    def _test(self, step: _Step) -> None:
        current, pending = self._pair(step)
        if step.context.dry_run:
            master = step.master(current, pending)
            with step.connector.connect(step.login(master, "the master credentials")) as conn:
                plan = postgres_roles.plan_copy(
                    conn, master.account, current.account, pending.account
                )
                version = server_version(conn)
            step.context.log(
                f"test: dry run: {current.account!r} can be copied to {pending.account!r} by "
                f"{master.account!r} ({version}; {len(plan.statements)} statement(s))"
            )
            return
        step.prove_login(step.login(pending, "the Pending credentials"))
        master = step.master(current, pending, current_must_log_in=False)
        with step.connector.connect(step.login(master, "the master credentials")) as conn:
            problems = postgres_roles.compare(conn, current.account, pending.account)
        if problems:
            raise errors.FunctionFailed(
                f"{pending.account!r} does not hold the same as {current.account!r}: "
                + "; ".join(problems)
            )
        step.context.log(
            f"test: {pending.account!r} logs in and holds the same as {current.account!r}"
        )

    def _pair(self, step: _Step) -> tuple[DatabaseSecret, DatabaseSecret]:
        current = step.current(master_field=True)
        pending = step.pending(master_field=True)
        step.check_pair(current, pending)
        return current, pending


def _bytes(name: str) -> int:
    return len(name.encode())
