"""``mysql-alternating`` and ``mysql-single-user``: rotate MySQL and MariaDB credentials.

The secret is a JSON object ``{"Endpoint", "AccountName", "AccountPassword", "Port"?,
"DBName"?, "SSL"?}``; ``mysql-alternating`` also needs ``"MasterSecret"``, the name of
a secret ``{"Endpoint", "AccountName", "AccountPassword", "Port"?, "SSL"?}`` for an
account allowed to CREATE USER, GRANT (WITH GRANT OPTION, and each role of the account
WITH ADMIN OPTION) and ALTER USER on the same server. Errors name the secret whose
credentials failed. A value that is not such an object, or a missing or mistyped field, fails
with an error naming the field before anything is changed.

``mysql-alternating`` (alternating accounts, see :mod:`accounts`):

- **new**: copy Current with the other account of the pair (``app`` <-> ``app_rt``)
  and a fresh password into Pending, unless this version exists. Names longer than the
  server allows (16, 32, 80 or 128 characters by flavour and version) are refused.
- **set**: done if the Pending credentials already log in. Otherwise check that Pending
  is the other account of Current's on the same endpoint, that Current logs in, and
  that the master secret points at the same endpoint; then, as the master, make the
  other account a copy of the current one on every host (see :mod:`mysql_accounts`),
  and give it the new password last. Whatever the master lacks for that (each privilege
  with the grant option, ADMIN OPTION on each role, CREATE USER...) is refused first,
  naming the statement that grants it (see :mod:`mysql_authority`); entries created by
  a set the server then refuses are dropped again.
- **test**: log in with Pending (retrying briefly), run a query, and check as the
  master that the Pending account holds exactly what the Current one does. In a dry
  run (rotation being enabled) set never ran, so test checks everything set would check
  and changes nothing.
- **end**: Current moves to the new version; Previous (the other account) keeps working
  until the next rotation.

``mysql-single-user`` changes the secret's own password with its Current credentials
(no master, no second account): new -> set (``SET PASSWORD`` on MariaDB, ``ALTER USER
USER()`` on MySQL) -> test -> end. The trade-off: from set until applications read the
new Current, connections opened with the old password fail, and only the account entry
the server matched (one host) changes.

Neither function puts a password in statement text where the account's plugin allows:
statements carry the verifier the server stores (see :mod:`mysql_accounts`). MySQL's
``ALTER USER USER()`` takes only the password itself, so there single-user set sends it.

Rotation parameters: the password policy of ``generated-password`` (``ExcludeCharacters``
defaults to ``/@"'\\``), and the TLS settings of :mod:`mysql_connections`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rotor import errors
from rotor.rotation.functions import (
    accounts,
    database_secrets,
    database_steps,
    generated,
    mysql_accounts,
    mysql_authority,
    mysql_verifiers,
)
from rotor.rotation.functions.base import (
    InvocationContext,
    step_of,
)
from rotor.rotation.functions.database_steps import DatabaseSecret
from rotor.rotation.functions.mysql_connections import (
    DEFAULT_PORT,
    Connector,
    Login,
    ServerVersion,
    TlsSettings,
    check_tls_configuration,
    current_user,
    read_version,
)
from rotor.rotation.functions.mysql_statements import run_statement

if TYPE_CHECKING:
    from rotor.rotation.functions.mysql_connections import Connection

DEFAULT_EXCLUDED_CHARACTERS = "/@\"'\\"


def _login(secret: DatabaseSecret, label: str, *, database: bool = True) -> Login:
    """A login as ``secret``'s account; ``label`` ("the Current credentials") names it in
    errors, with the name of the secret."""
    return Login(
        endpoint=secret.endpoint,
        user=secret.account,
        password=secret.password,
        database=secret.database if database else None,
        tls=secret.tls,
        label=f"{label} of secret {secret.secret!r}",
    )


class _Step(database_steps.Steps):
    """What every step of both functions works with."""

    DEFAULT_PORT = DEFAULT_PORT
    EXCLUDED_CHARACTERS = DEFAULT_EXCLUDED_CHARACTERS

    def __init__(self, event: dict[str, Any], context: InvocationContext) -> None:
        super().__init__(event, context)
        self.connector = Connector(TlsSettings.of(self.options), context.log)

    def logs_in(self, secret: DatabaseSecret, label: str) -> bool:
        return self.connector.logs_in(_login(secret, label))

    def prove_login(self, login: Login) -> None:
        """Log in (retrying a refusal with backoff), check the account, run a query."""
        database_secrets.retry_refused(functools.partial(self._log_in_and_query, login))

    def _log_in_and_query(self, login: Login) -> None:
        with self.connector.connect(login) as conn:
            if current_user(conn) != login.user:
                raise errors.FunctionFailed(
                    f"{login.label} log in, but as another account than {login.user!r}"
                )
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1")
                if cursor.fetchone() != (1,):
                    raise errors.FunctionFailed("the test query returned a wrong result")


class _Checked:
    """Both functions check a configuration alike: its TLS settings and password policy."""

    PARAMETERS = (
        frozenset({"CaBundle", "ClientCertificate", "ClientKey", "AllowPlaintextFallback"})
        | generated.POLICY_PARAMETERS
    )

    def check_configuration(
        self, parameters: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> None:
        """InvalidParameter for invalid TLS settings in ``parameters`` or in the secret's
        Current value (None when it has no JSON value yet), or a password policy that makes
        no password, before anything is stored."""
        check_tls_configuration(parameters, current)
        generated.check_password_policy(parameters, ExcludeCharacters=DEFAULT_EXCLUDED_CHARACTERS)


class MySQLAlternating(_Checked):
    """Alternating accounts through a master secret; see the module docstring."""

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
        with step.connector.connect(_login(current, "the Current credentials")) as conn:
            server = read_version(conn)
        other = accounts.alternate_name(current.account, max_length=server.max_user_name_length)
        step.put_new(current, other)
        step.context.log(f"new: the next account is {other!r} ({server})")

    def _set(self, step: _Step) -> None:
        current = step.current(master_field=True)
        pending = step.pending(master_field=True)
        step.check_pair(current, pending)
        if step.connector.logs_in(_login(pending, "the Pending credentials")):
            step.context.log(f"set: {pending.account!r} already logs in with the new password")
            return
        master = step.master(current, pending)
        with step.connector.connect(
            _login(master, "the master credentials", database=False)
        ) as conn:
            plan = self._plan(conn, master, current, pending)
            try:
                mysql_accounts.apply_copy(conn, plan, pending.password, step.context.log)
            except errors.FunctionFailed as exc:
                raise errors.FunctionFailed(
                    f"as the master account of secret {master.secret!r}: {exc}"
                ) from exc

    def _test(self, step: _Step) -> None:
        current = step.current(master_field=True)
        pending = step.pending(master_field=True)
        step.check_pair(current, pending)
        if step.context.dry_run:
            # set never ran: check all that set would check, change nothing.
            master = step.master(current, pending)
            login = _login(master, "the master credentials", database=False)
            with step.connector.connect(login) as conn:
                plan = self._plan(conn, master, current, pending)
            step.context.log(
                f"test: dry run: {current.account!r} on {len(plan.hosts)} host(s) can be "
                f"copied to {pending.account!r} by {master.account!r} ({plan.server})"
            )
            return
        step.prove_login(_login(pending, "the Pending credentials"))
        master = step.master(current, pending, current_must_log_in=False)
        with step.connector.connect(
            _login(master, "the master credentials", database=False)
        ) as conn:
            server = read_version(conn)
            with conn.cursor() as cursor:
                plan = mysql_accounts.plan_copy(cursor, server, current.account, pending.account)
            problems = mysql_accounts.compare(conn, plan, plugin=True)
        if problems:
            raise errors.FunctionFailed(
                f"{pending.account!r} does not hold the same as {current.account!r}: "
                + "; ".join(problems)
            )
        step.context.log(
            f"test: {pending.account!r} logs in and holds the same privileges as "
            f"{current.account!r} on {len(plan.hosts)} host(s)"
        )

    def _plan(
        self,
        conn: Connection,
        master: DatabaseSecret,
        current: DatabaseSecret,
        pending: DatabaseSecret,
    ) -> mysql_accounts.Plan:
        """Everything set needs, read and checked as the master; nothing is changed."""
        server = read_version(conn)
        if len(pending.account) > server.max_user_name_length:
            raise errors.InvalidParameter(
                f"{pending.account!r} is longer than the {server.max_user_name_length} "
                f"characters {server} allows"
            )
        me, own = mysql_authority.read_own_grants(conn)
        who = f"the master account {me.sql(conn.escape)} of secret {master.secret!r}"
        what = f"give {pending.account!r} the privileges of {current.account!r}"
        check = functools.partial(
            mysql_authority.missing_authority, own, me, quote=conn.escape, mariadb=server.mariadb
        )
        _refuse(who, what, check([]))  # it must read the accounts to plan
        with conn.cursor() as cursor:
            plan = mysql_accounts.plan_copy(cursor, server, current.account, pending.account)
        hosts = plan.hosts
        changes = [g for c in hosts for g in (c.grants, c.existing_grants.without(c.grants))]
        lacks = check(
            changes,
            creates=any(c.existing is None for c in hosts),
            default_roles=any(
                c.grants.default_roles != c.existing_grants.default_roles for c in hosts
            ),
        )
        _refuse(who, what, lacks)
        return plan


def _refuse(who: str, what: str, lacks: list[mysql_authority.Lack]) -> None:
    """FunctionFailed naming what the master lacks and the statements that grant it."""
    if lacks:
        raise errors.FunctionFailed(
            f"{who} cannot {what}: it lacks {', '.join(lack.what for lack in lacks)}; "
            "an administrator grants that with: " + "; ".join(lack.statement for lack in lacks)
        )


class MySQLSingleUser(_Checked):
    """One account changes its own password; see the module docstring."""

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
                with step.connector.connect(_login(current, "the Current credentials")) as conn:
                    server = read_version(conn)
                step.context.log(f"test: dry run: {current.account!r} logs in ({server})")
            else:
                pending = step.pending(master_field=False)
                step.prove_login(_login(pending, "the Pending credentials"))
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
        if step.connector.logs_in(_login(pending, "the Pending credentials")):
            step.context.log(f"set: {pending.account!r} already logs in with the new password")
            return
        with step.connector.connect(_login(current, "the Current credentials")) as conn:
            server = read_version(conn)
            plugin = mysql_verifiers.own_plugin(conn, server)
            sql, args = own_password_statement(server, plugin, pending.password, current.password)
            if pending.password in args:
                step.context.log(
                    f"set: rotor computes no verifier for the plugin {plugin or 'unknown'!r} on "
                    f"{server}, so the password went in the statement text"
                )
            run_statement(conn, f"changing the password of {current.account!r}", sql, args)
        step.context.log(f"set: new password set for {current.account!r} ({server})")


def own_password_statement(
    server: ServerVersion, plugin: str | None, new: str, old: str
) -> tuple[str, tuple[str, ...]]:
    """How an account without privileges changes its own password (``plugin``: its own).

    MariaDB's ALTER USER needs CREATE USER even for oneself, but its SET PASSWORD does
    not, keeps the account's plugin, and takes the verifier the plugin stores, so the
    password stays out of the statement (see :mod:`mysql_accounts`). MySQL 5.7.6+
    documents ``ALTER USER USER()``, whose only form takes the password itself, with
    ``REPLACE`` (the current password) from 8.0.13, which accounts with ``PASSWORD
    REQUIRE CURRENT`` need.
    """
    if server.mariadb or not server.has_alter_user:
        form = mysql_verifiers.set_password_value(server, plugin)
        return f"SET PASSWORD = {form.sql}", (form.argument(new),)
    if server.has_replace_clause:
        return "ALTER USER USER() IDENTIFIED BY %s REPLACE %s", (new, old)
    return "ALTER USER USER() IDENTIFIED BY %s", (new,)
