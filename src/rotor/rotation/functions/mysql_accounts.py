"""Accounts of ``mysql-alternating``: make the other account of the pair a copy of the current one.

An account name can exist on several hosts (``'app'@'%'``, ``'app'@'10.%'``). The
other account gets an entry on exactly the same hosts, and on each host the same
privileges (see :mod:`mysql_grants`), TLS requirement, resource limits and
authentication plugin as the current account's entry there.

Everything is read and checked first (:func:`plan_copy`, and
:func:`mysql_authority.missing_authority` for each privilege, role and account operation
the master needs, with the statement that grants what it lacks), so a refusal changes
nothing; then :func:`apply_copy` creates missing entries (with a throwaway password),
copies and prunes privileges host by host, checks the result, and sets the new password
on all hosts last, in one statement: until then the new password logs in nowhere, so a
resumed ``set`` that finds it working knows the copy was complete. If the server refuses
a statement anyway, the entries that attempt created are dropped; an entry an
interrupted set left is completed by the next one.

Passwords stay out of statement text (which the server shows in its process list and
writes to its general log, because PyMySQL puts arguments into the text): a statement
carries the *verifier* the server stores, computed from the password by
:mod:`rotor.rotation.functions.mysql_verifiers` (with the clauses that carry it). For
``mysql_native_password`` that is ``'*'`` and the upper-case hex of SHA1(SHA1(password));
for MariaDB's ``ed25519``, the base64 (unpadded) Ed25519 public key whose secret scalar
is the clamped first half of SHA512(password), as the plugin derives it. Only for the
salted verifiers rotor does not compute (MySQL's ``caching_sha2_password`` and
``sha256_password``, MariaDB's ``parsec``), or when the plugin cannot be read, does the
password itself go in the statement (``IDENTIFIED WITH plugin BY 'password'``, ``USING
PASSWORD('password')``, ``SET PASSWORD = PASSWORD('password')``); the rotation history
says so.
"""

from __future__ import annotations

import dataclasses
import decimal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pymysql

from rotor import errors
from rotor.rotation.functions import mysql_grant_rows, mysql_grants, mysql_verifiers
from rotor.rotation.functions.mysql_connections import ServerVersion
from rotor.rotation.functions.mysql_grants import Account, AccountGrants
from rotor.rotation.functions.mysql_statements import run_statement, sql_error, text_of
from rotor.store import passwords

if TYPE_CHECKING:
    from rotor.rotation.functions.mysql_connections import Connection

#: mysql.user column -> the resource-limit keyword that sets it.
_LIMITS = (
    ("max_questions", "MAX_QUERIES_PER_HOUR"),
    ("max_updates", "MAX_UPDATES_PER_HOUR"),
    ("max_connections", "MAX_CONNECTIONS_PER_HOUR"),
    ("max_user_connections", "MAX_USER_CONNECTIONS"),
)
_MARIADB_LIMITS = (*_LIMITS, ("max_statement_time", "MAX_STATEMENT_TIME"))
_REQUIRE = {"": "NONE", "ANY": "SSL", "X509": "X509"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Properties:
    """What ``mysql.user`` holds for one entry beside privileges."""

    plugin: str
    ssl_type: str
    ssl_cipher: str
    x509_issuer: str
    x509_subject: str
    #: (keyword, value) of each resource limit.
    limits: tuple[tuple[str, Any], ...]

    def require(self) -> tuple[str, list[str]]:
        """The REQUIRE clause (with %s placeholders) and its arguments."""
        if self.ssl_type != "SPECIFIED":
            return _REQUIRE.get(self.ssl_type, "SSL"), []
        parts = [
            (keyword, value)
            for keyword, value in (
                ("CIPHER", self.ssl_cipher),
                ("ISSUER", self.x509_issuer),
                ("SUBJECT", self.x509_subject),
            )
            if value
        ]
        if not parts:
            return "SSL", []
        return " AND ".join(f"{keyword} %s" for keyword, _ in parts), [v for _, v in parts]

    def differences(self, other: Properties, *, plugin: bool) -> list[str]:
        out = []
        mine, theirs = self.require(), other.require()
        if mine != theirs:
            out.append(f"TLS requirement {_render(theirs)} instead of {_render(mine)}")
        for (keyword, value), (_, their) in zip(self.limits, other.limits, strict=True):
            if decimal.Decimal(str(value)) != decimal.Decimal(str(their)):
                out.append(f"{keyword} {their} instead of {value}")
        if plugin and (self.plugin or "mysql_native_password") != (
            other.plugin or "mysql_native_password"
        ):
            out.append(f"authentication plugin {other.plugin!r} instead of {self.plugin!r}")
        return out


def _render(require: tuple[str, list[str]]) -> str:
    clause, values = require
    for value in values:
        clause = clause.replace("%s", repr(value), 1)
    return clause


def read_entries(
    cursor: pymysql.cursors.Cursor, server: ServerVersion, user: str
) -> dict[str, Properties]:
    """The hosts of ``user`` and each entry's properties; refuses a role of that name."""
    limits = _MARIADB_LIMITS if server.mariadb and server.version >= (10, 1, 1) else _LIMITS
    role = ", is_role" if server.mariadb and server.has_roles else ", 'N'"
    columns = ", ".join(column for column, _ in limits)
    cursor.execute(
        f"SELECT Host, plugin, ssl_type, ssl_cipher, x509_issuer, x509_subject, {columns}"
        f"{role} FROM mysql.user WHERE User = %s",
        (user,),
    )
    entries: dict[str, Properties] = {}
    for row in cursor.fetchall():
        if text_of(row[-1]) == "Y":
            raise errors.FunctionFailed(f"{user!r} is a role, not an account")
        entries[text_of(row[0])] = Properties(
            plugin=text_of(row[1]),
            ssl_type=text_of(row[2]).upper(),
            ssl_cipher=text_of(row[3]),
            x509_issuer=text_of(row[4]),
            x509_subject=text_of(row[5]),
            limits=tuple((keyword, row[6 + index]) for index, (_, keyword) in enumerate(limits)),
        )
    return entries


@dataclasses.dataclass(frozen=True, kw_only=True)
class HostCopy:
    """What to do for one host."""

    host: str
    source: Properties
    grants: AccountGrants
    #: None: the other account has no entry on this host yet.
    existing: Properties | None
    existing_grants: AccountGrants


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """The copy of ``current`` to ``pending``, host by host."""

    server: ServerVersion
    current: str
    pending: str
    hosts: tuple[HostCopy, ...]


def plan_copy(
    cursor: pymysql.cursors.Cursor, server: ServerVersion, current: str, pending: str
) -> Plan:
    """Read and check everything the copy needs; FunctionFailed before any change."""
    try:
        sources = read_entries(cursor, server, current)
        targets = read_entries(cursor, server, pending)
    except pymysql.err.MySQLError as exc:
        raise sql_error("reading the accounts from mysql.user", exc) from exc
    if not sources:
        raise errors.FunctionFailed(f"the account {current!r} does not exist on the server")
    strays = sorted(set(targets) - set(sources))
    if strays:
        listed = ", ".join(str(Account(pending, host)) for host in strays)
        raise errors.FunctionFailed(
            f"{listed} exists but {current!r} has no entry on that host; drop it, or "
            f"create {current!r} there, so that both accounts have the same hosts"
        )
    hosts = []
    for host in sorted(sources):
        mysql_verifiers.identified(
            server, sources[host].plugin, Account(current, host)
        )  # refuses early
        try:
            grants = read_grants(cursor, server, Account(current, host))
            existing = (
                read_grants(cursor, server, Account(pending, host))
                if host in targets
                else AccountGrants()
            )
        except pymysql.err.MySQLError as exc:
            raise sql_error(f"reading the privileges of {Account(current, host)}", exc) from exc
        hosts.append(
            HostCopy(
                host=host,
                source=sources[host],
                grants=grants,
                existing=targets.get(host),
                existing_grants=existing,
            )
        )
    return Plan(server=server, current=current, pending=pending, hosts=tuple(hosts))


def apply_copy(conn: Connection, plan: Plan, password: str, history: Callable[[str], None]) -> None:
    """Make ``plan.pending`` a copy of ``plan.current`` with ``password``, host by host.

    If a statement fails, the entries this call created are dropped again, so a failed
    set leaves no half-made account (an entry left by an interrupted set is completed
    by the next one, which finds it in its plan)."""
    created: list[Account] = []
    try:
        for copy in plan.hosts:
            if copy.existing is None:
                created.append(_create(conn, plan, copy))
                history(f"set: created {created[-1]}")
            count = _copy_host(conn, plan, copy)
            history(
                f"set: {Account(plan.pending, copy.host)} now holds the privileges of "
                f"{Account(plan.current, copy.host)} ({count} change{'s' if count != 1 else ''})"
            )
        problems = compare(conn, plan, plugin=False)
        if problems:
            raise errors.FunctionFailed(
                f"after copying, {plan.pending!r} still differs from {plan.current!r}: "
                + "; ".join(problems)
            )
        _set_password(conn, plan, password, history)
    except errors.FunctionFailed as exc:
        if not created:
            raise
        raise errors.FunctionFailed(f"{exc}; {_drop(conn, created, history)}") from exc
    history(f"set: new password set for {plan.pending!r} on {len(plan.hosts)} host(s)")


def _create(conn: Connection, plan: Plan, copy: HostCopy) -> Account:
    account = Account(plan.pending, copy.host)
    form = mysql_verifiers.identified(plan.server, copy.source.plugin, account)
    throwaway = passwords.generate_password(length=40)  # never stored nor used
    run_statement(
        conn,
        f"creating {account}",
        f"CREATE USER %s@%s {form.sql}",
        (*_key(account), form.argument(throwaway)),
    )
    return account


def _copy_host(conn: Connection, plan: Plan, copy: HostCopy) -> int:
    """Privileges, TLS requirement and limits of one host; the number of grant changes."""
    server = plan.server
    account = Account(plan.pending, copy.host)
    statements = mysql_grants.copy_statements(
        copy.grants, copy.existing_grants, account.sql(conn.escape), conn.escape, server
    )
    for statement in statements:
        run_statement(conn, statement, statement, None)
    if copy.existing is None or copy.existing.differences(copy.source, plugin=False):
        clause, values = copy.source.require()
        limits = " ".join(f"{keyword} %s" for keyword, _ in copy.source.limits)
        head = "ALTER USER %s@%s" if server.has_alter_user else "GRANT USAGE ON *.* TO %s@%s"
        run_statement(
            conn,
            f"setting the TLS requirement and limits of {account}",
            f"{head} REQUIRE {clause} WITH {limits}",
            (*_key(account), *values, *(value for _, value in copy.source.limits)),
        )
    return len(statements)


def _drop(conn: Connection, created: list[Account], history: Callable[[str], None]) -> str:
    """Drop the entries a failed set created; what became of them, for its error."""
    listed = ", ".join(str(account) for account in created)
    try:
        with conn.cursor() as cursor:
            for account in created:
                cursor.execute("DROP USER %s@%s", _key(account))
    except pymysql.err.MySQLError as exc:
        problem = sql_error(f"dropping {listed}", exc)
        history(f"set: {problem}; drop {listed} by hand before the next rotation")
        return f"{problem}; drop {listed} by hand"
    done = f"{listed}, created by this attempt, {'was' if len(created) == 1 else 'were'} dropped"
    history(f"set: {done}")
    return done


def _set_password(
    conn: Connection, plan: Plan, password: str, history: Callable[[str], None]
) -> None:
    """One ALTER USER for all hosts (else SET PASSWORD each), with verifiers where known."""
    server = plan.server
    hosts = []
    for copy in plan.hosts:
        account = Account(plan.pending, copy.host)
        form = (
            mysql_verifiers.identified(server, copy.source.plugin, account)
            if server.has_alter_user
            else mysql_verifiers.set_password_value(server, copy.source.plugin)
        )
        hosts.append((account, form))
        note = form.note(copy.source.plugin, str(account))
        if note is not None:
            history(note)
    if server.has_alter_user:
        run_statement(
            conn,
            f"setting the password of {plan.pending!r}",
            "ALTER USER " + ", ".join(f"%s@%s {form.sql}" for _, form in hosts),
            [v for account, form in hosts for v in (*_key(account), form.argument(password))],
        )
        return
    for account, form in hosts:
        run_statement(
            conn,
            f"setting the password of {account}",
            f"SET PASSWORD FOR %s@%s = {form.sql}",
            (*_key(account), form.argument(password)),
        )


def compare(conn: Connection, plan: Plan, *, plugin: bool) -> list[str]:
    """How ``plan.pending`` differs from ``plan.current`` now (hosts, privileges, properties)."""
    server = plan.server
    try:
        with conn.cursor() as cursor:
            sources = read_entries(cursor, server, plan.current)
            targets = read_entries(cursor, server, plan.pending)
            problems = []
            if set(sources) != set(targets):
                problems.append(f"hosts {sorted(targets)} instead of {sorted(sources)}")
            for host in sorted(set(sources) & set(targets)):
                want = read_grants(cursor, server, Account(plan.current, host))
                have = read_grants(cursor, server, Account(plan.pending, host))
                found = want.differences(have)
                found += sources[host].differences(targets[host], plugin=plugin)
                problems += [f"on host {host!r}: {item}" for item in found]
    except pymysql.err.MySQLError as exc:
        raise sql_error(f"comparing {plan.pending!r} with {plan.current!r}", exc) from exc
    return problems


def _key(account: Account) -> tuple[str, str]:
    return account.name, account.host or ""


def read_grants(
    cursor: pymysql.cursors.Cursor, server: ServerVersion, account: Account
) -> AccountGrants:
    """The grants of ``account`` (which must exist)."""
    cursor.execute("SHOW GRANTS FOR %s@%s", _key(account))
    rows = [str(row[0]) for row in cursor.fetchall()]
    try:
        grants = mysql_grant_rows.parse_grants(rows, account)
    except mysql_grant_rows.Unsupported as exc:
        raise errors.FunctionFailed(f"cannot copy the privileges of {account}: {exc}") from None
    if not server.mariadb and server.has_roles:
        cursor.execute(
            "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles "
            "WHERE USER = %s AND HOST = %s",
            _key(account),
        )
        defaults = frozenset(Account(str(u), str(h)) for u, h in cursor.fetchall())
        grants = dataclasses.replace(grants, default_roles=defaults)
    return grants
