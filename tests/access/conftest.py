"""Fixtures for the access-control tests against the session's real server.

The server is shared by the whole run: every test makes its own principals, policies
and secrets with names carrying a unique id.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

import rotor.client
from tests.services.server import RunningServer

#: The two policy documents of the reference, exactly as written there.
REFERENCE_RDS_POLICY = """{
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "kms:GetSecretValue",
                "kms:GetRandomPassword",
                "kms:PutSecretValue",
                "kms:UpdateSecretVersionStage"
            ],
            "Resource": "*"
        },
        {
            "Effect": "Allow",
            "Action": [
                "rds:GrantAccountPrivilege",
                "rds:DescribeAccounts",
                "rds:ResetAccountPassword",
                "rds:CreateAccount"
            ],
            "Resource": "*"
        }
    ]
}"""
REFERENCE_MYSQL_POLICY = """{
    "Version": "1",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "kms:GetSecretValue",
                "kms:GetRandomPassword",
                "kms:Decrypt",
                "kms:GenerateDataKey",
                "kms:PutSecretValue",
                "kms:UpdateSecretVersionStage"
            ],
            "Resource": "*"
        }
    ]
}"""


def allow(*statements: tuple[str, list[str], list[str]]) -> dict[str, Any]:
    """A policy document from (effect, actions, resources) triples."""
    return {
        "Version": "1",
        "Statement": [
            {"Effect": effect, "Action": actions, "Resource": resources}
            for effect, actions, resources in statements
        ],
    }


def secrets_of(prefix: str) -> str:
    """The resource pattern of every secret under ``prefix/``."""
    return f"acs:kms:*:*:secret/{prefix}/*"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Actor:
    """A principal made for one test, with a policy and an access key."""

    name: str
    key: rotor.client.NewAccessKey
    url: str

    def client(self, **kwargs: Any) -> rotor.client.Client:
        return rotor.client.Client(
            self.url,
            access_key_id=self.key.access_key_id,
            access_key_secret=self.key.access_key_secret,
            retry=rotor.client.Retry(attempts=0),
            **kwargs,
        )

    def http(self, headers: Mapping[str, str] | None = None) -> httpx.Client:
        bearer = f"Bearer {self.key.access_key_id}.{self.key.access_key_secret}"
        return httpx.Client(
            base_url=self.url, headers={"Authorization": bearer, **(headers or {})}, timeout=30
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class World:
    """What one test works in: the admin client, a unique id, and a maker of actors."""

    admin: rotor.client.Client
    uid: str
    url: str

    def name(self, base: str) -> str:
        return f"{base}-{self.uid}"

    def actor(
        self,
        base: str,
        *documents: Mapping[str, Any] | str,
        kind: str = "user",
        expires_in_seconds: int | None = None,
    ) -> Actor:
        """A new principal ``base-UID`` with ``documents`` attached as policies, and a key."""
        name = self.name(base)
        self.admin.create_principal(name, kind="role" if kind == "role" else "user")
        for index, document in enumerate(documents):
            policy = f"{name}-p{index}"
            text = document if isinstance(document, str) else json.dumps(document)
            self.admin.put_policy(policy, text)
            self.admin.attach_policy(policy, name)
        key = self.admin.create_access_key(name, expires_in_seconds=expires_in_seconds)
        return Actor(name=name, key=key, url=self.url)


@pytest.fixture
def admin(rotor_server: RunningServer) -> Iterator[rotor.client.Client]:
    with rotor_server.client() as client:
        yield client


@pytest.fixture
def world(rotor_server: RunningServer, admin: rotor.client.Client) -> World:
    return World(admin=admin, uid=uuid.uuid4().hex[:10], url=rotor_server.url)


def events_of(admin: rotor.client.Client, **filters: Any) -> list[rotor.client.AuditEvent]:
    """Every audit event matching ``filters``, newest first."""
    return list(admin.iter_audit_events(page_size=100, **filters))


def assert_no_value_in(events: list[rotor.client.AuditEvent], *values: str) -> None:
    text = json.dumps([dataclasses.asdict(e) for e in events], default=str)
    for value in values:
        assert value not in text
