"""HTTPS end to end with a real ``rotor serve --tls-cert --tls-key``, and proxy headers.

A throwaway CA signs a certificate for 127.0.0.1 (``tests.services.tls``); the
client trusts it only through ``ca_bundle`` / ``ROTOR_CA_BUNDLE``.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import uuid
from pathlib import Path

import httpx
import pytest

import rotor.client
from rotor import errors
from rotor.settings import Settings
from rotor.store import audit
from rotor.store.database import Store
from tests.services import tls
from tests.services.server import RunningServer, start_server, stop_server


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}/db"


def test_serves_https_and_records_it(
    tls_server: RunningServer, certificates: tls.Certificates
) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    recorded = json.loads((tls_server.data_dir / "server.json").read_text())
    assert recorded["url"] == tls_server.url
    context = ssl.create_default_context(cafile=certificates.ca)
    with httpx.Client(verify=context) as http:
        response = http.get(f"{tls_server.url}/healthz")
    assert response.status_code == 200
    url = httpx.URL(tls_server.url)
    assert url.port is not None
    with (
        socket.create_connection((url.host, url.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=url.host) as wrapped,
    ):
        assert wrapped.version() in ("TLSv1.2", "TLSv1.3")
        peer = wrapped.getpeercert()
        assert peer is not None
        assert ("IP Address", "127.0.0.1") in peer["subjectAltName"]


def test_client_with_the_ca_bundle(
    tls_server: RunningServer, certificates: tls.Certificates
) -> None:
    name = unique("tls")
    with tls_server.client(ca_bundle=certificates.ca) as client:
        client.create_secret(name, value="over https")
        client.put_value(name, "v2", version_id="v2")
        assert client.get_value(name).value == "v2"
    env = {**tls_server.credentials_env, "ROTOR_CA_BUNDLE": str(certificates.ca)}
    with rotor.client.Client(tls_server.url, signing="hmac", environ=env) as signed:
        assert signed.config.ca_bundle == str(certificates.ca)
        assert signed.get_value(name, stage="Previous").value == "over https"


def test_unverified_certificate_is_refused_at_once(
    tls_server: RunningServer, tmp_path: Path
) -> None:
    other_ca = tls.issue(tmp_path / "other", ca_name="another CA").ca
    for ca_bundle in (None, other_ca):
        started = time.monotonic()
        with (
            rotor.client.Client(
                tls_server.url,
                access_key_id=tls_server.access_key_id,
                access_key_secret=tls_server.access_key_secret,
                ca_bundle=ca_bundle,
                environ={},
                retry=rotor.client.Retry(attempts=3, backoff=1.0),
            ) as client,
            pytest.raises(errors.ServerUnreachable) as caught,
        ):
            client.get_value("tls/anything")
        # Retrying cannot fix a certificate, so the client does not wait for retries.
        assert time.monotonic() - started < 1.0
        message = caught.value.message
        assert "TLS certificate could not be verified" in message
        assert "ROTOR_CA_BUNDLE" in message
        if ca_bundle is not None:
            assert str(ca_bundle) in message
        assert tls_server.access_key_secret not in message


def test_plain_http_to_the_tls_port_fails(tls_server: RunningServer) -> None:
    plain = tls_server.url.replace("https://", "http://")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{plain}/healthz", timeout=5.0)
    with (
        rotor.client.Client(
            plain,
            access_key_id=tls_server.access_key_id,
            access_key_secret=tls_server.access_key_secret,
            retry=rotor.client.Retry(attempts=0),
        ) as client,
        pytest.raises(errors.ServerUnreachable, match="use an https:// URL"),
    ):
        client.get_value("tls/anything")


def test_bad_ca_bundle(tls_server: RunningServer, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(errors.InvalidParameter, match="does not exist"):
        rotor.client.Client(tls_server.url, ca_bundle=missing, environ={})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(
        errors.InvalidParameter, match=r"ROTOR_CA_BUNDLE\) holds no PEM certificate"
    ):
        rotor.client.Client(tls_server.url, environ={"ROTOR_CA_BUNDLE": str(garbage)})


# -- the client address behind a proxy --------------------------------------------------------


def _sources(data_dir: Path, name: str) -> list[str | None]:
    """The source addresses the audit log recorded for reads of ``name`` (written in the
    background, so wait for them)."""
    store = Store.open(Settings.load({"data_dir": data_dir}, environ={}))
    try:
        deadline = time.monotonic() + 10
        while True:
            events = audit.list_events(store, secret_name=name).items
            if events or time.monotonic() > deadline:
                return [event.source for event in events]
            time.sleep(0.05)
    finally:
        store.close()


def _read_with_forwarded_for(server: RunningServer, name: str) -> None:
    headers = {
        "Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}",
        "X-Forwarded-For": "203.0.113.7",
    }
    response = httpx.get(f"{server.url}/v1/secrets/{name}:value", headers=headers)
    assert response.status_code == 404


def test_forwarded_for_is_ignored_by_default(rotor_server: RunningServer) -> None:
    """Otherwise any local client could pick the address the audit log and throttle see."""
    name = unique("proxy")
    _read_with_forwarded_for(rotor_server, name)
    assert _sources(rotor_server.data_dir, name) == ["127.0.0.1"]


def test_forwarded_for_from_a_trusted_proxy(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", extra_args=["--forwarded-allow-ips", "127.0.0.1"])
    try:
        name = unique("proxy")
        _read_with_forwarded_for(server, name)
        assert _sources(server.data_dir, name) == ["203.0.113.7"]
    finally:
        stop_server(server)
