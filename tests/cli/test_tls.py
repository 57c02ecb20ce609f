"""The CLI over HTTPS (``--ca-bundle``), signed (``--sign``), and ``rotor serve``'s TLS flags."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import run_cli
from tests.services import tls
from tests.services.server import RunningServer, server_env, start_server, stop_server


@pytest.fixture(scope="module")
def tls_server(  # the shared one's, given its files by the environment instead of flags
    tmp_path_factory: pytest.TempPathFactory, certificates: tls.Certificates
) -> Iterator[RunningServer]:
    server = start_server(
        tmp_path_factory.mktemp("cli-tls-server") / "data",
        env={"ROTOR_TLS_CERT": str(certificates.cert), "ROTOR_TLS_KEY": str(certificates.key)},
        ca_bundle=certificates.ca,
    )
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def name() -> str:
    return f"cli-tls-{uuid.uuid4().hex[:12]}/db"


def test_cli_reads_and_writes_over_https(
    tls_server: RunningServer, certificates: tls.Certificates, name: str
) -> None:
    assert tls_server.url.startswith("https://")
    connection = ["--url", tls_server.url, "--ca-bundle", str(certificates.ca)]
    env = tls_server.credentials_env
    created = run_cli(["secret", "create", name, "--value", "first", *connection], env=env)
    assert created.exit_code == 0, created.output
    put = run_cli(["secret", "put", name, "--value", "second", "--sign", *connection], env=env)
    assert put.exit_code == 0, put.output
    got = run_cli(["secret", "get", name, *connection], env=env)
    assert (got.exit_code, got.stdout) == (0, "second")
    # The CA bundle and the signing mode from the environment.
    env = {**env, "ROTOR_CA_BUNDLE": str(certificates.ca), "ROTOR_AUTH": "hmac"}
    previous = run_cli(
        ["secret", "get", name, "--stage", "Previous", "--url", tls_server.url], env=env
    )
    assert (previous.exit_code, previous.stdout) == (0, "first")


def test_cli_without_the_ca_fails_with_exit_7(tls_server: RunningServer, name: str) -> None:
    result = run_cli(
        ["secret", "get", name, "--url", tls_server.url], env=tls_server.credentials_env
    )
    assert result.exit_code == 7, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "TLS certificate could not be verified" in line
    assert "--ca-bundle" in line


def test_cli_missing_ca_bundle_exit_2(tls_server: RunningServer, tmp_path: Path, name: str) -> None:
    result = run_cli(
        ["secret", "get", name, "--url", tls_server.url, "--ca-bundle", str(tmp_path / "no.pem")],
        env=tls_server.credentials_env,
    )
    assert result.exit_code == 2, result.output
    assert "does not exist" in result.stderr


def test_sign_flag_against_plain_http(rotor_server: RunningServer, name: str) -> None:
    env = rotor_server.credentials_env
    created = run_cli(
        ["secret", "create", name, "--value", "v", "--sign", "--url", rotor_server.url], env=env
    )
    assert created.exit_code == 0, created.output
    got = run_cli(["secret", "get", name, "--sign", "--url", rotor_server.url], env=env)
    assert (got.exit_code, got.stdout) == (0, "v")
    wrong = run_cli(
        ["secret", "get", name, "--url", rotor_server.url],
        env={**env, "ROTOR_AUTH": "kerberos"},
    )
    assert wrong.exit_code == 2
    assert "ROTOR_AUTH must be one of bearer, hmac" in wrong.stderr


# -- rotor serve's TLS flags --------------------------------------------------------------------


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rotor", "serve", "--port", "0", *args],
        env=server_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tls_cert_and_key_go_together(tmp_path: Path, certificates: tls.Certificates) -> None:
    data_dir = tmp_path / "data"
    only_cert = serve("--data-dir", str(data_dir), "--tls-cert", str(certificates.cert))
    assert only_cert.returncode == 2, only_cert.stderr
    assert "--tls-cert is given without --tls-key" in only_cert.stderr
    only_key = serve("--data-dir", str(data_dir), env={"ROTOR_TLS_KEY": str(certificates.key)})
    assert only_key.returncode == 2, only_key.stderr
    assert "--tls-key is given without --tls-cert" in only_key.stderr
    assert not (data_dir / "master.key").exists()  # refused before anything was set up


def test_unusable_tls_files(tmp_path: Path, certificates: tls.Certificates) -> None:
    other = tls.issue(tmp_path / "other")
    mismatched = serve(
        "--data-dir",
        str(tmp_path / "data"),
        "--tls-cert",
        str(certificates.cert),
        "--tls-key",
        str(other.key),
    )
    assert mismatched.returncode == 2, mismatched.stderr
    assert "cannot use the TLS certificate" in mismatched.stderr
    missing = serve(
        "--data-dir",
        str(tmp_path / "data"),
        "--tls-cert",
        str(tmp_path / "nope.pem"),
        "--tls-key",
        str(other.key),
    )
    assert missing.returncode == 2, missing.stderr
    assert "nope.pem: no such file" in missing.stderr
