"""A query parameter given twice is refused on every /v1 route, the fast read path too.

``400 InvalidParameter`` naming the parameter, and nothing else happens: no value read
(the audit event is a failure with no version), nothing written. Only parameters a
route declares as repeatable (``tag`` on the list) may be given more than once.
Authentication still comes first.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from rotor.client import _signing
from tests.api import support
from tests.api.support import assert_error


@pytest.fixture
def secret(client: httpx.Client, name: str) -> str:
    """A secret with versions v1 (Previous) and v2 (Current)."""
    created = client.post("/v1/secrets", json={"name": name, "value": "one", "version_id": "v1"})
    assert created.status_code == 201, created.text
    put = client.post(f"/v1/secrets/{name}:versions", json={"value": "two", "version_id": "v2"})
    assert put.status_code == 201, put.text
    return name


def refused(response: httpx.Response, parameter: str) -> dict[str, Any]:
    body = assert_error(response, 400, "InvalidParameter")
    assert f"'{parameter}'" in body["message"], body
    return body


def audit_event(client: httpx.Client, request_id: str, secret: str | None) -> dict[str, Any]:
    params = {"secret": secret} if secret else {"action": None}
    response = client.get("/v1/audit", params={k: v for k, v in params.items() if v})
    assert response.status_code == 200, response.text
    (event,) = [e for e in response.json()["events"] if e["request_id"] == request_id]
    return dict(event)


@pytest.mark.parametrize(
    "query",
    [
        "stage=Current&stage=Previous",
        "stage=Current&stage=Current",
        "stage=&stage=Current",
        "stage=Current&%73tage=Previous",  # the same name, spelled another way
        "version_id=v1&stage=Current&version_id=v2",
    ],
)
def test_read_path_refuses_a_repeated_parameter(
    client: httpx.Client, secret: str, query: str
) -> None:
    parameter = "version_id" if query.startswith("version_id") else "stage"
    response = client.get(f"/v1/secrets/{secret}:value?{query}")
    body = refused(response, parameter)
    assert "one" not in response.text
    assert "two" not in response.text
    event = audit_event(client, body["request_id"], None)
    assert event["outcome"] == "failed"
    assert event["error_code"] == "InvalidParameter"
    assert event["version_id"] is None


def test_signed_requests_are_refused_alike(
    api_server: support.ApiServer, client: httpx.Client, secret: str
) -> None:
    url = f"/v1/secrets/{secret}:value?stage=Current&stage=Previous"
    with api_server.anonymous() as anon:
        request = anon.build_request("GET", url)
        request.headers["Authorization"] = _signing.authorization(
            request,
            access_key_id=api_server.access_key_id,
            access_key_secret=api_server.access_key_secret,
        )
        signed = anon.send(request)
    bearer = client.get(url)
    assert refused(signed, "stage")["message"] == refused(bearer, "stage")["message"]


def test_a_repeated_unknown_parameter_is_refused(client: httpx.Client, secret: str) -> None:
    refused(client.get(f"/v1/secrets/{secret}:value?colour=red&colour=blue"), "colour")
    refused(client.get(f"/v1/secrets/{secret}?colour=red&colour=blue"), "colour")
    # tag repeats on the list, but not where it is not a parameter at all
    refused(client.get(f"/v1/secrets/{secret}:value?tag=a=1&tag=b=2"), "tag")


def test_list_route_refuses_a_repeated_parameter(client: httpx.Client, secret: str) -> None:
    refused(client.get("/v1/secrets", params=[("prefix", secret), ("prefix", "x")]), "prefix")
    refused(client.get("/v1/secrets?page_size=1&page_size=oops"), "page_size")
    refused(client.get(f"/v1/secrets/{secret}:versions?page_size=1&page_size=2"), "page_size")


def test_write_route_writes_nothing(client: httpx.Client, secret: str) -> None:
    response = client.post(
        f"/v1/secrets/{secret}:versions?dry=1&dry=2",
        json={"value": "three", "version_id": "v3"},
    )
    refused(response, "dry")
    current = client.get(f"/v1/secrets/{secret}:value")
    assert current.json()["version_id"] == "v2"
    assert_error(client.get(f"/v1/secrets/{secret}:value?version_id=v3"), 404, "NotFound")
    refused(client.delete(f"/v1/secrets/{secret}?force=1&force=1"), "force")
    assert client.get(f"/v1/secrets/{secret}").json()["delete_after"] is None


def test_single_parameters_still_work(client: httpx.Client, secret: str) -> None:
    previous = client.get(f"/v1/secrets/{secret}:value?stage=Previous")
    assert previous.status_code == 200, previous.text
    assert previous.json()["value"] == "one"
    by_id = client.get(f"/v1/secrets/{secret}:value?version_id=v2&stage=Current")
    assert by_id.json()["value"] == "two"
    listed = client.get("/v1/secrets", params={"prefix": secret, "page_size": 5})
    assert [s["name"] for s in listed.json()["secrets"]] == [secret]
    # an unknown parameter given once is ignored, as before
    assert client.get(f"/v1/secrets/{secret}:value?colour=red").json()["value"] == "two"


def test_tag_may_repeat_on_the_list(client: httpx.Client, name: str) -> None:
    tags = {"team": "pay", "env": "prod"}
    created = client.post("/v1/secrets", json={"name": name, "tags": tags})
    assert created.status_code == 201, created.text
    listed = client.get(
        "/v1/secrets", params=[("prefix", name), ("tag", "team=pay"), ("tag", "env=prod")]
    )
    assert listed.status_code == 200, listed.text
    assert [s["name"] for s in listed.json()["secrets"]] == [name]


def test_authentication_comes_first(anon: httpx.Client, secret: str) -> None:
    for path in (f"/v1/secrets/{secret}:value", "/v1/secrets"):
        response = anon.get(f"{path}?stage=Current&stage=Previous")
        assert_error(response, 401, "Unauthenticated")


def test_every_native_route_refuses_a_repeated_parameter(client: httpx.Client) -> None:
    """Whatever /openapi.json lists under /v1, before the route does anything."""
    document = client.get("/openapi.json").json()
    operations = [
        (method.upper(), path)
        for path, methods in document["paths"].items()
        for method in methods
        if path.startswith("/v1/")
    ]
    assert len(operations) > 20
    for method, template in operations:
        path = re.sub(r"\{[A-Za-z_]+\}", support.unique("dup"), template)
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        response = client.request(
            method,
            f"{path}?zz=1&zz=2",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, (method, path, response.text)
        refused(response, "zz")
