"""Parsing without a server: SHOW GRANTS rows, versions, endpoints, TLS settings."""

from __future__ import annotations

from typing import Any

import pytest

from rotor import errors
from rotor.rotation.functions import (
    mysql_authority,
    mysql_grant_rows,
    mysql_grants,
    mysql_verifiers,
)
from rotor.rotation.functions.mysql_connections import (
    Endpoint,
    Flavour,
    ServerVersion,
    TlsSettings,
)
from rotor.rotation.functions.mysql_grants import Account, AccountGrants, Privilege, Target

APP = Account("app", "%")
MARIADB = ServerVersion.parse("10.11.6-MariaDB-0+deb12u1")
MYSQL8 = ServerVersion.parse("8.0.36")


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def grants(*rows: str, account: Account = APP) -> AccountGrants:
    return mysql_grant_rows.parse_grants(rows, account)


@pytest.mark.parametrize(
    ("row", "atoms"),
    [
        ("GRANT USAGE ON *.* TO `app`@`%`", set()),
        (
            "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*ABC' REQUIRE SSL "
            "WITH MAX_QUERIES_PER_HOUR 10 MAX_STATEMENT_TIME 1.500000",
            set(),
        ),
        ("GRANT PROCESS, RELOAD ON *.* TO 'app'@'%'", {("*.*", "PROCESS"), ("*.*", "RELOAD")}),
        ("GRANT ALL ON `db`.* TO `app`@`%`", {("`db`.*", "ALL PRIVILEGES")}),
        (
            "GRANT SELECT, INSERT ON `app\\_%`.* TO `app`@`%` WITH GRANT OPTION",
            {("`app\\_%`.*", "SELECT"), ("`app\\_%`.*", "INSERT")},
        ),
        (
            "GRANT SELECT (`a`, `odd TO name`), UPDATE (`b`) ON `db`.`t` TO `app`@`%`",
            {("`db`.`t`", "SELECT (`a`)"), ("`db`.`t`", "SELECT (`odd TO name`)")}
            | {("`db`.`t`", "UPDATE (`b`)")},
        ),
        ("GRANT EXECUTE ON PROCEDURE `db`.`p` TO `app`@`%`", {("PROCEDURE `db`.`p`", "EXECUTE")}),
        (
            "GRANT EXECUTE, ALTER ROUTINE ON FUNCTION `db`.`f` TO `app`@`%`",
            {("FUNCTION `db`.`f`", "EXECUTE"), ("FUNCTION `db`.`f`", "ALTER ROUTINE")},
        ),
        (
            "GRANT EXECUTE ON PACKAGE BODY `db`.`p` TO `app`@`%`",
            {("PACKAGE BODY `db`.`p`", "EXECUTE")},
        ),
        (
            "GRANT BACKUP_ADMIN,XA_RECOVER_ADMIN ON *.* TO `app`@`%`",  # MySQL 8 dynamic privileges
            {("*.*", "BACKUP_ADMIN"), ("*.*", "XA_RECOVER_ADMIN")},
        ),
        ("GRANT SELECT ON `we``ird db`.`a'b` TO `app`@`%`", {("`we``ird db`.`a'b`", "SELECT")}),
    ],
)
def test_privilege_rows(row: str, atoms: set[tuple[str, str]]) -> None:
    parsed = grants(row)
    assert {(t.sql(), mysql_grants.privilege_sql([p])) for t, p in parsed.privileges} == atoms


def test_grant_options_roles_proxies_default_roles() -> None:
    parsed = grants(
        "GRANT SELECT ON `app\\_%`.* TO `app`@`%` WITH GRANT OPTION",
        "GRANT USAGE ON *.* TO `app`@`%` WITH GRANT OPTION MAX_USER_CONNECTIONS 3",
        "GRANT `r 1` TO `app`@`%` WITH ADMIN OPTION",
        "GRANT `r2`@`%`,`r3`@`10.%` TO `app`@`%`",
        "GRANT PROXY ON ''@'%' TO 'app'@'%' WITH GRANT OPTION",
        "SET DEFAULT ROLE `r 1` FOR `app`@`%`",
    )
    assert parsed.grant_options == {Target("", "app\\_%", None), Target("", None, None)}
    assert parsed.roles == {
        (Account("r 1"), True),
        (Account("r2", "%"), False),
        (Account("r3", "10.%"), False),
    }
    assert parsed.proxies == {(Account("", "%"), True)}
    assert parsed.default_roles == {Account("r 1")}


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("REVOKE SELECT ON `mysql`.* FROM `app`@`%`", "partial revokes"),
        ("GRANT SELECT ON `db`.* TO `other`@`%`", "it is for 'other'@'%'"),
        ("GRANT SELECT ON `db`.* TO `app`@`%` WITH SOMETHING", "unknown WITH option"),
        ("GRANT SELECT ON `db` TO `app`@`%`", "expected database.object"),
        ("GRANT SELECT ON `db`.* TO `app`@`%` ; DROP", "unexpected character"),
        ("SELECT 1", "expected GRANT"),
    ],
)
def test_rows_that_cannot_be_copied_are_refused(row: str, problem: str) -> None:
    with pytest.raises(mysql_grant_rows.Unsupported, match=problem):
        grants(row)


def test_a_refused_row_is_quoted_without_its_password_hash() -> None:
    row = "GRANT USAGE ON *.* TO `app`@`other` IDENTIFIED BY PASSWORD '*SECRETHASH'"
    with pytest.raises(mysql_grant_rows.Unsupported) as caught:
        grants(row)
    assert "SECRETHASH" not in str(caught.value)
    assert "GRANT USAGE ON *.* TO `app`@`other`" in str(caught.value)


def test_copy_revokes_before_it_grants() -> None:
    want = grants(
        "GRANT SELECT ON `db`.* TO `app`@`%`",
        "GRANT SELECT (`a`) ON `db`.`t` TO `app`@`%`",
        "GRANT `r1` TO `app`@`%` WITH ADMIN OPTION",
        "GRANT USAGE ON `x`.* TO `app`@`%` WITH GRANT OPTION",
    )
    have = grants(
        "GRANT ALL PRIVILEGES ON `db`.* TO `app`@`%` WITH GRANT OPTION",
        "GRANT SELECT (`a`, `b`) ON `db`.`t` TO `app`@`%`",
        "GRANT `r1` TO `app`@`%`",
        "GRANT `old` TO `app`@`%`",
        "SET DEFAULT ROLE `old` FOR `app`@`%`",
    )
    statements = mysql_grants.copy_statements(want, have, "'app_rt'@'%'", quote, MARIADB)
    assert statements == [
        "REVOKE SELECT (`b`) ON `db`.`t` FROM 'app_rt'@'%'",
        "REVOKE ALL PRIVILEGES ON `db`.* FROM 'app_rt'@'%'",
        "REVOKE GRANT OPTION ON `db`.* FROM 'app_rt'@'%'",
        "REVOKE 'old' FROM 'app_rt'@'%'",
        "REVOKE 'r1' FROM 'app_rt'@'%'",
        "GRANT SELECT ON `db`.* TO 'app_rt'@'%'",
        "GRANT USAGE ON `x`.* TO 'app_rt'@'%' WITH GRANT OPTION",
        "GRANT 'r1' TO 'app_rt'@'%' WITH ADMIN OPTION",
        "SET DEFAULT ROLE NONE FOR 'app_rt'@'%'",
    ]
    assert mysql_grants.copy_statements(want, want, "x", quote, MARIADB) == []


def test_default_roles_on_mysql() -> None:
    want = AccountGrants(default_roles=frozenset({Account("r", "%")}))
    assert mysql_grants.copy_statements(want, AccountGrants(), "'a'@'%'", quote, MYSQL8) == [
        "ALTER USER 'a'@'%' DEFAULT ROLE 'r'@'%'"
    ]


def test_differences_are_listed_both_ways() -> None:
    want = grants("GRANT SELECT, INSERT ON `db`.* TO `app`@`%`")
    have = grants("GRANT SELECT, DELETE ON `db`.* TO `app`@`%`")
    assert want.differences(have) == ["missing: INSERT ON `db`.*", "extra: DELETE ON `db`.*"]


MASTER = Account("m", "%")
READS = "GRANT SELECT ON `mysql`.* TO `m`@`%`"


@pytest.mark.parametrize(
    ("master", "creates", "statements"),
    [
        (["GRANT ALL PRIVILEGES ON *.* TO `m`@`%` WITH GRANT OPTION"], True, []),
        (
            ["GRANT ALL PRIVILEGES ON *.* TO `m`@`%`"],
            False,
            [
                "GRANT PROCESS ON *.* TO 'm'@'%' WITH GRANT OPTION",
                "GRANT SELECT ON `d`.* TO 'm'@'%' WITH GRANT OPTION",
            ],
        ),
        (
            ["GRANT SELECT, PROCESS ON *.* TO `m`@`%` WITH GRANT OPTION"],
            True,
            ["GRANT CREATE USER ON *.* TO 'm'@'%'"],
        ),
        (
            [READS, "GRANT CREATE USER ON *.* TO `m`@`%`", "GRANT ALL ON `d`.* TO `m`@`%`"],
            True,
            [
                "GRANT PROCESS ON *.* TO 'm'@'%' WITH GRANT OPTION",
                "GRANT SELECT ON `d`.* TO 'm'@'%' WITH GRANT OPTION",
            ],
        ),
        (
            [
                READS,
                "GRANT PROCESS ON *.* TO `m`@`%`",
                "GRANT ALL ON `_`.* TO `m`@`%` WITH GRANT OPTION",
            ],
            False,
            ["GRANT PROCESS ON *.* TO 'm'@'%' WITH GRANT OPTION"],
        ),
        (
            [READS, "GRANT CREATE USER, SELECT ON *.* TO `m`@`%` WITH GRANT OPTION"],
            True,
            ["GRANT PROCESS ON *.* TO 'm'@'%' WITH GRANT OPTION"],
        ),
        (
            [
                "GRANT PROCESS ON *.* TO `m`@`%` WITH GRANT OPTION",
                "GRANT SELECT ON `d`.`t` TO `m`@`%`",
            ],
            False,
            [
                "GRANT SELECT ON `mysql`.* TO 'm'@'%'",
                "GRANT SELECT ON `d`.* TO 'm'@'%' WITH GRANT OPTION",
            ],
        ),
    ],
)
def test_the_masters_authority(master: list[str], creates: bool, statements: list[str]) -> None:
    want = grants("GRANT PROCESS ON *.* TO `app`@`%`", "GRANT SELECT ON `d`.* TO `app`@`%`")
    found = mysql_authority.missing_authority(master, MASTER, [want], quote=quote, creates=creates)
    assert [lack.statement for lack in found] == statements


def test_the_masters_authority_over_roles_proxies_and_default_roles() -> None:
    want = grants(
        "GRANT `r1`, `r2` TO `app`@`%`",
        "GRANT PROXY ON `p`@`%` TO `app`@`%`",
        "SET DEFAULT ROLE `r1` FOR `app`@`%`",
    )
    rows = [READS, "GRANT `r2` TO `m`@`%` WITH ADMIN OPTION"]
    found = mysql_authority.missing_authority(rows, MASTER, [want], quote=quote, default_roles=True)
    assert [lack.statement for lack in found] == [
        "GRANT `r1` TO 'm'@'%' WITH ADMIN OPTION",
        "GRANT PROXY ON 'p'@'%' TO 'm'@'%' WITH GRANT OPTION",
        "GRANT UPDATE ON `mysql`.* TO 'm'@'%'",
    ]
    assert found[0].what == "ADMIN OPTION on role `r1`"
    everything = [
        "GRANT ALL PRIVILEGES ON *.* TO `m`@`%` WITH GRANT OPTION",
        "GRANT `r1` TO `m`@`%` WITH ADMIN OPTION",
        "GRANT `r2` TO `m`@`%` WITH ADMIN OPTION",
        "GRANT PROXY ON ''@'%' TO 'm'@'%' WITH GRANT OPTION",
    ]
    assert mysql_authority.missing_authority(everything, MASTER, [want], quote=quote) == []


@pytest.mark.parametrize(
    ("outer", "inner", "covered"),
    [
        (Target("", None, None), Target("PROCEDURE", "d", "p"), True),
        (Target("", "d", None), Target("", "d", "t"), True),
        (Target("", "app\\_%", None), Target("", "app_orders", "t"), True),
        (Target("", "app\\_%", None), Target("", "appXorders", None), False),
        (Target("", "d", "t"), Target("", "d", None), False),
        (Target("", "d", None), Target("", None, None), False),
        (Target("", "d", "t"), Target("FUNCTION", "d", "t"), False),
    ],
)
def test_what_a_privilege_covers(outer: Target, inner: Target, covered: bool) -> None:
    assert mysql_grants.covers(outer, inner) is covered


@pytest.mark.parametrize(
    ("text", "flavour", "version", "length", "alter_user", "roles"),
    [
        ("5.6.51-log", Flavour.MYSQL, (5, 6, 51), 16, False, False),
        ("5.7.5-m15", Flavour.MYSQL, (5, 7, 5), 16, False, False),
        ("5.7.44", Flavour.MYSQL, (5, 7, 44), 32, True, False),
        ("8.0.36-0ubuntu0.22.04.1", Flavour.MYSQL, (8, 0, 36), 32, True, True),
        ("9.1.0", Flavour.MYSQL, (9, 1, 0), 32, True, True),
        ("5.5.30-MariaDB", Flavour.MARIADB, (5, 5, 30), 16, False, False),
        ("10.1.48-MariaDB-0+deb9u2", Flavour.MARIADB, (10, 1, 48), 80, False, True),
        ("10.2.0-MariaDB", Flavour.MARIADB, (10, 2, 0), 80, True, True),
        ("5.5.5-10.5.23-MariaDB", Flavour.MARIADB, (10, 5, 23), 80, True, True),
        ("10.11.6-MariaDB-0+deb12u1", Flavour.MARIADB, (10, 11, 6), 128, True, True),
        ("11.4.2-MariaDB-log", Flavour.MARIADB, (11, 4, 2), 128, True, True),
    ],
)
def test_server_versions(
    text: str,
    flavour: Flavour,
    version: tuple[int, int, int],
    length: int,
    alter_user: bool,
    roles: bool,
) -> None:
    server = ServerVersion.parse(text)
    assert (server.flavour, server.version) == (flavour, version)
    assert server.max_user_name_length == length
    assert server.has_alter_user is alter_user
    assert server.has_roles is roles
    assert server.has_replace_clause is (flavour is Flavour.MYSQL and version >= (8, 0, 13))


def test_accounts_without_a_password_plugin_are_refused() -> None:
    with pytest.raises(errors.FunctionFailed, match="plugin 'unix_socket'"):
        mysql_verifiers.identified(MARIADB, "unix_socket", APP)


@pytest.mark.parametrize(
    ("secret", "endpoint"),
    [
        ({"Endpoint": "DB.Example.com."}, Endpoint(host="db.example.com", port=3306)),
        ({"Endpoint": "db", "Port": 3307}, Endpoint(host="db", port=3307)),
        ({"Endpoint": "db", "Port": "3307"}, Endpoint(host="db", port=3307)),
        ({"Endpoint": "db:3307"}, Endpoint(host="db", port=3307)),
        ({"Endpoint": "[::1]:3307", "Port": 3307}, Endpoint(host="::1", port=3307)),
        ({"Endpoint": "fe80::1"}, Endpoint(host="fe80::1", port=3306)),
    ],
)
def test_endpoints(secret: dict[str, Any], endpoint: Endpoint) -> None:
    assert Endpoint.of(secret, "x", default_port=3306) == endpoint


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ({"Endpoint": ""}, "'Endpoint' must be a host name"),
        ({"Endpoint": "db", "Port": 0}, "'Port' must be a port number"),
        ({"Endpoint": "db", "Port": True}, "'Port' must be a port number"),
        ({"Endpoint": "db:3307", "Port": 3306}, "names port 3307 but 'Port' is 3306"),
    ],
)
def test_bad_endpoints(secret: dict[str, Any], problem: str) -> None:
    with pytest.raises(errors.InvalidParameter, match=problem):
        Endpoint.of(secret, "x", default_port=3306)


def test_tls_settings() -> None:
    assert TlsSettings.of({}).allow_plaintext_fallback
    assert not TlsSettings.of({"AllowPlaintextFallback": "False"}).allow_plaintext_fallback
    with pytest.raises(errors.InvalidParameter, match="both ClientCertificate and ClientKey"):
        TlsSettings.of({"ClientCertificate": "/c.pem"})
    with pytest.raises(errors.InvalidParameter, match="AllowPlaintextFallback"):
        TlsSettings.of({"AllowPlaintextFallback": "maybe"})


def test_privilege_sql_groups_columns() -> None:
    privileges = [Privilege("SELECT", "a"), Privilege("SELECT", "b`c"), Privilege("INSERT")]
    assert mysql_grants.privilege_sql(privileges) == "SELECT (`a`, `b``c`), INSERT"
