"""Fixtures and helpers for the KMS-compatible API, driven by Alibaba's official SDKs.

- ``kms_server``: the session's ``rotor serve`` (tests share it: use :func:`unique_name`).
- :func:`v1_client`: an ``aliyunsdkcore`` :class:`AcsClient` pointed at the server
  (protocol spec §2.1), with a plain or an STS credential.
- :func:`tea_client`: an ``alibabacloud_kms20160120`` client (ACS3 signing, or RPC v1 with
  ``v2=True``) pointed at the server (spec §2.2).
- ``admin``: a native client with the admin key; ``sts_credentials``: session credentials of a
  role allowed every ``kms:*`` action (made once per session).
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from alibabacloud_kms20160120.client import Client as TeaKmsClient
from alibabacloud_tea_openapi import models as open_api_models
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import AcsRequest

import rotor.client
from tests.services.server import RunningServer

REGION = "cn-hangzhou"
#: Policy resources and response ARNs use these (the server's defaults).
ROTOR_REGION = "local"
ROTOR_ACCOUNT = "rotor"
API_VERSION = "2016-01-20"


def arn_of(name: str) -> str:
    return f"acs:kms:{ROTOR_REGION}:{ROTOR_ACCOUNT}:secret/{name}"


def unique_name(prefix: str = "kms") -> str:
    """A secret (or principal) name no other test of the session uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def host_port(server: RunningServer) -> str:
    """``127.0.0.1:PORT`` of the server."""
    return urllib.parse.urlsplit(server.url).netloc


def port_of(server: RunningServer) -> int:
    port = urllib.parse.urlsplit(server.url).port
    assert port is not None
    return port


def v1_client(
    server: RunningServer, key_id: str, secret: str, token: str | None = None
) -> AcsClient:
    """The V1 SDK's client, exactly as spec §2.1 points it at the server."""
    credential: AccessKeyCredential | StsTokenCredential
    if token is None:
        credential = AccessKeyCredential(key_id, secret)
    else:
        credential = StsTokenCredential(key_id, secret, token)
    client = AcsClient(region_id=REGION, credential=credential)
    client.add_endpoint(REGION, "kms", f"http://{host_port(server)}")
    return client


def tea_client(
    server: RunningServer,
    key_id: str,
    secret: str,
    token: str | None = None,
    v2: bool = False,
) -> TeaKmsClient:
    """The tea SDK's KMS client (ACS3 by default, RPC v1 with ``v2``), as spec §2.2."""
    config = open_api_models.Config(
        access_key_id=key_id,
        access_key_secret=secret,
        security_token=token,
        region_id=REGION,
        endpoint=host_port(server),
        protocol="http",
    )
    if v2:
        config.signature_algorithm = "v2"
    return TeaKmsClient(config)


def v1_call(client: AcsClient, request: AcsRequest) -> dict[str, Any]:
    """Send a V1 request and parse its JSON answer (the SDK returns raw bytes)."""
    raw = client.do_action_with_exception(request)
    data = json.loads(raw)
    assert isinstance(data, dict)
    return data


def v1_error(client: AcsClient, request: AcsRequest) -> ServerException:
    """Send a V1 request that must fail; the SDK's ServerException."""
    with pytest.raises(ServerException) as caught:
        client.do_action_with_exception(request)
    return caught.value


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What an SDK needs: an access key id and secret, and an STS token or None."""

    kind: str
    access_key_id: str
    access_key_secret: str = dataclasses.field(repr=False)
    security_token: str | None = dataclasses.field(default=None, repr=False)


@pytest.fixture
def kms_server(rotor_server: RunningServer) -> RunningServer:
    """The session's server, which serves the KMS API on its one port."""
    return rotor_server


@pytest.fixture
def admin(rotor_server: RunningServer) -> Iterator[rotor.client.Client]:
    """A native client with the admin key."""
    with rotor_server.client() as client:
        yield client


def allow_all_kms() -> dict[str, Any]:
    return {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": ["kms:*"], "Resource": ["*"]}],
    }


def make_role(
    admin: rotor.client.Client, document: Mapping[str, Any], base: str = "kms-role"
) -> str:
    """A new role with ``document`` attached; its name."""
    name = unique_name(base)
    admin.create_principal(name, kind="role")
    admin.put_policy(f"{name}-p", json.dumps(document))
    admin.attach_policy(f"{name}-p", name)
    return name


def make_user(
    admin: rotor.client.Client, document: Mapping[str, Any], base: str = "kms-user"
) -> Credentials:
    """A new user with ``document`` attached, and a plain access key of it."""
    name = unique_name(base)
    admin.create_principal(name, kind="user")
    admin.put_policy(f"{name}-p", json.dumps(document))
    admin.attach_policy(f"{name}-p", name)
    key = admin.create_access_key(name)
    return Credentials("user", key.access_key_id, key.access_key_secret)


def assume(
    admin: rotor.client.Client, role: str, policy: Mapping[str, Any] | None = None
) -> Credentials:
    session = admin.assume_role(role, policy=dict(policy) if policy is not None else None)
    return Credentials(
        "sts", session.access_key_id, session.access_key_secret, session.security_token
    )


@pytest.fixture(scope="session")
def sts_credentials(rotor_server: RunningServer) -> Credentials:
    """Session (STS) credentials of a role allowed every kms action, made once."""
    with rotor_server.client() as admin_client:
        role = make_role(admin_client, allow_all_kms(), "kms-sts-role")
        return assume(admin_client, role)


@pytest.fixture(params=["admin", "sts"])
def credentials(request: pytest.FixtureRequest, rotor_server: RunningServer) -> Credentials:
    """The admin's plain key, then STS credentials of an all-kms role."""
    if request.param == "admin":
        return Credentials("admin", rotor_server.access_key_id, rotor_server.access_key_secret)
    creds = request.getfixturevalue("sts_credentials")
    assert isinstance(creds, Credentials)
    return creds
