"""Privileges of MySQL/MariaDB accounts as comparable atoms, and the statements that copy them.

An account's privileges are *atoms*: a privilege on an object (global ``*.*``, a
database pattern such as ``app\\_%``, a table, a column, a routine), the grant option on
an object, a role (with or without ADMIN OPTION), a proxy grant, the default roles
(:class:`AccountGrants`). Two accounts hold the same privileges when their atoms are
equal, and copying is the REVOKE and GRANT statements that turn one account's atoms
into the other's (:func:`copy_statements`).

Statements are built from parsed parts only: identifiers are quoted with backticks,
account and role names with the connection's own string escaping. Nothing here talks
to a server: :mod:`mysql_grant_rows` reads the atoms from ``SHOW GRANTS`` rows.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable

from rotor.rotation.functions.mysql_connections import ServerVersion

#: Quotes a string as an SQL literal (the connection's ``escape``).
Quote = Callable[[str], str]


def quote_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@dataclasses.dataclass(frozen=True)
class Account:
    """``'name'@'host'``, or a MariaDB role (no host)."""

    name: str
    host: str | None = None

    def sql(self, quote: Quote) -> str:
        return quote(self.name) if self.host is None else f"{quote(self.name)}@{quote(self.host)}"

    def __str__(self) -> str:
        return repr(self.name) if self.host is None else f"{self.name!r}@{self.host!r}"


@dataclasses.dataclass(frozen=True)
class Target:
    """What a privilege is on: ``*.*``, ``db.*``, ``db.table`` or ``PROCEDURE db.name``."""

    kind: str  # "" for tables, databases and global; else a routine kind
    database: str | None  # None: *
    table: str | None  # None: *

    def sql(self) -> str:
        prefix = f"{self.kind} " if self.kind else ""
        database = "*" if self.database is None else quote_identifier(self.database)
        table = "*" if self.table is None else quote_identifier(self.table)
        return f"{prefix}{database}.{table}"

    @property
    def is_global(self) -> bool:
        return self.database is None and self.table is None


def covers(outer: Target, inner: Target) -> bool:
    """Whether a privilege on ``outer`` applies to ``inner`` (``*.*``; a database, or a
    pattern such as ``app\\_%``, to its tables and routines; an object to itself)."""
    if outer.is_global or outer == inner:
        return True
    if outer.table is not None or inner.database is None or outer.database is None:
        return False
    return re.fullmatch(_like(outer.database), inner.database, re.DOTALL) is not None


def _like(pattern: str) -> str:
    """The regular expression of a LIKE pattern (``%``, ``_``, ``\\`` escapes)."""
    parts = re.findall(r"\\.|.", pattern, re.DOTALL)
    return "".join(".*" if p == "%" else "." if p == "_" else re.escape(p[-1]) for p in parts)


@dataclasses.dataclass(frozen=True)
class Privilege:
    """A privilege, on a whole object or on one column."""

    name: str
    column: str | None = None


Atom = tuple[Target, Privilege]


@dataclasses.dataclass(frozen=True, kw_only=True)
class AccountGrants:
    """What one account holds, as comparable sets."""

    privileges: frozenset[Atom] = frozenset()
    grant_options: frozenset[Target] = frozenset()
    #: (role, with ADMIN OPTION)
    roles: frozenset[tuple[Account, bool]] = frozenset()
    #: (proxied account, with GRANT OPTION)
    proxies: frozenset[tuple[Account, bool]] = frozenset()
    default_roles: frozenset[Account] = frozenset()

    def is_empty(self) -> bool:
        return not (self.privileges or self.grant_options or self.roles or self.proxies)

    def without(self, other: AccountGrants) -> AccountGrants:
        """What this holds and ``other`` does not (what turning this into it revokes)."""
        return AccountGrants(
            privileges=self.privileges - other.privileges,
            grant_options=self.grant_options - other.grant_options,
            roles=self.roles - other.roles,
            proxies=self.proxies - other.proxies,
        )

    def differences(self, other: AccountGrants) -> list[str]:
        """What ``other`` lacks (``missing``) and has beyond this (``extra``), for messages."""
        out = []
        for label, mine, theirs in (("missing", self, other), ("extra", other, self)):
            items = _describe(mine, theirs)
            if items:
                out.append(f"{label}: {', '.join(items)}")
        return out


def _describe(have: AccountGrants, lacking: AccountGrants) -> list[str]:
    items = [
        f"{privilege_sql([p])} ON {t.sql()}"
        for t, p in sorted(have.privileges - lacking.privileges, key=repr)
    ]
    items += [
        f"GRANT OPTION ON {t.sql()}"
        for t in sorted(have.grant_options - lacking.grant_options, key=repr)
    ]
    items += [
        f"role {r}{' WITH ADMIN OPTION' if admin else ''}"
        for r, admin in sorted(have.roles - lacking.roles, key=repr)
    ]
    items += [
        f"PROXY ON {a}{' WITH GRANT OPTION' if g else ''}"
        for a, g in sorted(have.proxies - lacking.proxies, key=repr)
    ]
    items += [
        f"default role {r}" for r in sorted(have.default_roles - lacking.default_roles, key=repr)
    ]
    return items


# -- copying ----------------------------------------------------------------------------


def privilege_sql(privileges: Iterable[Privilege]) -> str:
    columns: dict[str, list[str]] = {}
    for privilege in privileges:
        listed = columns.setdefault(privilege.name, [])
        if privilege.column is not None:
            listed.append(quote_identifier(privilege.column))
    return ", ".join(
        f"{name} ({', '.join(listed)})" if listed else name for name, listed in columns.items()
    )


def _by_target(atoms: Iterable[Atom]) -> dict[Target, list[Privilege]]:
    grouped: dict[Target, list[Privilege]] = {}
    for target, privilege in sorted(atoms, key=repr):
        grouped.setdefault(target, []).append(privilege)
    return grouped


def copy_statements(
    want: AccountGrants, have: AccountGrants, grantee: str, quote: Quote, server: ServerVersion
) -> list[str]:
    """Statements that give ``grantee`` (SQL text) exactly ``want``, when it holds ``have``.

    Revokes come first, so a broader grant (ALL PRIVILEGES) never gets revoked again
    after it was given.
    """
    statements = [
        f"REVOKE {privilege_sql(privileges)} ON {target.sql()} FROM {grantee}"
        for target, privileges in _by_target(have.privileges - want.privileges).items()
    ]
    statements += [
        f"REVOKE GRANT OPTION ON {target.sql()} FROM {grantee}"
        for target in sorted(have.grant_options - want.grant_options, key=repr)
    ]
    stale_roles = {role for role, _ in have.roles - want.roles}
    statements += [
        f"REVOKE {role.sql(quote)} FROM {grantee}" for role in sorted(stale_roles, key=repr)
    ]
    stale_proxies = {proxied for proxied, _ in have.proxies - want.proxies}
    statements += [
        f"REVOKE PROXY ON {proxied.sql(quote)} FROM {grantee}"
        for proxied in sorted(stale_proxies, key=repr)
    ]

    missing = _by_target(want.privileges - have.privileges)
    for target in sorted(want.grant_options - have.grant_options, key=repr):
        missing.setdefault(target, [])
    for target, privileges in sorted(missing.items(), key=repr):
        option = " WITH GRANT OPTION" if target in want.grant_options else ""
        listed = privilege_sql(privileges) if privileges else "USAGE"
        statements.append(f"GRANT {listed} ON {target.sql()} TO {grantee}{option}")
    for role, admin in sorted(want.roles, key=repr):
        if (role, admin) not in have.roles:
            option = " WITH ADMIN OPTION" if admin else ""
            statements.append(f"GRANT {role.sql(quote)} TO {grantee}{option}")
    for proxied, option_on in sorted(want.proxies, key=repr):
        if (proxied, option_on) not in have.proxies:
            option = " WITH GRANT OPTION" if option_on else ""
            statements.append(f"GRANT PROXY ON {proxied.sql(quote)} TO {grantee}{option}")

    if want.default_roles != have.default_roles:
        roles = (
            ", ".join(role.sql(quote) for role in sorted(want.default_roles, key=repr)) or "NONE"
        )
        if server.mariadb:
            statements.append(f"SET DEFAULT ROLE {roles} FOR {grantee}")
        else:
            statements.append(f"ALTER USER {grantee} DEFAULT ROLE {roles}")
    return statements
