"""``scripts/try-mariadb``: a MariaDB to try rotation with, and the secrets to rotate it."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pymysql
import pytest

SCRIPT = Path(__file__).parents[3] / "scripts" / "try-mariadb"
#: Generous: it may install MariaDB first; the script itself polls for readiness.
DEADLINE_SECONDS = 300


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


def _login(secret: dict[str, Any], database: str | None = None) -> str:
    with (
        pymysql.connect(
            host=secret["Endpoint"],
            port=secret["Port"],
            user=secret["AccountName"],
            password=secret["AccountPassword"],
            database=database,
            ssl_disabled=True,
            connect_timeout=5,
        ) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute("SELECT CURRENT_USER()")
        row = cursor.fetchone()
        assert row is not None
        return str(row[0])


def test_it_starts_a_server_with_the_documented_accounts_and_stops_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "rotor-data"
    try:
        printed = _run("--data-dir", str(data_dir))
        master, app = (json.loads(line) for line in printed.splitlines() if line.startswith("{"))
        assert _login(master) == "rotor_master@%"
        assert _login(app, database=app["DBName"]) == "app@%"
        assert app["MasterSecret"] == "try/mariadb-master"
        assert app["SSL"] is False
        assert master["SSL"] is False
        assert len(master["AccountPassword"]) == 32
        assert master["AccountPassword"] != app["AccountPassword"]
        for name in ("master-secret.json", "app-secret.json"):
            mode = (data_dir / "try-mariadb" / name).stat().st_mode
            assert stat.S_IMODE(mode) == 0o600
        assert json.loads((data_dir / "try-mariadb" / "app-secret.json").read_text()) == app
        assert f"stop --data-dir {data_dir}" in printed
        # Run again while it runs: the same server and secrets.
        assert _run("--data-dir", str(data_dir)) == printed
    finally:
        _run("stop", "--data-dir", str(data_dir))
    assert not (data_dir / "try-mariadb").exists()
    with pytest.raises(pymysql.err.OperationalError):
        _login(master)
