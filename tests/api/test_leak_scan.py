"""The session-end scan for secret values in logs and the audit trail can find a leak."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.services.server import secret_values_leaked, start_server, stop_server


def test_the_leak_scan_finds_a_value_written_to_the_log(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        auth = {"Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}"}
        value = json.dumps({"AccountName": "app", "AccountPassword": "leak-canary-7f3a9c2e1b"})
        with httpx.Client(base_url=server.url, headers=auth) as http:
            assert (
                http.post("/v1/secrets", json={"name": "scan/me", "value": value}).status_code
                == 201
            )
            assert http.get("/v1/secrets/scan/me:value").status_code == 200
    finally:
        stop_server(server)
    assert secret_values_leaked(server) == []
    with server.log_path.open("a") as log:
        log.write("oops: leak-canary-7f3a9c2e1b\n")
    assert secret_values_leaked(server) == ["server log"]
