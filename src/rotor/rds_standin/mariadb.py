"""RDS accounts and privileges of the stand-in, as real MariaDB users and GRANTs.

An RDS account ``name`` is the MariaDB user ``'name'@'%'``. Account types:

============  =========================================================
``Super``     ``GRANT ALL PRIVILEGES ON *.* ... WITH GRANT OPTION``
``Normal``    no global privilege (``USAGE``); per-database privileges only
============  =========================================================

Read back, an account is ``Super`` when it holds every privilege of
:data:`SUPER_CORE` globally with the grant option, else ``Normal``; a ``Normal``
account holding any other global privilege is reported with ``PrivExceeded=1``.

Per-database privileges (``GrantAccountPrivilege``) are ``GRANT <set> ON `db`.*``
with the sets of :data:`DATABASE_PRIVILEGES`, taken from RDS for MySQL's
documented account permissions without the privileges MariaDB only grants
globally (``PROCESS``, ``REPLICATION SLAVE``, ``REPLICATION CLIENT``).
``DBOwner`` (an RDS SQL Server / PostgreSQL notion) is the ``ReadWrite`` set plus
``GRANT OPTION`` on the database. Granting replaces whatever the account held on
that database. Read back, a database whose privileges are exactly one of those
sets is reported as that privilege, anything else as ``Custom``.

Database names are granted with ``_`` and ``%`` escaped, so a grant covers exactly
that database and not a wildcard pattern.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pymysql
from pymysql.connections import Connection

from rotor import errors

SUPER = "Super"
NORMAL = "Normal"
CUSTOM = "Custom"
HOST = "%"
CONNECT_TIMEOUT = 5

_READ_WRITE = frozenset(
    {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "DROP",
        "REFERENCES",
        "INDEX",
        "ALTER",
        "CREATE TEMPORARY TABLES",
        "LOCK TABLES",
        "EXECUTE",
        "CREATE VIEW",
        "SHOW VIEW",
        "CREATE ROUTINE",
        "ALTER ROUTINE",
        "EVENT",
        "TRIGGER",
    }
)
#: AccountPrivilege -> (privileges ON `db`.*, with grant option).
DATABASE_PRIVILEGES: dict[str, tuple[frozenset[str], bool]] = {
    "ReadOnly": (frozenset({"SELECT", "LOCK TABLES", "SHOW VIEW"}), False),
    "ReadWrite": (_READ_WRITE, False),
    "DDLOnly": (
        frozenset(
            {
                "CREATE",
                "DROP",
                "INDEX",
                "ALTER",
                "CREATE TEMPORARY TABLES",
                "LOCK TABLES",
                "CREATE VIEW",
                "SHOW VIEW",
                "CREATE ROUTINE",
                "ALTER ROUTINE",
            }
        ),
        False,
    ),
    "DMLOnly": (
        frozenset(
            {
                "SELECT",
                "INSERT",
                "UPDATE",
                "DELETE",
                "CREATE TEMPORARY TABLES",
                "LOCK TABLES",
                "EXECUTE",
                "SHOW VIEW",
                "EVENT",
                "TRIGGER",
            }
        ),
        False,
    ),
    "DBOwner": (_READ_WRITE, True),
}
#: Global privileges that make an account Super (with the grant option).
SUPER_CORE = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "CREATE USER"}
)
#: Names no account may take: MariaDB's own users and RDS keywords.
RESERVED_NAMES = frozenset({"root", "admin", "mysql", "mariadb.sys", "public", "aliyun_root"})
ACCOUNT_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*[A-Za-z0-9]$")
PASSWORD_PUNCTUATION = "!@#$%^&*()_+-="
MIN_PASSWORD, MAX_PASSWORD = 8, 32


class ApiError(errors.RotorError):
    """The RDS stand-in refused a request.

    ``acs_code`` and ``acs_status`` are the RDS error code and HTTP status it answers.
    """

    code = "RdsStandInError"

    def __init__(
        self, message: str | None = None, *, acs_code: str = "InternalError", acs_status: int = 500
    ) -> None:
        super().__init__(message)
        self.acs_code = acs_code
        self.acs_status = acs_status


def refuse(acs_code: str, message: str, acs_status: int = 400) -> ApiError:
    """The error the stand-in answers with ``acs_code`` and ``acs_status``."""
    return ApiError(message, acs_code=acs_code, acs_status=acs_status)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class DatabasePrivilege:
    db_name: str
    account_privilege: str
    #: The MariaDB privileges held, comma-separated and sorted.
    detail: str


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Account:
    name: str
    account_type: str
    priv_exceeded: bool
    privileges: tuple[DatabasePrivilege, ...]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class MariaDBTarget:
    """Where an instance's MariaDB is, and the stand-in's own admin account on it."""

    host: str
    port: int
    admin_user: str
    admin_password: str = dataclasses.field(repr=False)


def check_account_name(name: str, max_length: int) -> None:
    if not (2 <= len(name) <= max_length) or not ACCOUNT_NAME_RE.match(name):
        raise refuse(
            "InvalidAccountName.Format",
            f"Specified AccountName is not valid: 2 to {max_length} letters, digits or "
            "underscores, starting with a letter and ending with a letter or digit.",
        )


def check_password(password: str) -> None:
    classes = [
        any(c.isascii() and c.isupper() for c in password),
        any(c.isascii() and c.islower() for c in password),
        any(c.isascii() and c.isdigit() for c in password),
        any(c in PASSWORD_PUNCTUATION for c in password),
    ]
    allowed = all(c.isascii() and (c.isalnum() or c in PASSWORD_PUNCTUATION) for c in password)
    if not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD) or not allowed or sum(classes) < 3:
        raise refuse(
            "InvalidAccountPassword.Format",
            f"Specified AccountPassword is not valid: {MIN_PASSWORD} to {MAX_PASSWORD} "
            "characters with at least three of uppercase, lowercase, digits and "
            f"{PASSWORD_PUNCTUATION}",
        )


def _db_pattern(db_name: str) -> str:
    """A database name as an exact grant pattern: ``_`` and ``%`` are not wildcards."""
    return db_name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def _quoted(pattern: str) -> str:
    return "`" + pattern.replace("`", "``") + "`"


def _unescape_db_pattern(pattern: str) -> str:
    return re.sub(r"\\(.)", r"\1", pattern)


def classify(privileges: frozenset[str], grantable: bool) -> str:
    for name, (members, with_grant) in DATABASE_PRIVILEGES.items():
        if privileges == members and grantable == with_grant:
            return name
    return CUSTOM


class MariaDBAccounts:
    """The RDS account operations of one instance, on its MariaDB."""

    def __init__(self, target: MariaDBTarget) -> None:
        self.target = target

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        conn: Connection[Any] = pymysql.connect(
            host=self.target.host,
            port=self.target.port,
            user=self.target.admin_user,
            password=self.target.admin_password,
            autocommit=True,
            ssl_disabled=True,
            connect_timeout=CONNECT_TIMEOUT,
        )
        try:
            with conn.cursor() as cursor:
                yield cursor
        finally:
            conn.close()

    def _user(self, cursor: Any, name: str) -> str:
        return f"{cursor.connection.escape(name)}@'{HOST}'"

    def is_reserved(self, name: str) -> bool:
        return name.lower() in RESERVED_NAMES or name == self.target.admin_user

    def version(self) -> str:
        with self._cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            return str(cursor.fetchone()[0])

    # -- reading ------------------------------------------------------------------------

    def list_accounts(self, name: str | None = None) -> list[Account]:
        with self._cursor() as cursor:
            cursor.execute("SELECT User FROM mysql.user WHERE Host = '%' ORDER BY User")
            names = [
                str(row[0])
                for row in cursor.fetchall()
                if not self.is_reserved(str(row[0])) and (name is None or row[0] == name)
            ]
            return [self._describe(cursor, user) for user in names]

    def _describe(self, cursor: Any, name: str) -> Account:
        grantee = f"'{name}'@'{HOST}'"
        cursor.execute(
            "SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES "
            "WHERE GRANTEE = %s",
            (grantee,),
        )
        global_rows = cursor.fetchall()
        held = {str(p) for p, _ in global_rows} - {"USAGE"}
        grantable = any(g == "YES" for _, g in global_rows)
        is_super = held >= SUPER_CORE and grantable
        cursor.execute(
            "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE, IS_GRANTABLE "
            "FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s",
            (grantee,),
        )
        by_db: dict[str, tuple[set[str], bool]] = {}
        for schema, privilege, is_grantable in cursor.fetchall():
            privs, granted = by_db.setdefault(_unescape_db_pattern(str(schema)), (set(), False))
            privs.add(str(privilege))
            by_db[_unescape_db_pattern(str(schema))] = (privs, granted or is_grantable == "YES")
        privileges = tuple(
            DatabasePrivilege(
                db_name=db,
                account_privilege=classify(frozenset(privs), granted),
                detail=",".join(sorted(privs) + (["GRANT OPTION"] if granted else [])),
            )
            for db, (privs, granted) in sorted(by_db.items())
        )
        return Account(
            name=name,
            account_type=SUPER if is_super else NORMAL,
            priv_exceeded=bool(held) and not is_super,
            privileges=privileges,
        )

    def database_exists(self, db_name: str) -> bool:
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (db_name,)
            )
            return cursor.fetchone() is not None

    def _require(self, cursor: Any, name: str) -> None:
        cursor.execute("SELECT 1 FROM mysql.user WHERE User = %s AND Host = '%%'", (name,))
        if cursor.fetchone() is None or self.is_reserved(name):
            raise refuse(
                "InvalidAccountName.NotFound", "Specified AccountName does not exist.", 404
            )

    # -- changing -----------------------------------------------------------------------

    def create_account(self, name: str, password: str, account_type: str) -> None:
        with self._cursor() as cursor:
            user = self._user(cursor, name)
            secret = cursor.connection.escape(password)
            try:
                cursor.execute(f"CREATE USER {user} IDENTIFIED BY {secret}")
            except pymysql.err.OperationalError as exc:
                if exc.args and exc.args[0] == 1396:  # ER_CANNOT_USER: it exists
                    raise refuse(
                        "InvalidAccountName.Duplicate",
                        "Specified AccountName already exists in this instance.",
                    ) from None
                raise
            if account_type == SUPER:
                cursor.execute(f"GRANT ALL PRIVILEGES ON *.* TO {user} WITH GRANT OPTION")

    def delete_account(self, name: str) -> None:
        with self._cursor() as cursor:
            self._require(cursor, name)
            cursor.execute(f"DROP USER {self._user(cursor, name)}")

    def reset_password(self, name: str, password: str) -> None:
        with self._cursor() as cursor:
            self._require(cursor, name)
            secret = cursor.connection.escape(password)
            cursor.execute(f"ALTER USER {self._user(cursor, name)} IDENTIFIED BY {secret}")

    def grant(self, name: str, grants: Sequence[tuple[str, str]]) -> None:
        """Give ``name`` exactly ``privilege`` on each ``(db, privilege)``."""
        with self._cursor() as cursor:
            self._require(cursor, name)
            for db_name, privilege in grants:
                members, with_grant = DATABASE_PRIVILEGES[privilege]
                self._revoke_db(cursor, name, db_name)
                target = _quoted(_db_pattern(db_name))
                suffix = " WITH GRANT OPTION" if with_grant else ""
                cursor.execute(
                    f"GRANT {', '.join(sorted(members))} ON {target}.* "
                    f"TO {self._user(cursor, name)}{suffix}"
                )

    def revoke(self, name: str, db_names: Sequence[str]) -> None:
        with self._cursor() as cursor:
            self._require(cursor, name)
            for db_name in db_names:
                self._revoke_db(cursor, name, db_name)

    def _revoke_db(self, cursor: Any, name: str, db_name: str) -> None:
        """Remove every privilege ``name`` holds on ``db_name`` (none held is fine).

        Grants made out of band on the unescaped name are found and removed too.
        """
        cursor.execute(
            "SELECT TABLE_SCHEMA, MAX(IS_GRANTABLE) FROM information_schema.SCHEMA_PRIVILEGES "
            "WHERE GRANTEE = %s AND TABLE_SCHEMA IN (%s, %s) GROUP BY TABLE_SCHEMA",
            (f"'{name}'@'{HOST}'", _db_pattern(db_name), db_name),
        )
        user = self._user(cursor, name)
        for pattern, grantable in cursor.fetchall():
            target = _quoted(str(pattern))
            cursor.execute(f"REVOKE ALL PRIVILEGES ON {target}.* FROM {user}")
            if grantable == "YES":
                cursor.execute(f"REVOKE GRANT OPTION ON {target}.* FROM {user}")
