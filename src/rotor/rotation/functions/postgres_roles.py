"""Copying a PostgreSQL role to the other role of its pair, as the master.

What a role holds (:class:`RoleState`, read from the catalogs):

- its attributes: SUPERUSER, INHERIT, CREATEROLE, CREATEDB, LOGIN, REPLICATION,
  BYPASSRLS, CONNECTION LIMIT and VALID UNTIL;
- its memberships in other roles (and whether WITH ADMIN OPTION);
- its per-role settings (``ALTER ROLE … [IN DATABASE …] SET``), such as ``role``, which
  the ownership model uses (see :mod:`postgres`);
- its direct grants on databases, and, in the database the master is connected to, on
  schemas, tables (views, ...), sequences and functions/procedures (WITH GRANT OPTION
  kept), and the default privileges others' objects give it (``ALTER DEFAULT
  PRIVILEGES FOR ROLE owner … TO role``).

:func:`plan_copy` compares the current role with the other one (absent: a new role) and
lists the statements that make the other hold exactly the same; what the other holds
and the current one does not is revoked. Before any statement, it checks that the
master may run them (CREATEROLE, superuser for SUPERUSER/REPLICATION/BYPASSRLS, each
membership, each grant WITH GRANT OPTION, membership in each owner whose default
privileges are copied) and refuses naming everything missing, with the statement that
grants it.
:func:`apply_copy` runs the plan and the password change in one transaction, so a
statement the server refuses leaves nothing half done (PostgreSQL's role DDL is
transactional). Grants on columns and large objects are not copied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from psycopg import sql

from rotor import errors
from rotor.rotation.functions.postgres_connections import Connection

_ATTRIBUTES = {
    "rolsuper": "SUPERUSER",
    "rolinherit": "INHERIT",
    "rolcreaterole": "CREATEROLE",
    "rolcreatedb": "CREATEDB",
    "rolcanlogin": "LOGIN",
    "rolreplication": "REPLICATION",
    "rolbypassrls": "BYPASSRLS",
}
_SUPERUSER_ONLY = ("rolsuper", "rolreplication", "rolbypassrls")
#: A role CREATE ROLE makes.
_NEW_ROLE: dict[str, Any] = {
    "rolsuper": False,
    "rolinherit": True,
    "rolcreaterole": False,
    "rolcreatedb": False,
    "rolcanlogin": False,
    "rolreplication": False,
    "rolbypassrls": False,
    "rolconnlimit": -1,
    "rolvaliduntil": None,
}
_PRIVILEGES = frozenset(
    {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "TRUNCATE",
        "REFERENCES",
        "TRIGGER",
        "CREATE",
        "CONNECT",
        "TEMPORARY",
        "EXECUTE",
        "USAGE",
        "MAINTAIN",
    }
)
_DEFAULT_OBJECTS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}
_CHECK_FUNCTIONS = {
    "DATABASE": "has_database_privilege",
    "SCHEMA": "has_schema_privilege",
    "TABLE": "has_table_privilege",
    "SEQUENCE": "has_sequence_privilege",
    "ROUTINE": "has_function_privilege",
}

# Direct grants to a role (%(role)s: its oid): kind, object identity, oid, privilege, option.
_GRANTS_QUERY = """
SELECT 'DATABASE', format('%%I', d.datname), d.oid, a.privilege_type, a.is_grantable
  FROM pg_database d, aclexplode(d.datacl) a WHERE a.grantee = %(role)s
UNION ALL
SELECT 'SCHEMA', format('%%I', n.nspname), n.oid, a.privilege_type, a.is_grantable
  FROM pg_namespace n, aclexplode(n.nspacl) a WHERE a.grantee = %(role)s
UNION ALL
SELECT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
       format('%%I.%%I', n.nspname, c.relname), c.oid, a.privilege_type, a.is_grantable
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
 WHERE a.grantee = %(role)s
UNION ALL
SELECT 'ROUTINE',
       format('%%I.%%I(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       p.oid, a.privilege_type, a.is_grantable
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, aclexplode(p.proacl) a
 WHERE a.grantee = %(role)s
"""
_DEFAULTS_QUERY = """
SELECT format('%%I', o.rolname),
       CASE WHEN n.nspname IS NULL THEN '' ELSE format('%%I', n.nspname) END, d.defaclobjtype::text,
       a.privilege_type, a.is_grantable
  FROM pg_default_acl d JOIN pg_roles o ON o.oid = d.defaclrole
  LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a
 WHERE a.grantee = %(role)s
"""


@dataclasses.dataclass(frozen=True, order=True)
class Grant:
    """A privilege on an object (``target``: quoted SQL from the catalog)."""

    kind: str
    target: str
    privilege: str
    grantable: bool

    def describe(self) -> str:
        option = " WITH GRANT OPTION" if self.grantable else ""
        return f"{self.privilege} ON {self.kind} {self.target}{option}"


@dataclasses.dataclass(frozen=True, order=True)
class DefaultGrant:
    """A default privilege: objects ``owner`` creates (in ``schema``, '' for all) give it."""

    owner: str
    schema: str
    objects: str
    privilege: str
    grantable: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class RoleState:
    """What a role holds (see the module docstring)."""

    name: str
    oid: int
    attributes: dict[str, Any]
    memberships: frozenset[tuple[str, bool]]
    #: (database, or '' for all; "name=value").
    settings: frozenset[tuple[str, str]]
    grants: frozenset[Grant]
    defaults: frozenset[DefaultGrant]
    #: oid of each granted object, to check the master's grant option on it.
    objects: dict[tuple[str, str], int] = dataclasses.field(compare=False)


def read_role(conn: Connection, name: str) -> RoleState | None:
    """The state of role ``name``, or None when it does not exist."""
    columns = ", ".join([*_ATTRIBUTES, "rolconnlimit", "rolvaliduntil"])
    row = conn.execute(
        f"SELECT oid, {columns} FROM pg_roles WHERE rolname = %s",
        (name,),
    ).fetchone()
    if row is None:
        return None
    oid = int(row[0])
    attributes = dict(zip([*_ATTRIBUTES, "rolconnlimit", "rolvaliduntil"], row[1:], strict=True))
    memberships = frozenset(
        (str(group), bool(admin))
        for group, admin in conn.execute(
            "SELECT g.rolname, m.admin_option FROM pg_auth_members m "
            "JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = %s",
            (oid,),
        )
    )
    settings = frozenset(
        (str(database or ""), str(entry))
        for database, config in conn.execute(
            "SELECT d.datname, s.setconfig FROM pg_db_role_setting s "
            "LEFT JOIN pg_database d ON d.oid = s.setdatabase WHERE s.setrole = %s",
            (oid,),
        )
        for entry in config or ()
    )
    grants: set[Grant] = set()
    objects: dict[tuple[str, str], int] = {}
    for kind, target, object_oid, privilege, grantable in conn.execute(
        _GRANTS_QUERY, {"role": oid}
    ):
        grants.add(Grant(str(kind), str(target), str(privilege), bool(grantable)))
        objects[(str(kind), str(target))] = int(object_oid)
    defaults = frozenset(
        DefaultGrant(str(owner), str(schema), _DEFAULT_OBJECTS.get(str(kind), ""), str(p), bool(g))
        for owner, schema, kind, p, g in conn.execute(_DEFAULTS_QUERY, {"role": oid})
    )
    return RoleState(
        name=name,
        oid=oid,
        attributes=attributes,
        memberships=memberships,
        settings=settings,
        grants=frozenset(grants),
        defaults=defaults,
        objects=objects,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """The statements that make ``other`` a copy of ``current``."""

    current: RoleState
    other: str
    creates: bool
    statements: list[sql.Composed]
    changes: list[str]

    def summary(self) -> list[str]:
        made = "created" if self.creates else "updated"
        done = ", ".join(self.changes) or "nothing to change"
        return [f"{self.other!r} {made} as a copy of {self.current.name!r}: {done}"]


def _role_sql(name: str, database: str) -> sql.Composed:
    target = sql.SQL("ALTER ROLE {}").format(sql.Identifier(name))
    if database:
        target += sql.SQL(" IN DATABASE {}").format(sql.Identifier(database))
    return target


def _keyword(privilege: str) -> sql.SQL:
    if privilege not in _PRIVILEGES:
        raise errors.FunctionFailed(f"cannot copy the unknown privilege {privilege!r}")
    return sql.SQL(privilege)


def _statements(
    current: RoleState, other: RoleState | None, name: str
) -> tuple[list[sql.Composed], list[str]]:
    who = sql.Identifier(name)
    statements: list[sql.Composed] = []
    changes: list[str] = []
    if other is None:
        statements.append(sql.SQL("CREATE ROLE {}").format(who))
    have = other.attributes if other is not None else _NEW_ROLE
    options: list[sql.Composable] = [
        sql.SQL(("" if current.attributes[column] else "NO") + keyword)
        for column, keyword in _ATTRIBUTES.items()
        if current.attributes[column] != have[column]
    ]
    if current.attributes["rolconnlimit"] != have["rolconnlimit"]:
        limit = int(current.attributes["rolconnlimit"])
        options.append(sql.SQL("CONNECTION LIMIT {}").format(sql.Literal(limit)))
    if current.attributes["rolvaliduntil"] != have["rolvaliduntil"]:
        until = current.attributes["rolvaliduntil"]
        text = until.isoformat() if until is not None else "infinity"
        options.append(sql.SQL("VALID UNTIL {}").format(sql.Literal(text)))
    if options:
        statements.append(sql.SQL("ALTER ROLE {} WITH ").format(who) + sql.SQL(" ").join(options))
        changes.append(f"{len(options)} attribute(s)")

    had_members = other.memberships if other is not None else frozenset()
    wanted, held = dict(current.memberships), dict(had_members)
    for group in sorted(wanted):
        role = sql.Identifier(group)
        if group not in held:
            joined = sql.SQL("GRANT {} TO {}").format(role, who)
            statements.append(joined + sql.SQL(" WITH ADMIN OPTION") if wanted[group] else joined)
        elif held[group] != wanted[group]:
            if wanted[group]:
                statements.append(sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(role, who))
            else:
                statements.append(sql.SQL("REVOKE ADMIN OPTION FOR {} FROM {}").format(role, who))
    for group in sorted(set(held) - set(wanted)):
        statements.append(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), who))
    if current.memberships != had_members:
        changes.append("memberships")

    had_settings = other.settings if other is not None else frozenset()
    wanted_names = {(db, entry.partition("=")[0]) for db, entry in current.settings}
    for database, entry in sorted(current.settings - had_settings):
        setting, _, value = entry.partition("=")
        statements.append(
            _role_sql(name, database)
            + sql.SQL(" SET {} = {}").format(sql.Identifier(setting), sql.Literal(value))
        )
    for database, entry in sorted(had_settings - current.settings):
        setting = entry.partition("=")[0]
        if (database, setting) not in wanted_names:
            statements.append(
                _role_sql(name, database) + sql.SQL(" RESET {}").format(sql.Identifier(setting))
            )
    if current.settings != had_settings:
        changes.append("settings")

    had_grants = other.grants if other is not None else frozenset()
    for grant in sorted(had_grants - current.grants):
        statements.append(
            sql.SQL("REVOKE {} ON {} {} FROM {} CASCADE").format(
                _keyword(grant.privilege), sql.SQL(grant.kind), sql.SQL(grant.target), who
            )
        )
    for grant in sorted(current.grants - had_grants):
        statement = sql.SQL("GRANT {} ON {} {} TO {}").format(
            _keyword(grant.privilege), sql.SQL(grant.kind), sql.SQL(grant.target), who
        )
        if grant.grantable:
            statement += sql.SQL(" WITH GRANT OPTION")
        statements.append(statement)
    if current.grants != had_grants:
        changes.append("grants")

    had_defaults = other.defaults if other is not None else frozenset()
    for default in sorted(had_defaults - current.defaults):
        statements.append(_default_sql(default, who, grant=False))
    for default in sorted(current.defaults - had_defaults):
        statements.append(_default_sql(default, who, grant=True))
    if current.defaults != had_defaults:
        changes.append("default privileges")
    return statements, changes


def _default_sql(default: DefaultGrant, who: sql.Identifier, *, grant: bool) -> sql.Composed:
    statement = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {}").format(sql.SQL(default.owner))
    if default.schema:
        statement += sql.SQL(" IN SCHEMA {}").format(sql.SQL(default.schema))
    verb = "GRANT {} ON {} TO {}" if grant else "REVOKE {} ON {} FROM {}"
    statement += sql.SQL(" " + verb).format(
        _keyword(default.privilege), sql.SQL(default.objects), who
    )
    if grant and default.grantable:
        statement += sql.SQL(" WITH GRANT OPTION")
    return statement


def missing_authority(
    conn: Connection, master: str, current: RoleState, other: RoleState | None
) -> list[str]:
    """What ``master`` lacks to make ``other`` a copy of ``current``, each with the
    statement that grants it."""
    me = read_role(conn, master)
    if me is None:
        return [f"a role: {master!r} does not exist"]
    if me.attributes["rolsuper"]:
        return []
    quoted = sql.Identifier(master).as_string(conn)
    lacks: list[str] = []
    if not me.attributes["rolcreaterole"]:
        lacks.append(f"CREATEROLE (ALTER ROLE {quoted} CREATEROLE)")
    for column in _SUPERUSER_ONLY:
        if current.attributes[column]:
            lacks.append(f"SUPERUSER, to copy {_ATTRIBUTES[column]}")
    admin_needed = conn.info.server_version >= 160000
    groups = {group for group, _ in current.memberships}
    if other is not None:
        groups |= {group for group, _ in other.memberships}
    held = dict(me.memberships)
    for group in sorted(groups):
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (group,)).fetchone()
        group_sql = sql.Identifier(group).as_string(conn)
        if row is not None and row[0]:
            lacks.append(f"SUPERUSER, to grant the superuser role {group!r}")
        elif admin_needed and not held.get(group, False):
            lacks.append(
                f"ADMIN OPTION on {group!r} (GRANT {group_sql} TO {quoted} WITH ADMIN OPTION)"
            )
    for grant in sorted(current.grants):
        function = _CHECK_FUNCTIONS[grant.kind]
        oid = current.objects[(grant.kind, grant.target)]
        privilege = f"{grant.privilege} WITH GRANT OPTION"
        row = conn.execute(
            f"SELECT {function}(%s, %s::oid, %s)",
            (master, oid, privilege),
        ).fetchone()
        if not (row and row[0]):
            on = f"{grant.privilege} ON {grant.kind} {grant.target}"
            lacks.append(f"{on} WITH GRANT OPTION (GRANT {on} TO {quoted} WITH GRANT OPTION)")
    owners = {default.owner for default in current.defaults}
    if other is not None:
        owners |= {default.owner for default in other.defaults}
    for owner in sorted(owners):
        # ALTER DEFAULT PRIVILEGES FOR ROLE owner: only a member of owner may.
        row = conn.execute(
            "SELECT pg_has_role(%s, o.oid, 'MEMBER') FROM pg_roles o "
            "WHERE format('%%I', o.rolname) = %s",
            (master, owner),
        ).fetchone()
        if not (row and row[0]):
            lacks.append(
                f"membership in {owner}, to copy the default privileges of objects it "
                f"creates (GRANT {owner} TO {quoted})"
            )
    return lacks


def plan_copy(conn: Connection, master: str, current: str, other: str) -> Plan:
    """The statements that make ``other`` hold exactly what ``current`` does; FunctionFailed
    naming what the master lacks to run them. Nothing is changed."""
    state = read_role(conn, current)
    if state is None:
        raise errors.FunctionFailed(f"the Current role {current!r} does not exist")
    existing = read_role(conn, other)
    lacks = missing_authority(conn, master, state, existing)
    if lacks:
        raise errors.FunctionFailed(
            f"the master role {master!r} cannot give {other!r} what {current!r} holds: it lacks "
            + "; ".join(lacks)
        )
    statements, changes = _statements(state, existing, other)
    return Plan(
        current=state,
        other=other,
        creates=existing is None,
        statements=statements,
        changes=changes,
    )


def apply_copy(
    conn: Connection,
    plan: Plan,
    password_statement: Callable[[Connection, str, str], sql.Composed],
    password: str,
) -> None:
    """Run ``plan`` and then the password change in one transaction."""
    try:
        with conn.transaction():
            for statement in plan.statements:
                conn.execute(statement)
            conn.execute(password_statement(conn, plan.other, password))
    except errors.RotorError:
        raise
    except Exception as exc:
        state = getattr(exc, "sqlstate", None) or "unknown"
        raise errors.FunctionFailed(
            f"the server refused copying {plan.current.name!r} to {plan.other!r} "
            f"(SQLSTATE {state}); nothing was changed"
        ) from exc


def compare(conn: Connection, current: str, other: str) -> list[str]:
    """How ``other`` differs from ``current`` (empty: it holds the same)."""
    state = read_role(conn, current)
    theirs = read_role(conn, other)
    if state is None or theirs is None:
        return [f"role {current if state is None else other!r} does not exist"]
    problems = []
    for column, keyword in _ATTRIBUTES.items():
        if state.attributes[column] != theirs.attributes[column]:
            problems.append(f"attribute {keyword} differs")
    for column, what in (("rolconnlimit", "CONNECTION LIMIT"), ("rolvaliduntil", "VALID UNTIL")):
        if state.attributes[column] != theirs.attributes[column]:
            problems.append(f"{what} differs")
    for what, mine, other_held in (
        ("memberships", state.memberships, theirs.memberships),
        ("settings", state.settings, theirs.settings),
        ("grants", state.grants, theirs.grants),
        ("default privileges", state.defaults, theirs.defaults),
    ):
        if mine != other_held:
            problems.append(f"{what} differ")
    return problems
