"""``SHOW GRANTS`` rows, read: each row of text the server prints, as the grants it gives.

Each row is split into tokens first (:func:`tokens`, which also reads ``SHOW CREATE
USER`` rows for :mod:`mysql_verifiers`), so quoted names stay whole: a database called
``a TO b`` or a column holding a backtick cannot confuse the parser. A row becomes a
:class:`Row` of atoms (see :mod:`mysql_grants`), and an account's rows together its
:class:`~mysql_grants.AccountGrants`.

What some servers print after the grantee (``IDENTIFIED BY PASSWORD '*hash'``,
``REQUIRE ...``, resource limits) is skipped: the hash is never kept, and TLS
requirements and limits are account properties, read from ``mysql.user`` instead.
MySQL's partial revokes (``REVOKE ... FROM`` rows) are refused rather than half copied.
Nothing here talks to a server; :mod:`mysql_accounts` and :mod:`mysql_authority` read
the rows.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from rotor.rotation.functions.mysql_grants import Account, AccountGrants, Atom, Privilege, Target

ROUTINE_KINDS = ("FUNCTION", "PROCEDURE", "PACKAGE")
_ROW_PREVIEW = 160


class Unsupported(Exception):
    """A ``SHOW GRANTS`` row rotor cannot read or copy."""


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
