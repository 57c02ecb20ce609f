"""What a SecretCache read costs: a hit (memory) against a cold read (the server).

Starts a server on a fresh data dir (SQLite unless ROTOR_DATABASE_URL is set), or uses
``--url`` with the access key from ROTOR_ACCESS_KEY_ID/_SECRET (or ROTOR_DATA_DIR); creates
one secret, then times ``SecretCache.get_value`` one call at a time: ``--hits`` hits, and
``--cold`` cold reads (the entry invalidated before each, so each one fetches), plus the
same hits from ``--threads`` threads at once; then ``SecretCache.get_json`` hits of a
database secret (six fields, as the rotation functions write them), each a new dict. Per-call times include the timer's own cost
(printed first); the mean of a batch (the best of five) does not.

    .venv/bin/python bench/client_cache.py [--hits 100000] [--cold 500] [--threads 4] [--url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from rotor import errors
from rotor.client import Client
from rotor.client.cache import SecretCache

DATABASE_SECRET = {
    "Endpoint": "db.internal",
    "Port": 3306,
    "DBName": "orders",
    "AccountName": "app",
    "AccountPassword": "x" * 32,
    "SSL": True,
}
"""What a get_json hit decodes: a secret in the format the rotation functions use."""


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], Client]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ROTOR_") or k == "ROTOR_DATABASE_URL"
    }
    command = [sys.executable, "-m", "rotor", "serve", "--data-dir", str(data_dir), "--port", "0"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            json.loads((data_dir / "server.json").read_text())
            json.loads((data_dir / "admin-credentials.json").read_text())
        except (OSError, ValueError):
            time.sleep(0.1)
            continue
        client = Client(data_dir=data_dir, environ={})
        try:
            client.healthz()
        except errors.ServerUnreachable:
            client.close()
            time.sleep(0.1)
            continue
        return process, client
    process.kill()
    raise SystemExit("rotor serve did not come up")


def per_call(function: Callable[[], object], count: int) -> list[int]:
    """Nanoseconds of each of ``count`` calls."""
    clock = time.perf_counter_ns
    times = []
    for _ in range(count):
        start = clock()
        function()
        times.append(clock() - start)
    return times


def batch_ns(function: Callable[[], object], count: int, rounds: int = 5) -> float:
    """Mean nanoseconds per call, of the best of ``rounds`` batches of ``count // rounds`` calls
    (as timeit does: a slower batch was disturbed by something else)."""
    size = max(1, count // rounds)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(size):
            function()
        best = min(best, (time.perf_counter_ns() - start) / size)
    return best


def fmt(ns: float) -> str:
    if ns < 10_000:
        return f"{ns:,.0f} ns"
    if ns < 10_000_000:
        return f"{ns / 1000:,.1f} µs"
    return f"{ns / 1e6:,.1f} ms"


def row(label: str, times: list[int]) -> str:
    ordered = sorted(times)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{label:<28} {len(times):>8,}  {fmt(statistics.fmean(times)):>10}  "
        f"{fmt(p50):>10}  {fmt(p99):>10}  {fmt(ordered[-1]):>10}"
    )


def threaded_hits(cache: SecretCache, name: str, threads: int, count: int) -> float:
    """Hits per second of ``threads`` threads reading ``count`` times each."""
    barrier = threading.Barrier(threads + 1)

    def read() -> None:
        barrier.wait()
        for _ in range(count):
            cache.get_value(name)

    workers = [threading.Thread(target=read) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return threads * count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hits", type=int, default=100_000)
    parser.add_argument("--cold", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--url", help="a running server (default: start one)")
    args = parser.parse_args()

    process = None
    data_dir = None
    if args.url:
        client = Client(args.url)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="rotor-bench-")) / "data"
        process, client = start_server(data_dir)
    name = f"bench/cache-{uuid.uuid4().hex[:8]}"
    json_name = f"{name}-json"
    try:
        client.create_secret(name, value="x" * 64)
        client.create_secret(json_name, value=json.dumps(DATABASE_SECRET))
        cache = SecretCache(client)
        cache.get_value(name)
        print(
            f"SecretCache.get_value of a 64-byte secret at {client.url}, "
            f"Python {sys.version.split()[0]}, {os.cpu_count()} cores"
        )
        print(f"{'':<28} {'calls':>8}  {'mean':>10}  {'p50':>10}  {'p99':>10}  {'max':>10}")
        print(row("timer alone", per_call(lambda: None, args.hits)))
        print(row("hit", per_call(lambda: cache.get_value(name), args.hits)))
        batch = batch_ns(lambda: cache.get_value(name), args.hits)
        print(f"hit, mean of the best batch: {fmt(batch)}")

        def cold() -> object:
            cache.invalidate(name)
            return cache.get_value(name)

        print(row("cold read (fetch)", per_call(cold, args.cold)))
        print(
            row("Client.get_value (no cache)", per_call(lambda: client.get_value(name), args.cold))
        )
        rate = threaded_hits(cache, name, args.threads, args.hits // args.threads)
        print(f"hits/s from {args.threads} threads:         {rate:,.0f}")
        cache.get_json(json_name)
        print(row("get_json hit", per_call(lambda: cache.get_json(json_name), args.hits)))
        batch = batch_ns(lambda: cache.get_json(json_name), args.hits)
        print(f"get_json hit, mean of the best batch: {fmt(batch)}")
        client.delete_secret(name, force=True)
        client.delete_secret(json_name, force=True)
    finally:
        client.close()
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        if data_dir is not None:
            shutil.rmtree(data_dir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
