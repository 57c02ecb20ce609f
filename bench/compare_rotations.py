"""Rotations for bench/compare.py, through the running servers' HTTP APIs.

- ``mysql-single-user`` at 1 and 8 clients: each client rotates its own account's secret
  back to back, ``POST /v1/secrets/NAME:rotate`` (rotate now) then ``GET
  /v1/rotations/ID`` every 5 ms until it has finished; the rate is the clients', the
  p50 the server's own time (the rotation's ``finished_at - created_at``). Against
  OpenBao's database secrets engine (``bao server -dev`` has the MySQL plugin built in)
  rotating a static role each, ``POST /v1/database/rotate-role/NAME``, on the same
  throwaway MariaDB (tests/services/mariadb.py).
- ``mysql-alternating`` at 1 client, its server time against the floor of its SQL run
  directly: a new connection as the master, ``ALTER USER``, and a login as the account
  (its set and test steps); ``ALTER USER`` alone on an open connection is printed too.
- the burst: N ``generated-password`` rotations due at once, seeded through the store
  functions, made due by one UPDATE, and run by ``rotor serve``'s own scheduler; the
  rate until the last finishes, and the bearer read's p99 (wrk) idle and during it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compare_burst import burst
from compare_peers import call
from tests.services.mariadb import run_mariadb_server

#: (name, url, bearer token) of each rotor under test.
Rotor = tuple[str, str, str]
CLIENTS = (1, 8)
POLL_SECONDS = 0.005


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def parse(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp)


def rotate_once(url: str, token: str, name: str) -> float:
    """Rotate ``name`` now and wait until it has finished; the server's seconds for it."""
    started = call(f"{url}/v1/secrets/{name}:rotate", {}, bearer(token))
    while True:
        rotation = call(f"{url}/v1/rotations/{started['id']}", None, bearer(token), "GET")
        if rotation["status"] != "running":
            break
        time.sleep(POLL_SECONDS)
    if rotation["status"] != "succeeded":
        raise SystemExit(f"rotation of {name}: {rotation['status']}: {rotation['error']}")
    return (parse(rotation["finished_at"]) - parse(rotation["created_at"])).total_seconds()


def rotating(url: str, token: str, names: list[str]) -> Callable[[int], float]:
    """Client i's rotation: of its own secret, names[i]."""
    return lambda i: rotate_once(url, token, names[i])


def clients(work: Callable[[int], float], count: int, seconds: float) -> dict[str, float]:
    """``count`` threads calling ``work(i)`` back to back for ``seconds``: the rate and the
    p50 of what ``work`` answered (its seconds)."""
    times: list[float] = []
    deadline = time.monotonic() + seconds

    def loop(i: int) -> None:
        while time.monotonic() < deadline:
            times.append(work(i))

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(count)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    return {"rate": len(times) / elapsed, "p50_ms": statistics.median(times) * 1e3}


def mysql_secret(server: Any, account: str, password: str, master: str | None) -> str:
    value = {"Endpoint": server.host, "Port": server.port}
    value |= {"AccountName": account, "AccountPassword": password}
    if master is not None:
        value["MasterSecret"] = master
    return json.dumps(value)


def rotor_accounts(rotor: Rotor, server: Any, function: str, count: int) -> list[str]:
    """``count`` accounts on ``server`` and their secrets on ``rotor``, ready to rotate."""
    name, url, token = rotor
    master = f"bench/{name}-master"
    if function == "mysql-alternating":
        value = mysql_secret(server, server.user, server.password, None)
        call(f"{url}/v1/secrets", {"name": master, "value": value}, bearer(token))
    names = []
    for i in range(count):
        account = f"{name.replace('-', '')}{function[6]}{i}"
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY 'Initial-pass-1'", (account,))
        secret = f"bench/{function}-{i}"
        value = mysql_secret(
            server, account, "Initial-pass-1", master if function == "mysql-alternating" else None
        )
        call(f"{url}/v1/secrets", {"name": secret, "value": value}, bearer(token))
        body = {"function": function, "every": "30d", "rotate_now": False}
        call(f"{url}/v1/secrets/{secret}:rotation", body, bearer(token), "PUT")
        names.append(secret)
    return names


def bao_roles(url: str, token: str, server: Any, count: int) -> list[str]:
    """OpenBao's database engine on ``server``, with ``count`` static roles of new accounts."""
    headers = {"X-Vault-Token": token}
    call(f"{url}/v1/sys/mounts/database", {"type": "database"}, headers)
    connection = {
        "plugin_name": "mysql-database-plugin",
        "connection_url": f"{{{{username}}}}:{{{{password}}}}@tcp({server.host}:{server.port})/",
        "username": server.user,
        "password": server.password,
        "allowed_roles": "*",
    }
    call(f"{url}/v1/database/config/mariadb", connection, headers)
    roles = []
    for i in range(count):
        account = f"bao{i}"
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY 'Initial-pass-1'", (account,))
        role = {"db_name": "mariadb", "username": account, "rotation_period": "24h"}
        call(f"{url}/v1/database/static-roles/{account}", role, headers)
        roles.append(account)
    return roles


def sql_floor(server: Any, rounds: int) -> dict[str, float]:
    """ALTER USER on an open connection; and a new connection as the admin, ALTER USER,
    and a login as the account (what mysql-alternating does in SQL), in ms (medians)."""
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER 'floor'@'%' IDENTIFIED BY 'Initial-pass-1'")
    open_times, whole = [], []
    with server.connect() as conn, conn.cursor() as cur:
        for _ in range(rounds):
            began = time.perf_counter()
            cur.execute("ALTER USER 'floor'@'%' IDENTIFIED BY 'Initial-pass-1'")
            open_times.append(time.perf_counter() - began)
    for _ in range(rounds):
        began = time.perf_counter()
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("ALTER USER 'floor'@'%' IDENTIFIED BY 'Initial-pass-1'")
        with server.connect("floor", "Initial-pass-1") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
        whole.append(time.perf_counter() - began)
    return {
        "alter_open_ms": statistics.median(open_times) * 1e3,
        "new_connections_ms": statistics.median(whole) * 1e3,
    }


def rotation_figures(
    rotors: list[Rotor], bao: tuple[str, str], work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Every rotation figure, by rotor (its name) and OpenBao."""
    seconds = args.seconds
    out: dict[str, Any] = {"single_user": {}, "alternating": {}, "burst": {}}
    with run_mariadb_server("bench") as server:
        bao_url, bao_token = bao
        roles = bao_roles(bao_url, bao_token, server, max(CLIENTS))
        headers = {"X-Vault-Token": bao_token}

        def bao_rotate(i: int) -> float:
            began = time.perf_counter()
            call(f"{bao_url}/v1/database/rotate-role/{roles[i]}", {}, headers)
            return time.perf_counter() - began

        out["single_user"]["OpenBao"] = {n: clients(bao_rotate, n, seconds) for n in CLIENTS}
        out["floor"] = sql_floor(server, 20 if args.smoke else 200)
        for rotor in rotors:
            name, url, token = rotor
            single = rotor_accounts(rotor, server, "mysql-single-user", max(CLIENTS))
            alternating = rotor_accounts(rotor, server, "mysql-alternating", 1)
            out["single_user"][name] = {
                n: clients(rotating(url, token, single), n, seconds) for n in CLIENTS
            }
            out["alternating"][name] = clients(rotating(url, token, alternating), 1, seconds)
    for rotor in rotors:
        out["burst"][rotor[0]] = burst(rotor, work, args)
    return out
