"""Server CPU per read, and reads/s, for each way of signing a read, side by side.

Starts a real ``rotor serve`` on a free port with a fresh data dir (SQLite unless
ROTOR_DATABASE_URL is set), creates one secret, then reads it through each path:

- *bearer*: ``GET /v1/secrets/NAME:value`` with ``Authorization: Bearer``;
- *hmac*: the same read signed with ``ROTOR-HMAC-SHA256`` (a nonce each);
- *kms*: the KMS dialect's ``GetSecretValue``, RPC v1 signed (a nonce each);
- *aws*: the AWS dialect's ``GetSecretValue``, SigV4 signed (botocore's signer).

Every request is signed before the clock starts (each signed one with its own nonce,
so none is a replay), then ``--connections`` threads send them on kept-alive
connections. The load driver is Python in this process, so on a small machine it
competes with the server for the cores: the reads/s column is the driver's, a rough
figure. The CPU column is load-independent: the server process's own CPU time
(``utime + stime`` of ``/proc/<pid>/stat``, all its threads, background work
included) over the run, divided by the requests answered. Schemes are interleaved
over ``--rounds`` rounds; the medians are printed.

Run from the repository root (it reuses the test suite's server starter):

    .venv/bin/python -m bench.signed_reads [--requests 3000] [--connections 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from bench.read_path import cpu_seconds
from bench.signing import SCHEMES, SECRET, Request
from tests.services.server import RunningServer, start_server, stop_server


def drive(server: RunningServer, requests: list[Request], connections: int) -> float:
    """Send every request over ``connections`` kept-alive connections; the seconds taken."""
    url = urllib.parse.urlsplit(server.url)
    failures: list[str] = []

    def worker(share: list[Request]) -> None:
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        try:
            for method, target, headers, body in share:
                conn.request(method, target, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.status != 200:
                    failures.append(f"{response.status} {data[:200]!r}")
        finally:
            conn.close()

    threads = [
        threading.Thread(target=worker, args=(requests[i::connections],))
        for i in range(connections)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} failed requests, the first: {failures[0]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000, help="per scheme and round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--schemes", default=",".join(SCHEMES))
    args = parser.parse_args()
    schemes = args.schemes.split(",")
    with tempfile.TemporaryDirectory(prefix="rotor-bench-") as tmp:
        server = start_server(Path(tmp) / "data")
        try:
            with server.client() as client:
                client.create_secret(SECRET, value="x" * 64)
            cpu: dict[str, list[float]] = {s: [] for s in schemes}
            rps: dict[str, list[float]] = {s: [] for s in schemes}
            for round_ in range(args.rounds + 1):  # round 0 warms up
                for scheme in schemes:
                    count = args.requests if round_ else min(args.requests, 300)
                    batch = [SCHEMES[scheme](server, SECRET) for _ in range(count)]
                    before = cpu_seconds(server.process.pid)
                    elapsed = drive(server, batch, args.connections)
                    used = cpu_seconds(server.process.pid) - before
                    if round_:
                        cpu[scheme].append(used / count * 1e6)
                        rps[scheme].append(count / elapsed)
            print(
                f"signed reads of one secret: {args.requests} requests x {args.rounds} rounds, "
                f"{args.connections} connections, {os.cpu_count()} cores, medians"
            )
            print(f"{'scheme':<7} {'server CPU µs/req':>18} {'reads/s (driver)':>17}")
            for scheme in schemes:
                print(
                    f"{scheme:<7} {statistics.median(cpu[scheme]):>18.0f} "
                    f"{statistics.median(rps[scheme]):>17.0f}"
                )
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
