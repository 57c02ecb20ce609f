"""What the master account of ``mysql-alternating`` may do, and what it lacks for a copy.

:func:`read_own_grants` reads the master's own ``SHOW GRANTS`` rows (those of its
active roles included) and the account entry the server matched. From those rows,
:func:`missing_authority` lists each privilege, grant option, role and account
operation the master needs for a copy (see :mod:`mysql_accounts`) and lacks, each
with the statement that grants it, so ``set`` can refuse before changing anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pymysql

from rotor.rotation.functions import mysql_connections, mysql_grant_rows, mysql_grants
from rotor.rotation.functions.mysql_grants import Account, AccountGrants, Privilege, Quote, Target
from rotor.rotation.functions.mysql_statements import sql_error

if TYPE_CHECKING:
    from rotor.rotation.functions.mysql_connections import Connection


def read_own_grants(conn: Connection) -> tuple[Account, list[str]]:
    """The account ``conn`` is logged in as (as the server matched it) and its SHOW GRANTS."""
    try:
        name, host = mysql_connections.current_account(conn)
        with conn.cursor() as cursor:
            cursor.execute("SHOW GRANTS")
            own = [str(grant[0]) for grant in cursor.fetchall()]
    except pymysql.err.MySQLError as exc:
        raise sql_error("reading the master's privileges", exc) from exc
    return Account(name, host), own


@dataclasses.dataclass(frozen=True)
class Lack:
    """Something the master account lacks, and the statement that grants it."""

    what: str
    statement: str


_GLOBAL = Target("", None, None)
_MYSQL_SCHEMA = Target("", "mysql", None)


def missing_authority(
    master_rows: Iterable[str],
    master: Account,
    changes: Iterable[AccountGrants],
    *,
    quote: Quote,
    creates: bool = False,
    default_roles: bool = False,
    mariadb: bool = True,
) -> list[Lack]:
    """What the master lacks to read the accounts and make ``changes``; [] if nothing.

    ``master_rows`` are its own ``SHOW GRANTS`` rows (those of its active roles count
    too), ``master`` the account the server matched, ``changes`` what it grants and
    revokes, ``creates`` whether it creates an account and ``default_roles`` whether it
    sets default roles. A privilege on an object is held if the same privilege (or
    ALL PRIVILEGES) is held on the object or on one containing it (``*.*``, a database
    or a pattern matching its name, the table of a column), and likewise its grant
    option. A role needs ADMIN OPTION on it (or MySQL's ROLE_ADMIN); MariaDB's ``SET
    DEFAULT ROLE ... FOR`` needs UPDATE on ``mysql.*``. Rows not understood count for
    nothing, so a lack is never hidden by them.
    """
    held = _held(master_rows)
    to = master.sql(quote)
    lacks = []
    if not _holds(held, Privilege("SELECT"), _MYSQL_SCHEMA):
        lacks.append(
            Lack("SELECT ON `mysql`.* (to read the accounts)", f"GRANT SELECT ON `mysql`.* TO {to}")
        )
    if creates and not _holds(held, Privilege("CREATE USER"), _GLOBAL):
        lacks.append(Lack("CREATE USER", f"GRANT CREATE USER ON *.* TO {to}"))
    changes = list(changes)
    wanted: dict[Target, set[Privilege]] = {}
    for change in changes:
        for target, privilege in change.privileges:
            wanted.setdefault(target, set()).add(privilege)
        for target in change.grant_options:
            wanted.setdefault(target, set())
    for target, privileges in sorted(wanted.items(), key=lambda item: _order(item[0])):
        lacking = [p for p in privileges if not _holds(held, p, target)]
        if lacking or not any(mysql_grants.covers(t, target) for t in held.grant_options):
            listed = mysql_grants.privilege_sql(sorted(lacking or privileges, key=repr)) or "USAGE"
            lacks.append(
                Lack(
                    f"{listed} ON {target.sql()} with the grant option",
                    f"GRANT {listed} ON {target.sql()} TO {to} WITH GRANT OPTION",
                )
            )
    role_admin = not mariadb and Privilege("ROLE_ADMIN") in {p for _, p in held.privileges}
    roles = {role for change in changes for role, _ in change.roles}
    roles |= {role for change in changes for role in change.default_roles}
    for role in sorted(roles, key=repr):
        if (role, True) not in held.roles and not role_admin:
            name = (
                mysql_grants.quote_identifier(role.name) if role.host is None else role.sql(quote)
            )
            lacks.append(
                Lack(f"ADMIN OPTION on role {name}", f"GRANT {name} TO {to} WITH ADMIN OPTION")
            )
    anyone = {(Account("", "%"), True), (Account("", ""), True)}
    for proxied in sorted(
        {proxied for change in changes for proxied, _ in change.proxies}, key=repr
    ):
        if (proxied, True) not in held.proxies and not anyone & held.proxies:
            statement = f"GRANT PROXY ON {proxied.sql(quote)} TO {to} WITH GRANT OPTION"
            lacks.append(Lack(f"PROXY ON {proxied} with the grant option", statement))
    if default_roles and not _holds(held, Privilege("UPDATE"), _MYSQL_SCHEMA):
        if mariadb:
            statement = f"GRANT UPDATE ON `mysql`.* TO {to}"
            lacks.append(Lack("UPDATE ON `mysql`.* (to set default roles)", statement))
        elif not _holds(held, Privilege("CREATE USER"), _GLOBAL) and not creates:
            lacks.append(Lack("CREATE USER", f"GRANT CREATE USER ON *.* TO {to}"))
    return lacks


def _order(target: Target) -> tuple[bool, str]:
    return target.database is not None, repr(target)


def _held(rows: Iterable[str]) -> AccountGrants:
    """Everything the rows understood grant, whoever the grantee (the account, its roles)."""
    parsed = []
    for text in rows:
        try:
            parsed.append(mysql_grant_rows.parse_row(text))
        except mysql_grant_rows.Unsupported:
            continue
    return dataclasses.replace(mysql_grant_rows.collect(parsed), default_roles=frozenset())


def _holds(held: AccountGrants, privilege: Privilege, target: Target) -> bool:
    for on, have in held.privileges:
        if have.name != privilege.name and have.name != "ALL PRIVILEGES":
            continue
        if have.column is None and mysql_grants.covers(on, target):
            return True
        if have.column == privilege.column and on == target:
            return True
    return False
