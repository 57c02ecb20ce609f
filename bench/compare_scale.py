"""Scale for bench/compare.py: a fresh SQLite ``rotor serve`` read with 100 secrets and
then with ``--scale`` (100,000; written through the store functions from this process while it runs):
the bearer read's p50 under wrk, and the time of one list page of 100 (``GET
/v1/secrets?page_size=100``, the median of 20 on one keep-alive connection)."""

from __future__ import annotations

import argparse
import http.client
import statistics
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from compare_peers import stop
from compare_report import to_ms
from read_path import request, run_wrk, start_server

from rotor.settings import Settings
from rotor.store import secrets
from rotor.store.database import Store

SMALL = 100


def list_page_ms(url: str, token: str) -> float:
    split = urlsplit(url)
    conn = http.client.HTTPConnection(split.hostname or "", split.port)
    times = []
    for _ in range(21):
        began = time.perf_counter()
        conn.request(
            "GET", "/v1/secrets?page_size=100", headers={"Authorization": f"Bearer {token}"}
        )
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"list page: HTTP {response.status}")
        times.append(time.perf_counter() - began)
    conn.close()
    return statistics.median(times[1:]) * 1e3


def scale_figures(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Read p50 and list page time with SMALL secrets and with ``args.scale``."""
    data_dir = work / "scale"
    out: dict[str, Any] = {}
    with ExitStack() as stack:
        process, url, token = start_server(data_dir, args.workers)
        stack.callback(stop, process)
        request(url, token, "POST", "/v1/secrets", {"name": "bench/db", "value": "x" * 64})
        store = Store.open(Settings.load({"data_dir": data_dir, "database_url": ""}, environ={}))
        stack.callback(store.close)
        have = 1
        for size in (SMALL, args.scale):
            began = time.monotonic()
            for i in range(have, size):
                secrets.create_secret(store, name=f"scale/s{i:06d}", value="x" * 64)
            seeded = time.monotonic() - began
            have = size
            run = run_wrk(
                url, token, "/v1/secrets/bench/db:value", args.connections, args.seconds, []
            )
            out[str(size)] = {
                "read_p50_ms": to_ms(run.p50),
                "read_rps": run.rate,
                "list_page_ms": list_page_ms(url, token),
                "seed_seconds": seeded,
            }
    return out
