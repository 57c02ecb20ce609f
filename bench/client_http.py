"""What ``Client.get_value`` costs over HTTP, next to a bare ``http.client`` request.

Starts a server on a fresh data dir (as bench/client_cache.py does; SQLite unless
ROTOR_DATABASE_URL is set), creates one 64-byte secret, then, in ``--rounds``
interleaved rounds, times ``--calls`` reads of it each way, one at a time on one
keep-alive connection: ``Client.get_value`` (bearer key) and an ``http.client``
GET of the same URL with the same ``Authorization`` header, whose JSON body is
decoded and nothing more, and a plain ``httpx.Client.get`` (what an httpx.Client adds: the
client sends through its httpx transport without one). Prints the best round's mean per call, wall and this process's CPU, and the ratios;
the difference is the client's own work. ``--profile`` prints a cProfile of the
client's calls instead.

    .venv/bin/python bench/client_http.py [--calls 500] [--rounds 7] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import pstats
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from client_cache import start_server

from rotor.client import Client


def mean_us(function: Callable[[], object], calls: int) -> tuple[float, float]:
    """Wall and this process's CPU µs per call (the server runs in another process)."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        function()
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    return wall / calls * 1e6, used / calls * 1e6


class BareReader:
    """A read of a secret as a bare ``http.client`` GET on one kept-alive connection, with
    a client's bearer key, its JSON body decoded and nothing more."""

    def __init__(self, client: Client, url: str, name: str) -> None:
        credentials = client.config.credentials
        assert credentials is not None
        split = urlsplit(url)
        self.connection = http.client.HTTPConnection(split.hostname or "", split.port)
        self.path = f"/v1/secrets/{name}:value"
        self.headers = {"Authorization": credentials.authorization, "Accept": "application/json"}

    def get(self) -> object:
        self.connection.request("GET", self.path, headers=self.headers)
        response = self.connection.getresponse()
        body = json.loads(response.read())
        if response.status != 200:
            raise SystemExit(f"bare GET {self.path}: HTTP {response.status}")
        return body


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="rotor-bench-")) / "data"
    process, client = start_server(data_dir)
    name = f"bench/http-{uuid.uuid4().hex[:8]}"
    try:
        client.create_secret(name, value="x" * 64)
        bare = BareReader(client, client.url, name)
        path, headers = bare.path, bare.headers
        plain = httpx.Client(base_url=client.url, headers=headers)

        def httpx_get() -> object:
            response = plain.get(path)
            response.raise_for_status()
            return response.json()

        def client_get() -> object:
            return client.get_value(name)

        contenders = {
            "Client.get_value": client_get,
            "httpx.Client.get": httpx_get,
            "http.client": bare.get,
        }
        for function in contenders.values():
            function()
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(lambda: [client_get() for _ in range(args.calls)])
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
            return
        wall = dict.fromkeys(contenders, float("inf"))
        cpu = dict.fromkeys(contenders, float("inf"))
        for _ in range(args.rounds):
            for label, function in contenders.items():
                bare.connection.close()  # the server closes idle keep-alive connections after 5 s
                function()
                round_wall, round_cpu = mean_us(function, args.calls)
                wall[label] = min(wall[label], round_wall)
                cpu[label] = min(cpu[label], round_cpu)
        bare.connection.close()
        plain.close()
        load = os.getloadavg()[0]
        print(
            f"GET a 64-byte secret at {client.url}, keep-alive, Python "
            f"{sys.version.split()[0]}, {os.cpu_count()} cores, load {load:.1f}; "
            f"best of {args.rounds} rounds of {args.calls}"
        )
        print(f"{'':<18} {'wall µs':>8} {'ratio':>6}  {'client CPU µs':>13} {'ratio':>6}")
        for label in contenders:
            print(
                f"{label:<18} {wall[label]:>8.0f} {wall[label] / wall['http.client']:>5.2f}x"
                f"  {cpu[label]:>13.0f} {cpu[label] / cpu['http.client']:>5.2f}x"
            )
        print("target: Client.get_value wall ≤ 1.3x http.client")
        client.delete_secret(name, force=True)
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        shutil.rmtree(data_dir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
