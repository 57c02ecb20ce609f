"""Values, versions and stages over HTTP."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.api.support import all_versions, assert_error, assert_time

VERSION_KEYS = {"name", "version_id", "stages", "created_at", "type"}
VALUE_KEYS = {"name", "version_id", "stages", "created_at"}


def _put(client: httpx.Client, name: str, status: int = 201, **body: Any) -> dict[str, Any]:
    response = client.post(f"/v1/secrets/{name}:versions", json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def _stages(client: httpx.Client, name: str) -> dict[str, str]:
    response = client.get(f"/v1/secrets/{name}")
    assert response.status_code == 200, response.text
    stages: dict[str, str] = response.json()["stages"]
    return stages


def _value(client: httpx.Client, name: str, **params: str) -> dict[str, Any]:
    response = client.get(f"/v1/secrets/{name}:value", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def secret(client: httpx.Client, name: str) -> str:
    """A secret with no versions yet."""
    assert client.post("/v1/secrets", json={"name": name}).status_code == 201
    return name


def test_first_put_is_current(client: httpx.Client, secret: str) -> None:
    body = _put(client, secret, value="one", version_id="v1")
    assert set(body) == VERSION_KEYS
    assert body["name"] == secret
    assert body["version_id"] == "v1"
    assert body["stages"] == ["Current"]
    assert body["type"] == "text"
    assert_time(body["created_at"])
    assert "one" not in str(body.values())

    value = _value(client, secret)
    assert set(value) == VALUE_KEYS | {"value"}
    assert value == {
        "name": secret,
        "version_id": "v1",
        "stages": ["Current"],
        "created_at": body["created_at"],
        "value": "one",
    }


def test_first_put_is_current_even_when_other_stages_asked(
    client: httpx.Client, secret: str
) -> None:
    body = _put(client, secret, value="one", version_id="v1", stages=["Pending"])
    assert sorted(body["stages"]) == ["Current", "Pending"]
    assert _stages(client, secret) == {"Current": "v1", "Pending": "v1"}


def test_put_without_version_id_gets_a_uuid(client: httpx.Client, secret: str) -> None:
    a = _put(client, secret, value="a")["version_id"]
    b = _put(client, secret, value="b")["version_id"]
    assert a != b
    assert len(a) == 36
    assert _stages(client, secret) == {"Current": b, "Previous": a}


def test_put_moves_current_and_previous(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="one", version_id="v1")
    _put(client, secret, value="two", version_id="v2")
    assert _stages(client, secret) == {"Current": "v2", "Previous": "v1"}
    third = _put(client, secret, value="three", version_id="v3")
    assert third["stages"] == ["Current"]
    assert _stages(client, secret) == {"Current": "v3", "Previous": "v2"}

    assert _value(client, secret)["value"] == "three"
    previous = _value(client, secret, stage="Previous")
    assert previous["value"] == "two"
    assert previous["version_id"] == "v2"
    assert previous["stages"] == ["Previous"]
    # v1 lost its stages but is still readable by id.
    old = _value(client, secret, version_id="v1")
    assert old["value"] == "one"
    assert old["stages"] == []


def test_put_same_id_and_value_is_idempotent(client: httpx.Client, secret: str) -> None:
    first = _put(client, secret, value="same", version_id="v1")
    _put(client, secret, value="later", version_id="v2")
    again = _put(client, secret, 200, value="same", version_id="v1")
    assert again["version_id"] == "v1"
    assert again["created_at"] == first["created_at"]
    assert again["stages"] == ["Previous"]  # what v1 carries now; nothing moved
    assert _stages(client, secret) == {"Current": "v2", "Previous": "v1"}
    assert len(all_versions(client, secret)) == 2


def test_put_same_id_other_value_conflicts(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="original-value", version_id="v1")
    response = client.post(
        f"/v1/secrets/{secret}:versions",
        json={"value": "conflicting-value", "version_id": "v1"},
    )
    body = assert_error(response, 409, "VersionConflict")
    assert "original-value" not in body["message"]
    assert "conflicting-value" not in body["message"]
    # Same bytes as binary instead of text is another value too.
    as_binary = base64.b64encode(b"original-value").decode()
    response = client.post(
        f"/v1/secrets/{secret}:versions", json={"binary": as_binary, "version_id": "v1"}
    )
    assert_error(response, 409, "VersionConflict")
    assert _value(client, secret, version_id="v1")["value"] == "original-value"
    assert len(all_versions(client, secret)) == 1


def test_binary_values_round_trip(client: httpx.Client, secret: str) -> None:
    raw = bytes(range(256))[::-1] + b"\x00\x00\xff"
    body = _put(client, secret, binary=base64.b64encode(raw).decode(), version_id="bin")
    assert body["type"] == "binary"
    value = _value(client, secret)
    assert "value" not in value
    assert set(value) == VALUE_KEYS | {"binary"}
    assert base64.b64decode(value["binary"], validate=True) == raw
    # Idempotent with the same bytes.
    _put(client, secret, 200, binary=base64.b64encode(raw).decode(), version_id="bin")
    # Empty binary value.
    _put(client, secret, binary="", version_id="empty")
    assert base64.b64decode(_value(client, secret)["binary"]) == b""


def test_text_values_round_trip(client: httpx.Client, secret: str) -> None:
    for text in ["pässwörd ✓ 🔑", '{"user": "app", "password": "p@ss"}', "", " \n\t"]:
        _put(client, secret, value=text)
        value = _value(client, secret)
        assert "binary" not in value
        assert value["value"] == text


def test_value_of_exactly_64_kib_is_accepted(client: httpx.Client, secret: str) -> None:
    text = "é" * (32 * 1024)  # 64 KiB of UTF-8
    _put(client, secret, value=text, version_id="big")
    assert _value(client, secret)["value"] == text
    raw = b"\x01" * (64 * 1024)
    _put(client, secret, binary=base64.b64encode(raw).decode(), version_id="bigbin")
    assert base64.b64decode(_value(client, secret)["binary"]) == raw


def test_value_size_is_counted_in_bytes(client: httpx.Client, secret: str) -> None:
    text = "é" * (32 * 1024 + 1)  # fewer than 64 Ki characters, more than 64 KiB
    response = client.post(f"/v1/secrets/{secret}:versions", json={"value": text})
    assert_error(response, 413, "ValueTooLarge")
    assert client.get(f"/v1/secrets/{secret}:versions").json()["versions"] == []


def test_get_value_by_stage_version_or_both(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="one", version_id="v1")
    _put(client, secret, value="two", version_id="v2")

    assert _value(client, secret)["version_id"] == "v2"
    assert _value(client, secret, stage="Current")["value"] == "two"
    assert _value(client, secret, stage="Previous")["value"] == "one"
    assert _value(client, secret, version_id="v1")["value"] == "one"
    # By version id alone, the stage does not default to Current.
    assert _value(client, secret, version_id="v1")["stages"] == ["Previous"]
    # Both, agreeing.
    both = _value(client, secret, stage="Previous", version_id="v1")
    assert both["value"] == "one"
    assert both["version_id"] == "v1"
    # Both, disagreeing.
    response = client.get(
        f"/v1/secrets/{secret}:value", params={"stage": "Current", "version_id": "v1"}
    )
    assert_error(response, 404, "NotFound")
    # Unknown stage / unknown version.
    body = assert_error(
        client.get(f"/v1/secrets/{secret}:value", params={"stage": "Pending"}), 404, "NotFound"
    )
    assert "Pending" in body["message"]
    body = assert_error(
        client.get(f"/v1/secrets/{secret}:value", params={"version_id": "nope"}), 404, "NotFound"
    )
    assert "nope" in body["message"]


def test_list_versions_newest_first_with_stages(client: httpx.Client, secret: str) -> None:
    for i in range(1, 6):
        _put(client, secret, value=f"value-{i}", version_id=f"v{i}")
    _put(client, secret, value="pending", version_id="v6", stages=["Pending"])

    response = client.get(f"/v1/secrets/{secret}:versions")
    assert response.status_code == 200
    body = response.json()
    assert body["next_page_token"] is None
    versions = body["versions"]
    assert [v["version_id"] for v in versions] == ["v6", "v5", "v4", "v3", "v2", "v1"]
    for v in versions:
        assert set(v) >= VERSION_KEYS
        assert v["type"] == "text"
        assert_time(v["created_at"])
        assert "value" not in v
    assert {v["version_id"]: v["stages"] for v in versions} == {
        "v6": ["Pending"],
        "v5": ["Current"],
        "v4": ["Previous"],
        "v3": [],
        "v2": [],
        "v1": [],
    }
    assert "value-" not in response.text


def test_list_versions_pages(client: httpx.Client, secret: str) -> None:
    ids = [f"p{i}" for i in range(7)]
    for vid in ids:
        _put(client, secret, value=vid, version_id=vid)

    first = client.get(f"/v1/secrets/{secret}:versions", params={"page_size": 3}).json()
    assert [v["version_id"] for v in first["versions"]] == ["p6", "p5", "p4"]
    assert isinstance(first["next_page_token"], str)
    second = client.get(
        f"/v1/secrets/{secret}:versions",
        params={"page_size": 3, "page_token": first["next_page_token"]},
    ).json()
    assert [v["version_id"] for v in second["versions"]] == ["p3", "p2", "p1"]
    third = client.get(
        f"/v1/secrets/{secret}:versions",
        params={"page_size": 3, "page_token": second["next_page_token"]},
    ).json()
    assert [v["version_id"] for v in third["versions"]] == ["p0"]
    assert third["next_page_token"] is None

    for size in (1, 2, 7, 100):
        assert [v["version_id"] for v in all_versions(client, secret, size)] == ids[::-1]


def test_stage_move_current_moves_previous(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="one", version_id="v1")
    _put(client, secret, value="two", version_id="v2")
    _put(client, secret, value="three", version_id="v3", stages=["Pending"])
    assert _stages(client, secret) == {"Current": "v2", "Previous": "v1", "Pending": "v3"}

    response = client.post(
        f"/v1/secrets/{secret}:stage", json={"stage": "Current", "move_to_version": "v3"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "name": secret,
        "stages": {"Current": "v3", "Previous": "v2", "Pending": "v3"},
    }
    assert _value(client, secret)["value"] == "three"
    assert _value(client, secret, stage="Previous")["value"] == "two"

    # Finish the rotation: Pending off v3.
    response = client.post(
        f"/v1/secrets/{secret}:stage", json={"stage": "Pending", "remove_from_version": "v3"}
    )
    assert response.json()["stages"] == {"Current": "v3", "Previous": "v2"}

    # Rolling back: Current to v2, Previous follows to v3.
    response = client.post(
        f"/v1/secrets/{secret}:stage", json={"stage": "Current", "move_to_version": "v2"}
    )
    assert response.json()["stages"] == {"Current": "v2", "Previous": "v3"}
    assert _stages(client, secret) == {"Current": "v2", "Previous": "v3"}


def test_stage_move_current_to_itself_changes_nothing(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="one", version_id="v1")
    _put(client, secret, value="two", version_id="v2")
    response = client.post(
        f"/v1/secrets/{secret}:stage", json={"stage": "Current", "move_to_version": "v2"}
    )
    assert response.json()["stages"] == {"Current": "v2", "Previous": "v1"}


def test_custom_stage_move_and_remove(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="one", version_id="v1")
    _put(client, secret, value="two", version_id="v2")

    response = client.post(
        f"/v1/secrets/{secret}:stage", json={"stage": "canary.blue-1", "move_to_version": "v1"}
    )
    assert response.status_code == 200
    assert response.json()["stages"] == {"Current": "v2", "Previous": "v1", "canary.blue-1": "v1"}
    assert _value(client, secret, stage="canary.blue-1")["value"] == "one"

    # Move it on (one version per stage, always).
    moved = client.post(
        f"/v1/secrets/{secret}:stage",
        json={"stage": "canary.blue-1", "move_to_version": "v2", "remove_from_version": "v1"},
    )
    assert moved.json()["stages"] == {"Current": "v2", "Previous": "v1", "canary.blue-1": "v2"}

    # Removing from a version it is not on is refused.
    wrong = client.post(
        f"/v1/secrets/{secret}:stage", json={"stage": "canary.blue-1", "remove_from_version": "v1"}
    )
    assert_error(wrong, 400, "InvalidParameter")

    removed = client.post(
        f"/v1/secrets/{secret}:stage", json={"stage": "canary.blue-1", "remove_from_version": "v2"}
    )
    assert removed.status_code == 200
    assert removed.json()["stages"] == {"Current": "v2", "Previous": "v1"}
    assert_error(
        client.get(f"/v1/secrets/{secret}:value", params={"stage": "canary.blue-1"}),
        404,
        "NotFound",
    )
    listed = {v["version_id"]: v["stages"] for v in all_versions(client, secret)}
    assert listed == {"v2": ["Current"], "v1": ["Previous"]}


def test_put_with_custom_stage_leaves_current(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="one", version_id="v1")
    body = _put(client, secret, value="two", version_id="v2", stages=["Staging"])
    assert body["stages"] == ["Staging"]
    assert _stages(client, secret) == {"Current": "v1", "Staging": "v2"}
    body = _put(client, secret, value="three", version_id="v3", stages=["Current", "Pending"])
    assert sorted(body["stages"]) == ["Current", "Pending"]
    assert _stages(client, secret) == {
        "Current": "v3",
        "Pending": "v3",
        "Previous": "v1",
        "Staging": "v2",
    }


def test_put_with_empty_stage_list_attaches_nothing(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="one", version_id="v1")
    body = _put(client, secret, value="two", version_id="v2", stages=[])
    assert body["stages"] == []
    assert _stages(client, secret) == {"Current": "v1"}
    assert _value(client, secret, version_id="v2")["value"] == "two"


def test_current_cannot_be_removed(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="one", version_id="v1")
    _put(client, secret, value="two", version_id="v2")
    response = client.post(
        f"/v1/secrets/{secret}:stage", json={"stage": "Current", "remove_from_version": "v2"}
    )
    assert_error(response, 400, "InvalidParameter")
    assert _stages(client, secret) == {"Current": "v2", "Previous": "v1"}
    assert _value(client, secret)["value"] == "two"


@pytest.mark.parametrize("stage", ["AWSCURRENT", "ACSCurrent", "current", "awsprevious", "a b", ""])
def test_reserved_spellings_and_bad_stage_names_are_refused(
    client: httpx.Client, secret: str, stage: str
) -> None:
    _put(client, secret, value="one", version_id="v1")
    response = client.post(
        f"/v1/secrets/{secret}:stage", json={"stage": stage, "move_to_version": "v1"}
    )
    assert_error(response, 400, "InvalidParameter")
    response = client.post(f"/v1/secrets/{secret}:versions", json={"value": "x", "stages": [stage]})
    assert_error(response, 400, "InvalidParameter")
    assert _stages(client, secret) == {"Current": "v1"}


def test_previous_cannot_be_put(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="one", version_id="v1")
    response = client.post(
        f"/v1/secrets/{secret}:versions", json={"value": "x", "stages": ["Previous"]}
    )
    assert_error(response, 400, "InvalidParameter")
    assert len(all_versions(client, secret)) == 1


def test_stage_move_to_unknown_version(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="one", version_id="v1")
    response = client.post(
        f"/v1/secrets/{secret}:stage", json={"stage": "Current", "move_to_version": "ghost"}
    )
    body = assert_error(response, 404, "NotFound")
    assert "ghost" in body["message"]
    assert _stages(client, secret) == {"Current": "v1"}


def test_stage_needs_move_or_remove(client: httpx.Client, secret: str) -> None:
    _put(client, secret, value="one", version_id="v1")
    response = client.post(f"/v1/secrets/{secret}:stage", json={"stage": "Custom"})
    assert_error(response, 400, "InvalidParameter")
