"""Authenticated secret reads per second through a real `rotor serve`.

Starts a server on a fresh data dir (SQLite unless ROTOR_DATABASE_URL is set),
creates one secret, then drives `GET /v1/secrets/NAME:value` with wrk
(`apt-get install wrk`) at each concurrency, and prints reads/s, latency and the
server's CPU time per read (all its processes: with `--workers N`, the supervisor
and its N workers). CPU per read is the figure to compare on a busy machine, where
reads/s depend on what else runs.

    .venv/bin/python bench/read_path.py [--seconds 10] [--connections 1,16,64] [--workers 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path


def server_env(database_url: str | None = None) -> dict[str, str]:
    """This environment without ROTOR_* but the database (``database_url`` if given)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ROTOR_") or k == "ROTOR_DATABASE_URL"
    }
    if database_url is not None:
        env["ROTOR_DATABASE_URL"] = database_url
    return env


def start_server(
    data_dir: Path, workers: int, database_url: str | None = None
) -> tuple[subprocess.Popen[bytes], str, str]:
    """``rotor serve`` on a free port, on ``data_dir`` (and ``database_url`` if given):
    the process, its URL and the admin's key as a bearer token."""
    env = server_env(database_url)
    command = [sys.executable, "-m", "rotor", "serve", "--data-dir", str(data_dir), "--port", "0"]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            url = json.loads((data_dir / "server.json").read_text())["url"]
            creds = json.loads((data_dir / "admin-credentials.json").read_text())
            urllib.request.urlopen(url + "/healthz", timeout=1).read()  # noqa: S310
            token = f"{creds['access_key_id']}.{creds['access_key_secret']}"
            return process, url, token
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    process.kill()
    raise SystemExit("rotor serve did not come up")


def request(url: str, token: str, method: str, path: str, body: dict[str, object]) -> None:
    req = urllib.request.Request(  # noqa: S310
        url + path,
        method=method,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).read()  # noqa: S310


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of ``pid`` and its live descendants (Linux /proc)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue  # gone meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pending += [int(child) for child in children]
    return total


@dataclasses.dataclass(frozen=True, kw_only=True)
class Wrk:
    """One wrk run: requests/s, wrk's p50 and p99 (``1.25ms``), requests completed, how
    many of them were not 2xx, and wrk's whole output (a script's lines too)."""

    rate: float
    p50: str
    p99: str
    requests: int
    failures: int
    out: str


def run_wrk(
    url: str,
    token: str,
    path: str,
    connections: int,
    seconds: int,
    extra: Sequence[str],
    *,
    fatal: bool = True,
    script_args: Sequence[str] = (),
) -> Wrk:
    """One wrk run; a non-2xx answer ends the benchmark unless ``fatal`` is false (then
    it is counted). ``script_args`` go to a ``-s`` script's ``init``."""
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s"]
    command += ["--latency", "-H", f"Authorization: Bearer {token}", *extra, url + path]
    out = subprocess.run(
        [*command, "--", *script_args] if script_args else command,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if failed and fatal:
        raise SystemExit(f"failed requests:\n{out}")

    def find(pattern: str, text: str = out) -> str:
        found = re.search(pattern, text, re.M)
        assert found is not None, out
        return found.group(1)

    latency = out.split("Latency Distribution", 1)[1]
    return Wrk(
        rate=float(find(r"Requests/sec:\s+([\d.]+)")),
        p50=find(r"^\s*50%\s+(\S+)", latency),
        p99=find(r"^\s*99%\s+(\S+)", latency),
        requests=int(find(r"(\d+) requests in")),
        failures=int(failed.group(1)) if failed else 0,
        out=out,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    data_dir = Path(tempfile.mkdtemp(prefix="rotor-bench-")) / "data"
    process, url, token = start_server(data_dir, args.workers)
    try:
        request(url, token, "POST", "/v1/secrets", {"name": "bench/db", "value": "x" * 64})
        path = "/v1/secrets/bench/db:value"
        print(
            f"rotor read path: GET {path}, bearer auth, {args.seconds}s per run, "
            f"{args.workers} worker(s), {os.cpu_count()} cores"
        )
        print(f"{'connections':>11}  {'reads/s':>9}  {'p50':>8}  {'p99':>8}  {'CPU/read':>9}")
        for connections in (int(c) for c in args.connections.split(",")):
            cpu_before = cpu_seconds(process.pid)
            run = run_wrk(url, token, path, connections, args.seconds, [])
            cpu_per_read = (cpu_seconds(process.pid) - cpu_before) / run.requests
            print(
                f"{connections:>11}  {run.rate:>9.0f}  {run.p50:>8}  {run.p99:>8}  "
                f"{cpu_per_read * 1e6:>6.0f} µs"
            )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        shutil.rmtree(data_dir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
