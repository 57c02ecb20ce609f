"""``scripts/try-postgres``: a PostgreSQL to try rotation with, and the secrets to rotate it."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

SCRIPT = Path(__file__).parents[3] / "scripts" / "try-postgres"
#: Generous: it may install PostgreSQL first; the script itself polls for readiness.
DEADLINE_SECONDS = 300
FILES = ("master-secret.json", "app-secret.json", "single-user-secret.json")


def _run(*args: str) -> str:
    done = subprocess.run(
        [str(SCRIPT), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _connect(secret: dict[str, Any], database: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=secret["Endpoint"],
        port=secret["Port"],
        user=secret["AccountName"],
        password=secret["AccountPassword"],
        dbname=secret.get("DBName", database),
        sslmode="disable",
        connect_timeout=5,
        autocommit=True,
    )


def _one(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def test_it_starts_a_server_with_the_documented_roles_and_stops_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "rotor-data"
    try:
        printed = _run("--data-dir", str(data_dir))
        master, app, single = (
            json.loads(line) for line in printed.splitlines() if line.startswith("{")
        )
        # The master of docs/how-to/postgres.md: CREATEROLE, no superuser, CONNECT on the
        # application's database with the grant option (app's one direct privilege).
        with _connect(master, database=app["DBName"]) as conn:
            assert _one(conn, "SELECT session_user") == "rotor_master"
            assert _one(
                conn,
                "SELECT rolcreaterole, rolsuper FROM pg_roles WHERE rolname = session_user",
            ) == (True, False)
            assert _one(conn, "SELECT has_database_privilege('shop', 'CONNECT WITH GRANT OPTION')")
            assert _one(conn, "SELECT has_database_privilege('public', 'shop', 'CONNECT')") is False
        # The application role acts as the group that owns its schema.
        with _connect(app) as conn:
            assert _one(conn, "SELECT session_user, current_user") == ("shop", "app_owner")
            assert (
                _one(
                    conn, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'shop'"
                )
                == "app_owner"
            )
            assert _one(conn, "SHOW search_path") == "shop"
        with _connect(single) as conn:
            assert _one(conn, "SELECT session_user") == "reports"
        assert app["MasterSecret"] == "try/postgres-master"
        assert "MasterSecret" not in single
        assert {master["SSL"], app["SSL"], single["SSL"]} == {False}
        passwords = {master["AccountPassword"], app["AccountPassword"], single["AccountPassword"]}
        assert len(passwords) == 3
        assert {len(password) for password in passwords} == {32}
        for name in FILES:
            mode = (data_dir / "try-postgres" / name).stat().st_mode
            assert stat.S_IMODE(mode) == 0o600
        assert json.loads((data_dir / "try-postgres" / "app-secret.json").read_text()) == app
        assert f"stop --data-dir {data_dir}" in printed
        # Run again while it runs: the same server and secrets.
        assert _run("--data-dir", str(data_dir)) == printed
    finally:
        _run("stop", "--data-dir", str(data_dir))
    assert not (data_dir / "try-postgres").exists()
    with pytest.raises(psycopg.OperationalError):
        _connect(master).close()
