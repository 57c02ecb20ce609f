"""The cloud's two official secrets caching clients, unmodified, against a real ``rotor serve``.

- ``aliyun-secret-manager-client`` 0.1.5 (V1 SDK, RPC v1 signatures) runs in ``.venv-cloud``
  (its pins break rotor's environment): tests/cloud/secrets_cache_v1.py, in a subprocess.
- ``alibabacloud-secretsmanager-client-v2`` (tea SDK, ACS3 signatures) runs in this process.

Each is configured through its builder and through its environment variables, reads a secret
(a second read within the TTL is served from the cache: the audit log shows one request),
still serves the cached value after the secret rotated, and reads the new Current value
after ``refresh_now`` (or once a short TTL ran out). An unknown secret surfaces as the
documented ``Forbidden.ResourceNotFound`` error.

The clients authenticate with keys of their own (a user's key, or a role's session
credentials), allowed only ``kms:GetSecretValue`` on this module's secrets, so the audit
events of their reads are told apart from the admin's.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import (
    SecretManagerCacheClientBuilder,
)
from alibabacloud_secretsmanager_client_v2.service.default_secret_manager_client_builder import (
    DefaultSecretManagerClientBuilder,
)
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException

import rotor.client
from tests.services.cloud_sdk import run_cloud_script
from tests.services.server import RunningServer

FUNCTION = "generated-password"
V1_SCRIPT = (Path(__file__).resolve().parents[1] / "cloud" / "secrets_cache_v1.py").read_text()
V1_TIMEOUT = 120.0
AUDIT_TIMEOUT = 10.0
#: How long a settled audit count must stay put (the audit log is written in batches).
AUDIT_QUIET = 0.6
#: The caching clients' configuration variables, never inherited from the outer environment.
CLIENT_VARIABLES = (
    "cache_client_region_id",
    "cache_client_dkms_config_info",
    "credentials_type",
    "credentials_access_key_id",
    "credentials_access_secret",
    "credentials_access_token_id",
    "credentials_access_token",
    "credentials_role_arn",
    "credentials_role_session_name",
    "credentials_role_name",
)
LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Credentials:
    access_key_id: str
    access_key_secret: str = dataclasses.field(repr=False)
    security_token: str | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True, kw_only=True)
class World:
    """The session's server, and this module's principals and secret-name prefix."""

    server: RunningServer
    prefix: str
    reader: Credentials
    role: str

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.server.url

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return self.server.url.split("://", 1)[1]

    def name(self, tag: str) -> str:
        return f"{self.prefix}/{tag}-{uuid.uuid4().hex[:8]}"

    def session(self) -> Credentials:
        """Fresh session credentials of the reader role (STS-style: id, secret, token)."""
        with self.server.client() as admin:
            session = admin.assume_role(self.role, duration_seconds=900)
        return Credentials(
            access_key_id=session.access_key_id,
            access_key_secret=session.access_key_secret,
            security_token=session.security_token,
        )


@pytest.fixture(scope="module")
def world(rotor_server: RunningServer) -> World:
    prefix = f"cache-{uuid.uuid4().hex[:10]}"
    policy = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:GetSecretValue"],
                "Resource": [f"acs:kms:*:*:secret/{prefix}/*"],
            }
        ],
    }
    with rotor_server.client() as admin:
        admin.put_policy(f"{prefix}-read", policy)
        admin.create_principal(f"{prefix}-app")
        admin.attach_policy(f"{prefix}-read", f"{prefix}-app")
        key = admin.create_access_key(f"{prefix}-app")
        admin.create_principal(f"{prefix}-role", kind="role")
        admin.attach_policy(f"{prefix}-read", f"{prefix}-role")
    return World(
        server=rotor_server,
        prefix=prefix,
        reader=Credentials(
            access_key_id=key.access_key_id, access_key_secret=key.access_key_secret
        ),
        role=f"{prefix}-role",
    )


@pytest.fixture
def admin(world: World) -> Iterator[rotor.client.Client]:
    with world.server.client() as client:
        yield client


@dataclasses.dataclass(frozen=True, kw_only=True)
class Secret:
    name: str
    value: str = dataclasses.field(repr=False)
    version_id: str


def rotatable_secret(admin: rotor.client.Client, world: World, tag: str) -> Secret:
    """A plain-text secret with ``generated-password`` rotation every 30 days (not yet run)."""
    name = world.name(tag)
    value = f"initial-{uuid.uuid4().hex}"
    admin.create_secret(name, value=value, description="read by a caching client")
    configured = admin.configure_rotation(name, function=FUNCTION, every="30d", rotate_now=False)
    assert configured.started is None
    current = admin.get_value(name)
    assert current.value == value
    return Secret(name=name, value=value, version_id=current.version_id)


def rotate(admin: rotor.client.Client, secret: Secret) -> Secret:
    """Rotate the secret, wait for the rotation to succeed, and return the new Current."""
    rotation = admin.rotate_secret(secret.name)
    assert admin.wait_for_rotation(rotation.id, timeout=30).succeeded
    current = admin.get_value(secret.name)
    assert isinstance(current.value, str)
    assert current.version_id != secret.version_id
    assert current.value != secret.value
    return Secret(name=secret.name, value=current.value, version_id=current.version_id)


def reads(admin: rotor.client.Client, name: str, key_id: str) -> int:
    """How many ``kms:GetSecretValue`` calls of ``name`` the key made (audit log)."""
    return sum(
        1
        for event in admin.iter_audit_events(secret=name, action="kms:GetSecretValue")
        if event.access_key_id == key_id
    )


def settled_reads(admin: rotor.client.Client, name: str, key_id: str, expected: int) -> int:
    """The read count once it reached ``expected`` (or timed out) and then stayed put."""
    deadline = time.monotonic() + AUDIT_TIMEOUT
    count = reads(admin, name, key_id)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        count = reads(admin, name, key_id)
    time.sleep(AUDIT_QUIET)
    return reads(admin, name, key_id)


# -- aliyun-secret-manager-client 0.1.5 (V1 SDK), in .venv-cloud -----------------------------


def cloud_env(config: dict[str, Any], variables: dict[str, str] | None = None) -> dict[str, str]:
    """The script's environment: no cloud credential or client variables but ``variables``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ROTOR_", "ALIYUN_", "ALIBABA_CLOUD_")) and k not in CLIENT_VARIABLES
    }
    env["CACHE_TEST"] = json.dumps(config)
    env.update(variables or {})
    return env


def wait_for_file(path: Path, running: concurrent.futures.Future[Any]) -> dict[str, Any]:
    deadline = time.monotonic() + V1_TIMEOUT
    while not path.exists():
        if running.done():
            running.result()  # raises with the script's output
            raise AssertionError(f"the script ended without writing {path.name}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the script did not write {path.name}")
        time.sleep(0.05)
    time.sleep(0.05)  # written in one call, but let it land
    result: dict[str, Any] = json.loads(path.read_text())
    return result


V1_FORMS = ("builder-ak", "builder-sts", "env-ak", "env-token")


def run_v1(
    cloud_python: Path,
    admin: rotor.client.Client,
    secret: Secret,
    config: dict[str, Any],
    variables: dict[str, str],
    key_id: str,
    *,
    cached_reads: int | None,
) -> tuple[dict[str, Any], dict[str, Any], Secret]:
    """Run the V1 script; rotate the secret once it read it. Returns its first report, its
    final report, and the rotated secret. ``cached_reads``: the audited reads expected by
    then (None: not checked)."""
    work = Path(config["work"])
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(
            run_cloud_script,
            cloud_python,
            V1_SCRIPT,
            env=cloud_env(config, variables),
            timeout=V1_TIMEOUT,
        )
        try:
            first = wait_for_file(work / "first.json", running)
            if cached_reads is not None:
                assert settled_reads(admin, secret.name, key_id, cached_reads) == cached_reads
            rotated = rotate(admin, secret)
        finally:
            (work / "go").write_text("")
        out: dict[str, Any] = running.result(timeout=V1_TIMEOUT)
    return first, out, rotated


def assert_first_read(got: dict[str, Any], secret: Secret) -> None:
    assert got["secret_name"] == secret.name
    assert got["secret_value"] == secret.value
    assert got["version_id"] == secret.version_id
    assert got["secret_data_type"] == "text"
    assert got["secret_type"] == "Generic"
    assert got["automatic_rotation"] == "Enabled"
    assert got["rotation_interval"] == f"{30 * 86400}s"


@pytest.mark.parametrize("form", V1_FORMS)
def test_v1_client_reads_caches_and_refreshes_after_rotation(
    form: str,
    world: World,
    admin: rotor.client.Client,
    cloud_python: Path,
    tmp_path: Path,
) -> None:
    secret = rotatable_secret(admin, world, f"v1-{form}")
    credentials = world.session() if form == "builder-sts" else world.reader
    config: dict[str, Any] = {
        "work": str(tmp_path),
        "name": secret.name,
        "missing": world.name("v1-missing"),
    }
    variables: dict[str, str] = {}
    if form.startswith("builder"):
        config.update(
            mode="builder",
            endpoint=world.url,
            access_key_id=credentials.access_key_id,
            access_key_secret=credentials.access_key_secret,
            security_token=credentials.security_token,
        )
    else:
        config["mode"] = "env"
        variables["cache_client_region_id"] = json.dumps(
            [{"regionId": "cn-hangzhou", "endpoint": world.url}]
        )
        if form == "env-ak":
            variables["credentials_type"] = "ak"
            variables["credentials_access_key_id"] = credentials.access_key_id
            variables["credentials_access_secret"] = credentials.access_key_secret
        else:
            variables["credentials_type"] = "token"
            variables["credentials_access_token_id"] = credentials.access_key_id
            variables["credentials_access_token"] = credentials.access_key_secret
    key_id = credentials.access_key_id

    # Two reads, one request: the second came from the cache.
    first, out, rotated = run_v1(
        cloud_python, admin, secret, config, variables, key_id, cached_reads=1
    )

    assert_first_read(first["first"], secret)
    assert first["second_value"] == secret.value

    # Rotated on the server, but within the TTL the cache still serves the old value...
    assert out["before_refresh_value"] == secret.value
    # ...until refresh_now fetches the new Current.
    assert out["refreshed"] is True
    assert out["after"]["secret_value"] == rotated.value
    assert out["after"]["version_id"] == rotated.version_id
    assert out["after_again_value"] == rotated.value
    assert settled_reads(admin, secret.name, key_id, 2) == 2

    assert out["missing"] is not None, "reading an unknown secret did not fail"
    assert out["missing"]["type"] == "ServerException"
    assert out["missing"]["code"] == "Forbidden.ResourceNotFound"
    assert out["missing"]["status"] == 404
    assert out["missing"]["request_id"]


def test_v1_client_refetches_once_a_short_ttl_ran_out(
    world: World, admin: rotor.client.Client, cloud_python: Path, tmp_path: Path
) -> None:
    secret = rotatable_secret(admin, world, "v1-ttl")
    config: dict[str, Any] = {
        "work": str(tmp_path),
        "name": secret.name,
        "missing": world.name("v1-missing"),
        "mode": "builder",
        "endpoint": world.url,
        "access_key_id": world.reader.access_key_id,
        "access_key_secret": world.reader.access_key_secret,
        "ttl_ms": 1000,
    }
    # A 1 s TTL: the client's scheduler re-fetches every second, so no exact read count.
    first, out, rotated = run_v1(
        cloud_python, admin, secret, config, {}, world.reader.access_key_id, cached_reads=None
    )
    assert_first_read(first["first"], secret)
    assert out["after"]["secret_value"] == rotated.value
    assert out["after"]["version_id"] == rotated.version_id
    assert out["after_again_value"] == rotated.value
    assert out["missing"] is not None
    assert out["missing"]["code"] == "Forbidden.ResourceNotFound"


# -- alibabacloud-secretsmanager-client-v2 (tea SDK), in this process --------------------------


@pytest.fixture
def no_client_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in CLIENT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@contextlib.contextmanager
def closing_cache(build: Callable[[], Any]) -> Iterator[Any]:
    """The cache client, closed at the end: its scheduler and thread pool are stopped, so no
    thread of its outlives the test."""
    before = set(threading.enumerate())
    cache = build()
    try:
        yield cache
    finally:
        cache.close()
    assert not cache.sched.running
    left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert left == [], f"threads left running by the caching client: {left}"


def v2_config(world: World, credentials: Credentials) -> open_api_models.Config:
    return open_api_models.Config(
        access_key_id=credentials.access_key_id,
        access_key_secret=credentials.access_key_secret,
        security_token=credentials.security_token,
        region_id="cn-hangzhou",
        endpoint=world.host,
        protocol="http",
    )


def v2_builder(world: World, credentials: Credentials) -> SecretManagerCacheClientBuilder:
    inner = DefaultSecretManagerClientBuilder.standard().add_config(v2_config(world, credentials))
    builder = SecretManagerCacheClientBuilder.new_cache_client_builder(inner.build())
    return builder.with_logger(LOGGER)


def exercise_v2(
    cache: Any, admin: rotor.client.Client, world: World, secret: Secret, key_id: str
) -> None:
    """Read twice (one request), rotate, still cached, refresh_now, new value; errors."""
    info = cache.get_secret_info(secret.name)
    assert info.secret_name == secret.name
    assert info.secret_value == secret.value
    assert info.version_id == secret.version_id
    assert info.secret_data_type == "text"
    assert info.secret_type == "Generic"
    assert info.automatic_rotation == "Enabled"
    assert info.rotation_interval == f"{30 * 86400}s"
    assert cache.get_secret_value(secret.name) == secret.value
    assert settled_reads(admin, secret.name, key_id, 1) == 1

    rotated = rotate(admin, secret)
    assert cache.get_secret_value(secret.name) == secret.value  # within the TTL: cached
    assert cache.refresh_now(secret.name) is True
    info = cache.get_secret_info(secret.name)
    assert info.secret_value == rotated.value
    assert info.version_id == rotated.version_id
    assert cache.get_secret_value(secret.name) == rotated.value
    assert settled_reads(admin, secret.name, key_id, 2) == 2

    with pytest.raises(ClientException) as missing:
        cache.get_secret_value(world.name("v2-missing"))
    assert missing.value.code == "Forbidden.ResourceNotFound"
    assert missing.value.status_code == 404
    assert missing.value.request_id


@pytest.mark.usefixtures("no_client_variables")
@pytest.mark.parametrize("form", ["ak", "sts"])
def test_v2_client_through_its_builder(form: str, world: World, admin: rotor.client.Client) -> None:
    secret = rotatable_secret(admin, world, f"v2-builder-{form}")
    credentials = world.session() if form == "sts" else world.reader
    with closing_cache(v2_builder(world, credentials).build) as cache:
        exercise_v2(cache, admin, world, secret, credentials.access_key_id)

        # A secret outside the key's policy: refused, not leaked.
        other = f"{world.prefix}-elsewhere/{uuid.uuid4().hex[:8]}"
        admin.create_secret(other, value=f"not-yours-{uuid.uuid4().hex}")
        with pytest.raises(ClientException) as denied:
            cache.get_secret_value(other)
        assert denied.value.code == "Forbidden.NoPermission"
        assert denied.value.status_code == 403


@pytest.mark.usefixtures("no_client_variables")
def test_v2_client_through_environment_variables(
    world: World, admin: rotor.client.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The endpoint carries the scheme, so the client's Host header (signed) is literally
    # "http://127.0.0.1:PORT".
    monkeypatch.setenv(
        "cache_client_region_id", json.dumps([{"regionId": "cn-hangzhou", "endpoint": world.url}])
    )
    monkeypatch.setenv("credentials_type", "ak")
    monkeypatch.setenv("credentials_access_key_id", world.reader.access_key_id)
    monkeypatch.setenv("credentials_access_secret", world.reader.access_key_secret)
    secret = rotatable_secret(admin, world, "v2-env")
    with closing_cache(SecretManagerCacheClientBuilder.new_client) as cache:
        exercise_v2(cache, admin, world, secret, world.reader.access_key_id)


@pytest.mark.usefixtures("no_client_variables")
def test_v2_client_refetches_once_a_short_ttl_ran_out(
    world: World, admin: rotor.client.Client
) -> None:
    secret = rotatable_secret(admin, world, "v2-ttl")
    builder = v2_builder(world, world.reader).with_secret_ttl(secret.name, 1000)
    # With a TTL set, build() already fetches the secret (and a scheduler job re-fetches it
    # every TTL, so the count keeps growing).
    with closing_cache(builder.build) as cache:
        assert settled_reads(admin, secret.name, world.reader.access_key_id, 1) >= 1
        assert cache.get_secret_value(secret.name) == secret.value
        rotated = rotate(admin, secret)
        deadline = time.monotonic() + 15
        value = cache.get_secret_value(secret.name)
        while value != rotated.value and time.monotonic() < deadline:
            time.sleep(0.2)
            value = cache.get_secret_value(secret.name)
        assert value == rotated.value


@pytest.mark.usefixtures("no_client_variables")
def test_v2_client_reads_a_binary_secret_as_base64(
    world: World, admin: rotor.client.Client
) -> None:
    name = world.name("v2-binary")
    raw = bytes(range(256)) + uuid.uuid4().bytes
    admin.create_secret(name, value=raw)
    with closing_cache(v2_builder(world, world.reader).build) as cache:
        info = cache.get_secret_info(name)
        assert info.secret_data_type == "binary"
        assert base64.b64decode(info.secret_value, validate=True) == raw
        # get_secret_value() serves text secrets only. (get_binary_value() cannot be used:
        # with bytebuffer 0.1.2 it raises TypeError("Can wrap only bytearray") client-side.)
        with pytest.raises(ValueError, match="do not support text value"):
            cache.get_secret_value(name)
