"""What the server leaves on disk: no plaintext values, private files, and a restart that
keeps everything."""

from __future__ import annotations

import base64
import json
import stat
import uuid
from pathlib import Path

import httpx
import pytest

from tests.api import support
from tests.api.support import assert_error, unique
from tests.services.server import start_server, stop_server


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _database_bytes(data_dir: Path) -> bytes:
    files = sorted(data_dir.glob("rotor.db*"))
    assert data_dir / "rotor.db" in files
    return b"".join(f.read_bytes() for f in files)


def _forms(raw: bytes) -> list[bytes]:
    """The ways a value could sit in a file without encryption."""
    return [
        raw,
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        raw.hex().encode(),
        raw.hex().upper().encode(),
        raw.decode("latin-1").encode("utf-16-le"),
    ]


def test_values_are_not_stored_in_plaintext(
    client: httpx.Client, api_server: support.ApiServer
) -> None:
    name = unique("disk/plain")
    text = f"PLAINTEXT-CANARY-{uuid.uuid4().hex}-p@ssw0rd"
    binary = b"\x00BINARY-CANARY-" + uuid.uuid4().bytes + b"\xff\xfe"
    created = client.post("/v1/secrets", json={"name": name, "value": text, "version_id": "t"})
    assert created.status_code == 201
    put = client.post(
        f"/v1/secrets/{name}:versions",
        json={"binary": base64.b64encode(binary).decode(), "version_id": "b"},
    )
    assert put.status_code == 201
    # Both are readable back, so both were written.
    by_id = f"/v1/secrets/{name}:value"
    assert client.get(by_id, params={"version_id": "t"}).json()["value"] == text
    assert base64.b64decode(client.get(by_id, params={"version_id": "b"}).json()["binary"]) == (
        binary
    )

    stored = _database_bytes(api_server.data_dir)
    # The test does look at the right files: the secret's name (not secret) is in them.
    assert name.encode() in stored
    for form in _forms(text.encode()) + _forms(binary):
        assert form not in stored
    # Nor the admin key's secret, nor the master key.
    assert api_server.access_key_secret.encode() not in stored
    for line in (api_server.data_dir / "master.key").read_text().split():
        assert line.encode() not in stored
        assert base64.b64decode(line) not in stored


def test_data_dir_files_are_private(api_server: support.ApiServer) -> None:
    data_dir = api_server.data_dir
    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / "master.key") == 0o600
    assert _mode(data_dir / "admin-credentials.json") == 0o600
    for db_file in data_dir.glob("rotor.db*"):
        assert _mode(db_file) & 0o077 == 0, db_file
    server_file = data_dir / "server.json"
    assert _mode(server_file) & 0o077 == 0
    assert json.loads(server_file.read_text())["url"] == api_server.url


def test_admin_credentials_file(api_server: support.ApiServer) -> None:
    creds = json.loads((api_server.data_dir / "admin-credentials.json").read_text())
    assert set(creds) >= {"access_key_id", "access_key_secret"}
    assert creds["access_key_id"] == api_server.access_key_id
    assert len(creds["access_key_secret"]) >= 32


@pytest.fixture
def own_data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_restart_keeps_secrets_and_credentials(own_data_dir: Path) -> None:
    value = f"restart-canary-{uuid.uuid4().hex}"
    first = start_server(own_data_dir)
    try:
        server = support.ApiServer.of(first)
        credentials = own_data_dir / "admin-credentials.json"
        creds_bytes = credentials.read_bytes()
        creds_stat = credentials.stat()
        master_key = (own_data_dir / "master.key").read_bytes()
        with server.client() as c:
            assert (
                c.post(
                    "/v1/secrets",
                    json={
                        "name": "app/db",
                        "value": value + "-1",
                        "version_id": "v1",
                        "tags": {"team": "payments"},
                        "description": "kept",
                    },
                ).status_code
                == 201
            )
            put = c.post("/v1/secrets/app/db:versions", json={"value": value, "version_id": "v2"})
            assert put.status_code == 201
            binary = c.post(
                "/v1/secrets/app/db:versions",
                json={"binary": base64.b64encode(b"\x00\x01").decode(), "stages": ["Custom"]},
            )
            assert binary.status_code == 201
            binary_id = binary.json()["version_id"]
            described = c.get("/v1/secrets/app/db").json()
            versions = c.get("/v1/secrets/app/db:versions").json()
            # Errors that involve the value, to check the log afterwards.
            assert_error(
                c.post(
                    "/v1/secrets/app/db:versions", json={"value": value + "-x", "version_id": "v1"}
                ),
                409,
                "VersionConflict",
            )
    finally:
        status = stop_server(first)
    assert status == 0

    second = start_server(own_data_dir)
    try:
        again = support.ApiServer.of(second)
        assert again.url  # a new free port; possibly another one
        assert (again.access_key_id, again.access_key_secret) == (
            server.access_key_id,
            server.access_key_secret,
        )
        # Not rewritten: same bytes, same file, same modification time.
        assert credentials.read_bytes() == creds_bytes
        after = credentials.stat()
        assert (after.st_ino, after.st_mtime_ns) == (creds_stat.st_ino, creds_stat.st_mtime_ns)
        assert _mode(credentials) == 0o600
        assert (own_data_dir / "master.key").read_bytes() == master_key
        with again.client() as c:
            assert c.get("/v1/secrets/app/db").json() == described
            assert c.get("/v1/secrets/app/db:versions").json() == versions
            assert c.get("/v1/secrets/app/db:value").json()["value"] == value
            previous = c.get("/v1/secrets/app/db:value", params={"stage": "Previous"}).json()
            assert previous["value"] == value + "-1"
            custom = c.get("/v1/secrets/app/db:value", params={"stage": "Custom"}).json()
            assert custom["version_id"] == binary_id
            assert base64.b64decode(custom["binary"]) == b"\x00\x01"
            # And it keeps working.
            put = c.post("/v1/secrets/app/db:versions", json={"value": "v3", "version_id": "v3"})
            assert put.status_code == 201
            assert c.get("/v1/secrets/app/db").json()["stages"] == {
                "Current": "v3",
                "Previous": "v2",
                "Custom": binary_id,
            }
    finally:
        assert stop_server(second) == 0
    log = second.log_path.read_text(errors="replace")  # both runs' output
    assert value not in log
    assert server.access_key_secret not in log


def test_first_start_creates_a_private_data_dir(own_data_dir: Path) -> None:
    own = start_server(own_data_dir)
    try:
        assert _mode(own_data_dir) == 0o700
        assert _mode(own_data_dir / "master.key") == 0o600
        assert _mode(own_data_dir / "admin-credentials.json") == 0o600
        with support.ApiServer.of(own).client() as c:
            assert c.get("/v1/secrets").json() == {"secrets": [], "next_page_token": None}
    finally:
        stop_server(own)


def test_stopping_removes_server_json(own_data_dir: Path) -> None:
    """A stopped server does not leave its URL behind for clients to find."""
    own = start_server(own_data_dir)
    recorded = json.loads((own_data_dir / "server.json").read_text())
    assert recorded == {"url": own.url, "pid": own.process.pid}
    assert stop_server(own) == 0  # a clean exit
    assert not (own_data_dir / "server.json").exists()
