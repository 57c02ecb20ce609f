"""Privileges of MySQL/MariaDB accounts: parsed from ``SHOW GRANTS`` rows, compared, copied.

Each ``SHOW GRANTS`` row is split into tokens first, so quoted names stay whole: a
database called ``a TO b`` or a column holding a backtick cannot confuse the parser.
Rows become *atoms*: a privilege on an object (global ``*.*``, a database pattern such
as ``app\\_%``, a table, a column, a routine), the grant option on an object, a role
(with or without ADMIN OPTION), a proxy grant, the default roles. Two accounts hold the
same privileges when their atoms are equal, and copying is the REVOKE and GRANT
statements that turn one account's atoms into the other's.

What some servers print after the grantee (``IDENTIFIED BY PASSWORD '*hash'``,
``REQUIRE ...``, resource limits) is skipped: the hash is never kept, and TLS
requirements and limits are account properties, read from ``mysql.user`` instead.
MySQL's partial revokes (``REVOKE ... FROM`` rows) are refused rather than half copied.

Statements are built from parsed parts only: identifiers are quoted with backticks,
account and role names with the connection's own string escaping. Nothing here talks
to a server; :mod:`mysql_accounts` reads the rows.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence

from rotor.rotation.functions.mysql_connections import ServerVersion

#: Quotes a string as an SQL literal (the connection's ``escape``).
Quote = Callable[[str], str]

ROUTINE_KINDS = ("FUNCTION", "PROCEDURE", "PACKAGE")
_ROW_PREVIEW = 160


class Unsupported(Exception):
    """A ``SHOW GRANTS`` row rotor cannot read or copy."""


def text_of(value: object) -> str:
    """A column the server returned, as text (some come as bytes)."""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value or "")


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


# -- reading ----------------------------------------------------------------------------


def parse_grants(rows: Iterable[str], account: Account) -> AccountGrants:
    """Atoms of ``account`` from its ``SHOW GRANTS`` rows; Unsupported names the bad row."""
    parsed = []
    for number, text in enumerate(rows, start=1):
        try:
            row = parse_row(text)
            if row.grantee != account:
                raise Unsupported(f"it is for {row.grantee}")
        except Unsupported as exc:
            raise Unsupported(f"SHOW GRANTS row {number} ({preview(text)}): {exc}") from None
        parsed.append(row)
    return collect(parsed)


def collect(rows: Iterable[Row]) -> AccountGrants:
    """The atoms of parsed rows together (whoever their grantee)."""
    rows = list(rows)
    return AccountGrants(
        privileges=frozenset(atom for row in rows for atom in row.privileges),
        grant_options=frozenset(row.grant_option for row in rows if row.grant_option),
        roles=frozenset(role for row in rows for role in row.roles),
        proxies=frozenset(row.proxy for row in rows if row.proxy is not None),
        default_roles=frozenset(role for row in rows for role in row.default_roles),
    )


def preview(text: str) -> str:
    """A row for messages: cut before any IDENTIFIED clause (it may hold a password hash)."""
    head = re.split(r"\sIDENTIFIED\s", text, maxsplit=1, flags=re.IGNORECASE)[0]
    return head if len(head) <= _ROW_PREVIEW else head[: _ROW_PREVIEW - 3] + "..."


@dataclasses.dataclass(frozen=True, kw_only=True)
class Row:
    """One parsed ``SHOW GRANTS`` row."""

    grantee: Account
    privileges: tuple[Atom, ...] = ()
    grant_option: Target | None = None
    roles: tuple[tuple[Account, bool], ...] = ()
    proxy: tuple[Account, bool] | None = None
    default_roles: tuple[Account, ...] = ()


_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | `(?P<backtick>(?:[^`]|``)*)`
    | '(?P<single>(?:[^'\\]|\\.|'')*)'
    | "(?P<double>(?:[^"\\]|\\.|"")*)"
    | (?P<number>\d+(?:\.\d+)?)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[(),.@*])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "Z": "\x1a"}


@dataclasses.dataclass(frozen=True)
class Token:
    kind: str  # "name" (quoted), "word", "number", "punct"
    text: str


def tokens(text: str) -> list[Token]:
    """A row the server printed (``SHOW GRANTS``, ``SHOW CREATE USER``), as tokens."""
    found: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise Unsupported(f"unexpected character {text[position]!r}")
        position = match.end()
        kind = match.lastgroup
        if kind == "space":
            continue
        if kind == "backtick":
            found.append(Token("name", match["backtick"].replace("``", "`")))
        elif kind in ("single", "double"):
            found.append(Token("name", _unquote(match[kind], "'" if kind == "single" else '"')))
        else:
            found.append(Token(str(kind), match[0]))
    return found


def _unquote(raw: str, quote: str) -> str:
    """The value of a quoted string: doubled quotes and backslash escapes undone."""

    def one(match: re.Match[str]) -> str:
        return quote if match[1] is None else _ESCAPES.get(match[1], match[1])

    return re.sub(r"\\(.)|" + quote * 2, one, raw, flags=re.DOTALL)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokens(text)
        self.index = 0

    def peek_word(self, offset: int = 0) -> str | None:
        position = self.index + offset
        if position < len(self.tokens) and self.tokens[position].kind == "word":
            return self.tokens[position].text.upper()
        return None

    def take_word(self, *words: str) -> str | None:
        word = self.peek_word()
        if word is not None and word in words:
            self.index += 1
            return word
        return None

    def expect_word(self, word: str) -> None:
        if self.take_word(word) is None:
            raise Unsupported(f"expected {word}")

    def take_punct(self, punct: str) -> bool:
        if self.index < len(self.tokens) and self.tokens[self.index] == Token("punct", punct):
            self.index += 1
            return True
        return False

    def at_end(self) -> bool:
        return self.index >= len(self.tokens)

    def until_words(self, *words: str) -> list[Token]:
        """Tokens up to (not including) the first of ``words`` outside parentheses."""
        start, depth = self.index, 0
        while not self.at_end():
            token = self.tokens[self.index]
            if token == Token("punct", "("):
                depth += 1
            elif token == Token("punct", ")"):
                depth -= 1
            elif depth == 0 and token.kind == "word" and token.text.upper() in words:
                return self.tokens[start : self.index]
            self.index += 1
        raise Unsupported(f"expected {' or '.join(words)}")

    def name(self) -> str:
        if self.at_end() or self.tokens[self.index].kind not in ("name", "word"):
            raise Unsupported("expected a name")
        self.index += 1
        return self.tokens[self.index - 1].text

    def name_or_star(self) -> str | None:
        return None if self.take_punct("*") else self.name()

    def account(self) -> Account:
        name = self.name()
        return Account(name, self.name() if self.take_punct("@") else None)

    def accounts(self, stop: str) -> list[Account]:
        found = [self.account()]
        while self.take_punct(","):
            found.append(self.account())
        if self.peek_word() != stop:
            raise Unsupported(f"expected {stop}")
        return found

    def target(self) -> Target:
        kind = self.take_word(*ROUTINE_KINDS, "TABLE") or ""
        if kind == "PACKAGE" and self.take_word("BODY"):
            kind = "PACKAGE BODY"
        database = self.name_or_star()
        if not self.take_punct("."):
            raise Unsupported("expected database.object")
        return Target("" if kind == "TABLE" else kind, database, self.name_or_star())

    def options(self) -> set[str]:
        """The clauses after the grantee; returns GRANT OPTION / ADMIN OPTION if present."""
        found: set[str] = set()
        while not self.at_end():
            word = self.take_word("IDENTIFIED", "REQUIRE", "WITH")
            if word in ("IDENTIFIED", "REQUIRE"):
                while not self.at_end() and self.peek_word() not in ("REQUIRE", "WITH"):
                    self.index += 1
            elif word == "WITH":
                while not self.at_end() and self.peek_word() not in ("REQUIRE", "IDENTIFIED"):
                    option = self.take_word("GRANT", "ADMIN")
                    if option is not None:
                        self.expect_word("OPTION")
                        found.add(f"{option} OPTION")
                    elif (self.peek_word() or "").startswith("MAX_"):
                        self.index += 1
                        if self.at_end() or self.tokens[self.index].kind != "number":
                            raise Unsupported("expected a number after a resource limit")
                        self.index += 1
                    else:
                        raise Unsupported("unknown WITH option")
            else:
                raise Unsupported("unexpected text after the grantee")
        return found


def parse_row(text: str) -> Row:
    """One ``SHOW GRANTS`` row; Unsupported says what is not understood."""
    parser = _Parser(text)
    if parser.peek_word() == "REVOKE":
        raise Unsupported("partial revokes (MySQL partial_revokes) cannot be copied")
    if parser.take_word("SET"):
        parser.expect_word("DEFAULT")
        parser.expect_word("ROLE")
        roles = [] if parser.take_word("NONE") else parser.accounts("FOR")
        parser.expect_word("FOR")
        grantee = parser.account()
        if not parser.at_end():
            raise Unsupported("unexpected text after the grantee")
        return Row(grantee=grantee, default_roles=tuple(roles))
    parser.expect_word("GRANT")
    head = parser.until_words("ON", "TO")
    if parser.take_word("TO"):
        roles = [_account_of(item) for item in _split(head)]
        grantee = parser.account()
        admin = "ADMIN OPTION" in parser.options()
        return Row(grantee=grantee, roles=tuple((role, admin) for role in roles))
    parser.expect_word("ON")
    privileges = _privileges(head)
    if privileges == [Privilege("PROXY")]:
        proxied = parser.account()
        parser.expect_word("TO")
        grantee = parser.account()
        return Row(grantee=grantee, proxy=(proxied, "GRANT OPTION" in parser.options()))
    target = parser.target()
    parser.expect_word("TO")
    grantee = parser.account()
    with_grant = "GRANT OPTION" in parser.options()
    return Row(
        grantee=grantee,
        privileges=tuple((target, p) for p in privileges if p.name != "USAGE"),
        grant_option=target if with_grant else None,
    )


def _split(tokens: Sequence[Token]) -> list[list[Token]]:
    """Items of a comma-separated list (commas inside parentheses do not split)."""
    items: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token == Token("punct", ",") and depth == 0:
            items.append([])
            continue
        depth += token == Token("punct", "(")
        depth -= token == Token("punct", ")")
        items[-1].append(token)
    if any(not item for item in items):
        raise Unsupported("empty item in a list")
    return items


def _account_of(tokens: list[Token]) -> Account:
    names = [t.text for t in tokens if t.kind in ("name", "word")]
    shape = [t.kind == "punct" for t in tokens]
    if shape == [False]:
        return Account(names[0])
    if shape == [False, True, False] and tokens[1].text == "@":
        return Account(names[0], names[1])
    raise Unsupported("expected a role name")


def _privileges(tokens: list[Token]) -> list[Privilege]:
    found: list[Privilege] = []
    for item in _split(tokens):
        words = []
        while item and item[0].kind == "word":
            words.append(item.pop(0).text.upper())
        if not words:
            raise Unsupported("expected a privilege name")
        name = " ".join(words)
        name = "ALL PRIVILEGES" if name == "ALL" else name
        if not item:
            found.append(Privilege(name))
            continue
        if item[0] != Token("punct", "(") or item[-1] != Token("punct", ")"):
            raise Unsupported(f"unexpected text after privilege {name}")
        columns = _split(item[1:-1])
        for column in columns:
            if len(column) != 1 or column[0].kind not in ("name", "word"):
                raise Unsupported(f"expected column names after privilege {name}")
            found.append(Privilege(name, column[0].text))
    return found


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
