"""Repeated authentication failures from one source are slowed down; a good key is not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.services.server import RunningServer, start_server, stop_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "data", env={"ROTOR_AUTH_FAILURE_MAX_DELAY_SECONDS": "1"})
    yield running
    stop_server(running)


def test_failures_slow_down_but_the_legitimate_key_does_not(server: RunningServer) -> None:
    good = {"Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}"}
    bad = {"Authorization": f"Bearer {server.access_key_id}.wrong-secret"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        timings = []
        for _ in range(10):
            started = time.monotonic()
            assert http.get("/v1/secrets", headers=bad).status_code == 401
            timings.append(time.monotonic() - started)
        # The first failures answer at once; later ones wait (doubling up to the cap).
        assert max(timings[:4]) < 0.5
        assert timings[-1] >= 0.8
        started = time.monotonic()
        assert http.get("/v1/secrets", headers=good).status_code == 200
        assert time.monotonic() - started < 0.5
