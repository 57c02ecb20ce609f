"""Accounts of ``mysql-alternating``: make the other account of the pair a copy of the current one.

An account name can exist on several hosts (``'app'@'%'``, ``'app'@'10.%'``). The
other account gets an entry on exactly the same hosts, and on each host the same
privileges (see :mod:`mysql_grants`), TLS requirement, resource limits and
authentication plugin as the current account's entry there.

Everything is read and checked first (:func:`plan_copy`, and :func:`missing_authority`
for what the master account may grant), so a refusal changes nothing;
then :func:`apply_copy` creates missing entries (with a throwaway password), copies and
prunes privileges host by host, checks the result, and sets the new password on all
hosts last, in one statement: until then the new password logs in nowhere, so a resumed
``set`` that finds it working knows the copy was complete.

Passwords stay out of statement text (which the server shows in its process list and
writes to its general log, because PyMySQL puts arguments into the text): a statement
carries the *verifier* the server stores, computed from the password by
:mod:`rotor.rotation.functions.mysql_verifiers`. For
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
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pymysql

from rotor import errors
from rotor.rotation.functions import mysql_grants, mysql_verifiers
from rotor.rotation.functions.mysql_connections import ServerVersion
from rotor.rotation.functions.mysql_grants import Account, AccountGrants
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
_NATIVE = ("", "mysql_native_password")
_REQUIRE = {"": "NONE", "ANY": "SSL", "X509": "X509"}
# Server errors worth a phrase in messages.
_SQL_ERRORS = {
    1044: "access denied",
    1045: "access denied",
    1142: "access denied",
    1227: "access denied",
    1410: "not allowed to grant",
    1141: "no such grant",
    1146: "the table does not exist",
    1305: "the routine does not exist",
    1396: "the account operation failed",
    1470: "the user name is too long",
}


def sql_error(action: str, exc: pymysql.err.MySQLError) -> errors.FunctionFailed:
    """A clear error for a failed statement; never the server's text (it may quote SQL)."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    phrase = _SQL_ERRORS.get(code or 0)
    detail = f"{phrase} (MySQL error {code})" if phrase else f"MySQL error {code}"
    return errors.FunctionFailed(f"{action} failed: {detail}")


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


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value or "")


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
        if _text(row[-1]) == "Y":
            raise errors.FunctionFailed(f"{user!r} is a role, not an account")
        entries[_text(row[0])] = Properties(
            plugin=_text(row[1]),
            ssl_type=_text(row[2]).upper(),
            ssl_cipher=_text(row[3]),
            x509_issuer=_text(row[4]),
            x509_subject=_text(row[5]),
            limits=tuple((keyword, row[6 + index]) for index, (_, keyword) in enumerate(limits)),
        )
    return entries


@dataclasses.dataclass(frozen=True)
class PasswordForm:
    """How a statement gives a password: SQL around one %s, and what fills it."""

    sql: str
    #: The password -> the verifier the server stores; None: the password itself.
    verifier: Callable[[str], str] | None

    def argument(self, password: str) -> str:
        return password if self.verifier is None else self.verifier(password)

    def note(self, plugin: str, what: str) -> str | None:
        """A history line when the password itself goes in the statement text."""
        if self.verifier is not None:
            return None
        return (
            f"set: rotor computes no verifier for the plugin {plugin or 'unknown'!r}, so the "
            f"password of {what} went in the statement text"
        )


def identified(server: ServerVersion, plugin: str, account: Account) -> PasswordForm:
    """The clause giving ``account`` a password while keeping its plugin."""
    if plugin in _NATIVE:
        if server.mariadb or not server.has_alter_user:
            return PasswordForm("IDENTIFIED BY PASSWORD %s", mysql_verifiers.native_verifier)
        return PasswordForm(
            "IDENTIFIED WITH mysql_native_password AS %s", mysql_verifiers.native_verifier
        )
    if server.mariadb and plugin == "ed25519":
        return PasswordForm("IDENTIFIED VIA ed25519 USING %s", mysql_verifiers.ed25519_verifier)
    if server.mariadb and plugin == "parsec":
        return PasswordForm("IDENTIFIED VIA parsec USING PASSWORD(%s)", None)
    if (
        not server.mariadb
        and server.has_alter_user
        and plugin in ("caching_sha2_password", "sha256_password")
    ):
        return PasswordForm(f"IDENTIFIED WITH {plugin} BY %s", None)
    raise errors.FunctionFailed(
        f"{account} authenticates with the plugin {plugin!r}, which has no password rotor can set"
    )


def set_password_value(server: ServerVersion, plugin: str | None) -> PasswordForm:
    """What ``SET PASSWORD ... =`` takes for an account with ``plugin`` (None: unknown).

    A string literal is a verifier on MariaDB and before MySQL 5.7.6 (MariaDB checks it
    with the account's plugin from 10.4), the password itself on later MySQL.
    """
    if not server.mariadb and server.has_alter_user:
        return PasswordForm("%s", None)
    if plugin is not None and plugin in _NATIVE:
        return PasswordForm("%s", mysql_verifiers.native_verifier)
    if server.mariadb and plugin == "ed25519" and server.version >= (10, 4, 0):
        return PasswordForm("%s", mysql_verifiers.ed25519_verifier)
    return PasswordForm("PASSWORD(%s)", None)


def own_plugin(conn: Connection, server: ServerVersion) -> str | None:
    """The plugin of the MariaDB account ``conn`` is logged in as; None if unknown.

    Only MariaDB's own SET PASSWORD takes a verifier and has SHOW CREATE USER (10.2+).
    """
    if not (server.mariadb and server.has_alter_user):
        return None
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW CREATE USER CURRENT_USER()")
            row = cursor.fetchone()
    except pymysql.err.MySQLError:
        return None
    return create_user_plugin(_text(row[0])) if row else None


def create_user_plugin(text: str) -> str | None:
    """The plugin a ``SHOW CREATE USER`` row names; None for several or an unread row."""
    try:
        found = mysql_grants.tokens(text)
    except mysql_grants.Unsupported:
        return None
    words = [t.text.upper() if t.kind == "word" else "" for t in found]
    # CREATE USER `name`@`host` ...: quoted, so no word of a name counts below.
    if words[:2] != ["CREATE", "USER"] or found[3:4] != [mysql_grants.Token("punct", "@")]:
        return None
    rest, words = found[5:], words[5:]
    if "OR" in words:
        return None  # several authentication methods (MariaDB 10.4+)
    if not words or words[0] != "IDENTIFIED":
        return ""  # no password: the default plugin
    if words[1:3] == ["BY", "PASSWORD"]:
        return "mysql_native_password"
    if words[1:2] in (["VIA"], ["WITH"]) and len(rest) > 2:
        return rest[2].text.lower()
    return None


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
        identified(server, sources[host].plugin, Account(current, host))  # refuses early
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
    """Make ``plan.pending`` a copy of ``plan.current`` with ``password``, host by host."""
    server = plan.server
    for copy in plan.hosts:
        account = Account(plan.pending, copy.host)
        target = account.sql(conn.escape)
        if copy.existing is None:
            form = identified(server, copy.source.plugin, account)
            throwaway = passwords.generate_password(length=40)  # never stored nor used
            _run(
                conn,
                f"creating {account}",
                f"CREATE USER %s@%s {form.sql}",
                (*_key(account), form.argument(throwaway)),
            )
            history(f"set: created {account}")
        statements = mysql_grants.copy_statements(
            copy.grants, copy.existing_grants, target, conn.escape, server
        )
        for statement in statements:
            _run(conn, statement, statement, None)
        if copy.existing is None or copy.existing.differences(copy.source, plugin=False):
            clause, values = copy.source.require()
            limits = " ".join(f"{keyword} %s" for keyword, _ in copy.source.limits)
            head = "ALTER USER %s@%s" if server.has_alter_user else "GRANT USAGE ON *.* TO %s@%s"
            _run(
                conn,
                f"setting the TLS requirement and limits of {account}",
                f"{head} REQUIRE {clause} WITH {limits}",
                (*_key(account), *values, *(value for _, value in copy.source.limits)),
            )
        history(
            f"set: {account} now holds the privileges of {Account(plan.current, copy.host)} "
            f"({len(statements)} change{'s' if len(statements) != 1 else ''})"
        )
    problems = compare(conn, plan, plugin=False)
    if problems:
        raise errors.FunctionFailed(
            f"after copying, {plan.pending!r} still differs from {plan.current!r}: "
            + "; ".join(problems)
        )
    _set_password(conn, plan, password, history)
    history(f"set: new password set for {plan.pending!r} on {len(plan.hosts)} host(s)")


def _set_password(
    conn: Connection, plan: Plan, password: str, history: Callable[[str], None]
) -> None:
    """One ALTER USER for all hosts (else SET PASSWORD each), with verifiers where known."""
    server = plan.server
    hosts = []
    for copy in plan.hosts:
        account = Account(plan.pending, copy.host)
        form = (
            identified(server, copy.source.plugin, account)
            if server.has_alter_user
            else set_password_value(server, copy.source.plugin)
        )
        hosts.append((account, form))
        note = form.note(copy.source.plugin, str(account))
        if note is not None:
            history(note)
    if server.has_alter_user:
        _run(
            conn,
            f"setting the password of {plan.pending!r}",
            "ALTER USER " + ", ".join(f"%s@%s {form.sql}" for _, form in hosts),
            [v for account, form in hosts for v in (*_key(account), form.argument(password))],
        )
        return
    for account, form in hosts:
        _run(
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


def _run(conn: Connection, action: str, sql: str, args: Sequence[object] | None) -> None:
    """Run one statement; ``action`` names it in errors (never with a password)."""
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, args)
    except pymysql.err.MySQLError as exc:
        raise sql_error(action, exc) from exc


def read_grants(
    cursor: pymysql.cursors.Cursor, server: ServerVersion, account: Account
) -> AccountGrants:
    """The grants of ``account`` (which must exist)."""
    cursor.execute("SHOW GRANTS FOR %s@%s", (account.name, account.host or ""))
    rows = [str(row[0]) for row in cursor.fetchall()]
    try:
        grants = mysql_grants.parse_grants(rows, account)
    except mysql_grants.Unsupported as exc:
        raise errors.FunctionFailed(f"cannot copy the privileges of {account}: {exc}") from None
    if not server.mariadb and server.has_roles:
        cursor.execute(
            "SELECT DEFAULT_ROLE_USER, DEFAULT_ROLE_HOST FROM mysql.default_roles "
            "WHERE USER = %s AND HOST = %s",
            (account.name, account.host or ""),
        )
        defaults = frozenset(Account(str(u), str(h)) for u, h in cursor.fetchall())
        grants = dataclasses.replace(grants, default_roles=defaults)
    return grants


def missing_authority(
    master_rows: Iterable[str], wanted: Iterable[AccountGrants], *, creates: bool
) -> str | None:
    """Why the master (its own ``SHOW GRANTS`` rows) cannot give ``wanted``; None if it can.

    Only what is certain before any change: CREATE USER to create an account, some
    GRANT OPTION to grant anything, and every global privilege held globally with
    the grant option. Finer cases are left to the server, which refuses the GRANT.
    """
    global_privileges: set[str] = set()
    global_option = any_option = False
    for text in master_rows:
        try:
            row = mysql_grants.parse_row(text)
        except mysql_grants.Unsupported:
            continue  # only what is understood counts
        global_privileges.update(p.name for t, p in row.privileges if t.is_global)
        any_option = any_option or row.grant_option is not None
        global_option = global_option or (
            row.grant_option is not None and row.grant_option.is_global
        )
    everything = "ALL PRIVILEGES" in global_privileges
    if creates and not (everything or "CREATE USER" in global_privileges):
        return "it lacks the CREATE USER privilege"
    wanted = list(wanted)
    if any(g.privileges or g.grant_options or g.proxies for g in wanted) and not any_option:
        return "it lacks the GRANT OPTION"
    needed = {p.name for g in wanted for t, p in g.privileges if t.is_global}
    needed |= (
        {"GRANT OPTION"} if any(t.is_global for g in wanted for t in g.grant_options) else set()
    )
    if needed and not global_option:
        return f"it lacks the GRANT OPTION on *.*, needed to grant {', '.join(sorted(needed))}"
    lacking = sorted(needed - global_privileges - {"GRANT OPTION"})
    if lacking and not everything:
        return f"it does not hold {', '.join(lacking)} on *.* itself"
    return None
