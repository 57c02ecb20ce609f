"""Writes (a new version, Current moved) through a real `rotor serve`, with reads beside.

Starts a server on a fresh data dir (SQLite unless ROTOR_DATABASE_URL is set), creates
one secret, then drives `POST /v1/secrets/NAME:versions` (a new value each time, so a
new version that takes Current) and `GET /v1/secrets/NAME:value` with wrk
(`apt-get install wrk`), and prints for each: requests/s, p50, p99 and the server
process's CPU time per request (utime + stime from /proc, over every request of the
run). On a machine busy with other work the rates are noise; the CPU per request is not.

The durability settings are printed too: rotor's SQLite runs WAL with
``synchronous = NORMAL``; on PostgreSQL, what the server says for ``fsync`` and
``synchronous_commit`` (rotor sets neither).

    .venv/bin/python bench/write_path.py [--seconds 10] [--connections 1,16]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import tempfile
from pathlib import Path

import sqlalchemy as sa
from read_path import cpu_seconds, request, run_wrk, start_server

_WRITE_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"value": "%s"}'
"""


def durability(url: str | None = None) -> str:
    """The store's durability settings (``url``'s, else ROTOR_DATABASE_URL's, else SQLite's)."""
    url = url or os.environ.get("ROTOR_DATABASE_URL")
    if not url:
        return "SQLite, journal_mode = WAL, synchronous = NORMAL"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        fsync = conn.exec_driver_sql("SHOW fsync").scalar()
        commit = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
    engine.dispose()
    return f"PostgreSQL, fsync = {fsync}, synchronous_commit = {commit}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", default="1,16")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="rotor-bench-"))
    script = work / "write.lua"
    script.write_text(_WRITE_SCRIPT % ("x" * 64))
    process, url, token = start_server(work / "data", 1)
    try:
        name = f"bench/w-{secrets.token_hex(4)}"  # a store reused between runs keeps its own
        request(url, token, "POST", "/v1/secrets", {"name": name, "value": "x" * 64})
        print(f"rotor write path: {durability()}; {args.seconds}s per run, {os.cpu_count()} cores")
        print(f"{'path':>5}  {'conns':>5}  {'req/s':>7}  {'p50':>8}  {'p99':>8}  {'CPU/req':>9}")
        for connections in (int(c) for c in args.connections.split(",")):
            for label, path, extra in (
                ("write", f"/v1/secrets/{name}:versions", ["-s", str(script)]),
                ("read", f"/v1/secrets/{name}:value", []),
            ):
                before = cpu_seconds(process.pid)
                run = run_wrk(url, token, path, connections, args.seconds, extra)
                per = (cpu_seconds(process.pid) - before) / run.requests * 1e6
                print(
                    f"{label:>5}  {connections:>5}  {run.rate:>7.0f}  {run.p50:>8}  {run.p99:>8}"
                    f"  {per:>6.0f} µs"
                )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
