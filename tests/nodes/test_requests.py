"""Requests to two nodes of one store: a signed request accepted by one node is refused
when replayed to the other (both signature schemes), and what one node writes the other
reads at once.

The two nodes are shared by this module's tests, which use names of their own.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator, Mapping

import httpx
import pytest

import rotor.client
from rotor.access.aliyun_string_to_sign import (
    percent_encode,
    rpc_v1_signature,
    rpc_v1_string_to_sign,
)
from tests.nodes.conftest import Cluster, admin_http, json_of, running_cluster
from tests.services.postgres import PostgresServer, temporary_database
from tests.services.server import RunningServer


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> Iterator[Cluster]:
    """Two nodes on a PostgreSQL database of this module's own."""
    with (
        temporary_database(postgres_server) as database,
        running_cluster(
            tmp_path_factory.mktemp("pair"), postgres_server.url(database), 2
        ) as cluster,
    ):
        yield cluster


def unique(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def send(node: RunningServer, request: httpx.Request) -> httpx.Response:
    """``request`` sent to ``node`` exactly as it is: same method, target, headers (Host
    included) and body."""
    target = request.url.raw_path.decode("ascii")
    copy = httpx.Request(
        request.method, node.url + target, headers=request.headers.raw, content=request.content
    )
    assert copy.headers.raw == request.headers.raw
    with httpx.Client(timeout=30) as http:
        response = http.send(copy)
        response.read()
        return response


class Recording(httpx.BaseTransport):
    """The network, keeping every request sent through it."""

    def __init__(self) -> None:
        self._network = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.sent.append(request)
        return self._network.handle_request(request)

    def close(self) -> None:
        self._network.close()


def hmac_client(
    node: RunningServer, transport: httpx.BaseTransport | None = None
) -> rotor.client.Client:
    return node.client(signing="hmac", transport=transport)


def test_an_hmac_signed_request_replayed_to_another_node_is_refused(pair: Cluster) -> None:
    first, second = pair.nodes
    name = unique("replay/hmac")
    with admin_http(first) as http:
        json_of(http.post("/v1/secrets", json={"name": name, "value": "hmac-value"}), 201)
    recording = Recording()
    with hmac_client(first, recording) as client:
        assert client.get_value(name).value == "hmac-value"
    [signed] = recording.sent
    assert signed.headers["authorization"].startswith("ROTOR-HMAC-SHA256 ")

    replayed = send(second, signed)
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["code"] == "Unauthenticated"
    # The same request signed afresh is accepted there: the refusal is the replay's.
    with hmac_client(second) as client:
        assert client.get_value(name).value == "hmac-value"
    assert send(first, signed).status_code == 401


KMS_VERSION = "2016-01-20"


def kms_request(node: RunningServer, action: str, params: Mapping[str, str]) -> httpx.Request:
    """A KMS RPC request (signature v1, HMAC-SHA1) as the V1 SDK sends it to ``node``,
    signed with the admin key and a fresh nonce."""
    query: dict[str, str] = {
        "Action": action,
        "Version": KMS_VERSION,
        "Format": "JSON",
        "RegionId": "cn-hangzhou",
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureType": "",
        "SignatureNonce": uuid.uuid4().hex,
        "AccessKeyId": node.access_key_id,
        **params,
    }
    query["Signature"] = rpc_v1_signature(
        node.access_key_secret, rpc_v1_string_to_sign("POST", query)
    )
    encoded = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in query.items())
    return httpx.Request("POST", f"{node.url}/?{encoded}")


def test_a_kms_signed_request_replayed_to_another_node_is_refused(pair: Cluster) -> None:
    first, second = pair.nodes
    name = unique("replay/kms")
    with admin_http(first) as http:
        json_of(http.post("/v1/secrets", json={"name": name, "value": "kms-value"}), 201)
    signed = kms_request(first, "GetSecretValue", {"SecretName": name})
    accepted = send(first, signed)
    assert json_of(accepted)["SecretData"] == "kms-value"

    replayed = send(second, signed)
    assert (replayed.status_code, replayed.json()["Code"]) == (400, "SignatureNonceUsed"), (
        replayed.text
    )
    assert "SecretData" not in replayed.json()
    fresh = send(second, kms_request(second, "GetSecretValue", {"SecretName": name}))
    assert json_of(fresh)["SecretData"] == "kms-value"


def test_a_value_put_through_one_node_is_read_through_the_other_at_once(pair: Cluster) -> None:
    first, second = pair.nodes
    name = unique("consistent/put")
    with admin_http(first) as writer, admin_http(second) as reader:
        json_of(writer.post("/v1/secrets", json={"name": name, "value": "start"}), 201)
        for i in range(20):
            value = f"value-{i}-{secrets.token_hex(8)}"
            put = json_of(writer.post(f"/v1/secrets/{name}:versions", json={"value": value}), 201)
            read = json_of(reader.get(f"/v1/secrets/{name}:value"))
            assert (read["version_id"], read["value"]) == (put["version_id"], value), i


def test_a_secret_created_through_one_node_is_read_through_the_other_at_once(
    pair: Cluster,
) -> None:
    first, second = pair.nodes
    with admin_http(first) as writer, admin_http(second) as reader:
        for i in range(20):
            name = unique("consistent/create")
            value = f"created-{i}-{secrets.token_hex(8)}"
            created = json_of(writer.post("/v1/secrets", json={"name": name, "value": value}), 201)
            read = json_of(reader.get(f"/v1/secrets/{name}:value"))
            assert (read["version_id"], read["value"]) == (created["stages"]["Current"], value)
            assert json_of(reader.get(f"/v1/secrets/{name}"))["stages"] == created["stages"]
