"""Secrets over HTTP: create, describe, list, update, delete, restore."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import httpx
import pytest

from tests.api.support import all_secrets, assert_error, assert_time, unique

SECRET_KEYS = {
    "name",
    "type",
    "description",
    "tags",
    "created_at",
    "updated_at",
    "delete_after",
    "stages",
}


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _create(client: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/secrets", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_without_value(client: httpx.Client, name: str) -> None:
    response = client.post("/v1/secrets", json={"name": name})
    assert response.status_code == 201
    assert response.headers["x-request-id"]
    body = response.json()
    assert set(body) == SECRET_KEYS
    assert body["name"] == name
    assert body["type"] == "Generic"
    assert body["description"] == ""
    assert body["tags"] == {}
    assert body["stages"] == {}
    assert body["delete_after"] is None
    assert_time(body["created_at"])
    assert_time(body["updated_at"])

    described = client.get(f"/v1/secrets/{name}")
    assert described.status_code == 200
    assert described.json() == body
    # No version yet: there is nothing to read.
    assert_error(client.get(f"/v1/secrets/{name}:value"), 404, "NotFound")
    assert client.get(f"/v1/secrets/{name}:versions").json() == {
        "versions": [],
        "next_page_token": None,
    }


def test_create_with_value_tags_and_version_id(client: httpx.Client, name: str) -> None:
    body = _create(
        client,
        name,
        value="first-value",
        version_id="v1",
        description="the app database",
        type="DatabaseCredentials",
        tags={"team": "payments", "env": "prod"},
    )
    assert body["stages"] == {"Current": "v1"}
    assert body["tags"] == {"team": "payments", "env": "prod"}
    assert body["type"] == "DatabaseCredentials"
    assert body["description"] == "the app database"
    assert "value" not in body
    assert "first-value" not in str(body)

    described = client.get(f"/v1/secrets/{name}").json()
    assert described == body
    value = client.get(f"/v1/secrets/{name}:value").json()
    assert value["value"] == "first-value"
    assert value["version_id"] == "v1"
    assert value["stages"] == ["Current"]


def test_create_with_value_gets_a_uuid_version(client: httpx.Client, name: str) -> None:
    body = _create(client, name, value="x")
    version_id = body["stages"]["Current"]
    assert len(version_id) == 36
    assert version_id.count("-") == 4


def test_create_binary_value_round_trips(client: httpx.Client, name: str) -> None:
    raw = bytes(range(256)) * 4
    _create(client, name, binary=base64.b64encode(raw).decode())
    value = client.get(f"/v1/secrets/{name}:value").json()
    assert "value" not in value
    assert base64.b64decode(value["binary"]) == raw


def test_create_duplicate_is_refused(client: httpx.Client, name: str) -> None:
    _create(client, name, value="one")
    body = assert_error(
        client.post("/v1/secrets", json={"name": name, "value": "two"}), 409, "SecretExists"
    )
    assert name in body["message"]
    # The original is untouched.
    assert client.get(f"/v1/secrets/{name}:value").json()["value"] == "one"


def test_names_may_contain_every_allowed_character(client: httpx.Client) -> None:
    name = unique("A/z_0+=.@-") + "/deep/path"
    _create(client, name, value="v")
    assert client.get(f"/v1/secrets/{name}").json()["name"] == name
    assert client.get(f"/v1/secrets/{name}:value").json()["value"] == "v"
    long_name = unique("L") + "x" * (192 - len(unique("L")))
    assert len(long_name) == 192
    _create(client, long_name)
    assert client.get(f"/v1/secrets/{long_name}").status_code == 200


def test_update_description_and_tags(client: httpx.Client, name: str) -> None:
    created = _create(client, name, description="old", tags={"a": "1", "b": "2"})

    response = client.patch(f"/v1/secrets/{name}", json={"description": "new"})
    assert response.status_code == 200
    body = response.json()
    assert body["description"] == "new"
    assert body["tags"] == {"a": "1", "b": "2"}  # untouched when not given
    assert _parse(body["updated_at"]) >= _parse(created["updated_at"])
    assert body["created_at"] == created["created_at"]

    body = client.patch(f"/v1/secrets/{name}", json={"tags": {"c": "3"}}).json()
    assert body["tags"] == {"c": "3"}  # tags replace all tags
    assert body["description"] == "new"

    body = client.patch(f"/v1/secrets/{name}", json={"tags": {}}).json()
    assert body["tags"] == {}
    assert client.get(f"/v1/secrets/{name}").json() == body


def test_list_by_prefix_pages_in_name_order(client: httpx.Client) -> None:
    prefix = unique("list") + "/"
    names = [f"{prefix}{i:02d}" for i in (4, 0, 3, 1, 2)]
    for n in names:
        _create(client, n)

    first = client.get("/v1/secrets", params={"prefix": prefix, "page_size": 2})
    assert first.status_code == 200
    page = first.json()
    assert [s["name"] for s in page["secrets"]] == sorted(names)[:2]
    assert isinstance(page["next_page_token"], str)
    assert set(page["secrets"][0]) == SECRET_KEYS

    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"prefix": prefix, "page_size": 2}
        if token:
            params["page_token"] = token
        body = client.get("/v1/secrets", params=params).json()
        pages += 1
        seen += [s["name"] for s in body["secrets"]]
        token = body["next_page_token"]
        if token is None:
            break
    assert pages == 3
    assert seen == sorted(names)

    # page_size larger than the result: one page, no token.
    body = client.get("/v1/secrets", params={"prefix": prefix, "page_size": 100}).json()
    assert [s["name"] for s in body["secrets"]] == sorted(names)
    assert body["next_page_token"] is None


def test_list_prefix_is_literal(client: httpx.Client) -> None:
    base = unique("lit")
    _create(client, f"{base}_a")
    _create(client, f"{base}xa")  # would match if "_" were a LIKE wildcard
    assert [s["name"] for s in all_secrets(client, prefix=f"{base}_")] == [f"{base}_a"]


def test_list_default_page_size_is_fifty(client: httpx.Client) -> None:
    prefix = unique("fifty") + "/"
    for i in range(51):
        _create(client, f"{prefix}{i:02d}")
    body = client.get("/v1/secrets", params={"prefix": prefix}).json()
    assert [s["name"] for s in body["secrets"]] == [f"{prefix}{i:02d}" for i in range(50)]
    rest = client.get(
        "/v1/secrets", params={"prefix": prefix, "page_token": body["next_page_token"]}
    ).json()
    assert [s["name"] for s in rest["secrets"]] == [f"{prefix}50"]
    assert rest["next_page_token"] is None


def test_list_tag_filters_must_all_match(client: httpx.Client) -> None:
    prefix = unique("tags") + "/"
    _create(client, prefix + "a", tags={"env": "prod", "team": "x"})
    _create(client, prefix + "b", tags={"env": "prod", "team": "y"})
    _create(client, prefix + "c", tags={"env": "dev", "team": "x"})
    _create(client, prefix + "d")

    def names(*tags: str) -> list[str]:
        return [s["name"] for s in all_secrets(client, prefix=prefix, tag=list(tags))]

    assert names("env=prod") == [prefix + "a", prefix + "b"]
    assert names("team=x") == [prefix + "a", prefix + "c"]
    assert names("env=prod", "team=x") == [prefix + "a"]
    assert names("env=prod", "team=z") == []
    assert names() == [prefix + s for s in "abcd"]


def test_list_include_pending_deletion(client: httpx.Client) -> None:
    prefix = unique("pend") + "/"
    _create(client, prefix + "kept")
    _create(client, prefix + "gone")
    assert client.delete(f"/v1/secrets/{prefix}gone").status_code == 200

    assert [s["name"] for s in all_secrets(client, prefix=prefix)] == [prefix + "kept"]
    listed = all_secrets(client, prefix=prefix, include_pending_deletion="true")
    assert [s["name"] for s in listed] == [prefix + "gone", prefix + "kept"]
    assert listed[0]["delete_after"] is not None
    assert listed[1]["delete_after"] is None
    explicit = all_secrets(client, prefix=prefix, include_pending_deletion="false")
    assert [s["name"] for s in explicit] == [prefix + "kept"]


def test_list_never_returns_values(client: httpx.Client) -> None:
    prefix = unique("noval") + "/"
    _create(client, prefix + "s", value="list-must-not-show-this")
    response = client.get("/v1/secrets", params={"prefix": prefix})
    assert "list-must-not-show-this" not in response.text


@pytest.mark.parametrize("days", [7, 30])
def test_delete_with_recovery_window(client: httpx.Client, name: str, days: int) -> None:
    _create(client, name, value="v", version_id="v1")
    before = dt.datetime.now(dt.UTC)
    response = client.delete(f"/v1/secrets/{name}", params={"recovery_days": days})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SECRET_KEYS
    assert_time(body["delete_after"])
    delete_after = _parse(body["delete_after"])
    expected = before + dt.timedelta(days=days)
    assert abs((delete_after - expected).total_seconds()) < 60

    # Describe still works and shows the planned deletion, and the stages are kept.
    described = client.get(f"/v1/secrets/{name}")
    assert described.status_code == 200
    assert described.json()["delete_after"] == body["delete_after"]
    assert described.json()["stages"] == {"Current": "v1"}


def test_delete_default_window_is_thirty_days(client: httpx.Client, name: str) -> None:
    _create(client, name)
    body = client.delete(f"/v1/secrets/{name}").json()
    delete_after = _parse(body["delete_after"])
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    assert abs((delete_after - expected).total_seconds()) < 60


def test_pending_deletion_refuses_reads_and_writes(client: httpx.Client, name: str) -> None:
    _create(client, name, value="secret-while-pending", version_id="v1")
    assert client.delete(f"/v1/secrets/{name}", params={"recovery_days": 7}).status_code == 200

    refused = [
        client.get(f"/v1/secrets/{name}:value"),
        client.get(f"/v1/secrets/{name}:value", params={"version_id": "v1"}),
        client.post(f"/v1/secrets/{name}:versions", json={"value": "new"}),
        client.post(
            f"/v1/secrets/{name}:versions",
            json={"value": "secret-while-pending", "version_id": "v1"},
        ),
        client.post(f"/v1/secrets/{name}:stage", json={"stage": "Custom", "move_to_version": "v1"}),
        client.patch(f"/v1/secrets/{name}", json={"description": "x"}),
        client.delete(f"/v1/secrets/{name}", params={"recovery_days": 7}),
    ]
    for response in refused:
        body = assert_error(response, 409, "SecretPendingDeletion")
        assert "secret-while-pending" not in body["message"]
    # Creating the same name while it waits for deletion is refused too.
    assert_error(client.post("/v1/secrets", json={"name": name}), 409, "SecretExists")


def test_restore_undoes_the_schedule(client: httpx.Client, name: str) -> None:
    _create(client, name, value="restored-value", version_id="v1")
    client.delete(f"/v1/secrets/{name}", params={"recovery_days": 10})

    response = client.post(f"/v1/secrets/{name}:restore")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SECRET_KEYS
    assert body["delete_after"] is None
    assert body["stages"] == {"Current": "v1"}

    assert client.get(f"/v1/secrets/{name}").json()["delete_after"] is None
    assert client.get(f"/v1/secrets/{name}:value").json()["value"] == "restored-value"
    put = client.post(f"/v1/secrets/{name}:versions", json={"value": "after-restore"})
    assert put.status_code == 201
    assert name in [s["name"] for s in all_secrets(client, prefix=name)]


def test_restore_of_a_secret_not_scheduled_is_refused(client: httpx.Client, name: str) -> None:
    _create(client, name)
    response = client.post(f"/v1/secrets/{name}:restore")
    assert_error(response, 400, "InvalidParameter")


def test_force_delete_removes_at_once(client: httpx.Client, name: str) -> None:
    _create(client, name, value="forced", version_id="v1", tags={"k": "v"})
    before = dt.datetime.now(dt.UTC)
    response = client.delete(f"/v1/secrets/{name}", params={"force": "true"})
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == name
    assert_time(body["delete_after"])
    assert abs((_parse(body["delete_after"]) - before).total_seconds()) < 60
    assert "forced" not in response.text

    assert_error(client.get(f"/v1/secrets/{name}"), 404, "NotFound")
    assert_error(client.get(f"/v1/secrets/{name}:value"), 404, "NotFound")
    assert_error(client.get(f"/v1/secrets/{name}:versions"), 404, "NotFound")
    assert_error(client.post(f"/v1/secrets/{name}:restore"), 404, "NotFound")
    listed = all_secrets(client, prefix=name, include_pending_deletion="true")
    assert listed == []
    # The name is free again, and the new secret starts empty.
    assert _create(client, name)["stages"] == {}
    assert client.get(f"/v1/secrets/{name}:versions").json()["versions"] == []


def test_force_delete_of_a_secret_pending_deletion(client: httpx.Client, name: str) -> None:
    _create(client, name, value="v")
    client.delete(f"/v1/secrets/{name}")
    assert client.delete(f"/v1/secrets/{name}", params={"force": "true"}).status_code == 200
    assert_error(client.get(f"/v1/secrets/{name}"), 404, "NotFound")


@pytest.mark.parametrize(
    "params",
    [
        {"recovery_days": "6"},
        {"recovery_days": "31"},
        {"recovery_days": "0"},
        {"recovery_days": "-1"},
        {"recovery_days": "7", "force": "true"},
    ],
)
def test_delete_refuses_bad_windows(
    client: httpx.Client, name: str, params: dict[str, str]
) -> None:
    _create(client, name)
    assert_error(client.delete(f"/v1/secrets/{name}", params=params), 400, "InvalidParameter")
    # Nothing happened.
    assert client.get(f"/v1/secrets/{name}").json()["delete_after"] is None


def test_describe_never_returns_a_value(client: httpx.Client, name: str) -> None:
    _create(client, name, value="describe-must-not-show-this")
    client.post(f"/v1/secrets/{name}:versions", json={"value": "nor-this"})
    text = client.get(f"/v1/secrets/{name}").text
    assert "describe-must-not-show-this" not in text
    assert "nor-this" not in text


def test_unknown_secret_is_not_found_with_its_name(client: httpx.Client) -> None:
    missing = unique("missing")
    body = assert_error(client.get(f"/v1/secrets/{missing}"), 404, "NotFound")
    assert missing in body["message"]


def test_request_ids_differ(client: httpx.Client) -> None:
    ids = {
        client.get("/v1/secrets", params={"page_size": 1}).headers["x-request-id"] for _ in range(5)
    }
    assert len(ids) == 5
