"""The client against a real ``rotor serve``: every operation, and errors as rotor.errors classes."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from typing import assert_type

import pytest

import rotor.client
from rotor import errors
from tests.services.server import RunningServer


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_create_describe_and_read(client: rotor.client.Client, name: str) -> None:
    info = client.create_secret(
        name, value="s3cret", description="db password", tags={"team": "payments"}
    )
    assert_type(info, rotor.client.SecretInfo)
    assert info.name == name
    assert info.type == "Generic"
    assert info.description == "db password"
    assert dict(info.tags) == {"team": "payments"}
    assert info.delete_after is None
    assert set(info.stages) == {"Current"}
    assert info.created_at.tzinfo is not None
    assert abs(info.created_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)

    value = client.get_value(name)
    assert_type(value, rotor.client.SecretValue)
    assert value.value == "s3cret"
    assert value.version_id == info.stages["Current"]
    assert value.stages == ("Current",)
    assert client.describe_secret(name) == info


def test_value_never_in_repr(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="hunter2-do-not-print")
    value = client.get_value(name)
    assert "hunter2" not in repr(value)
    assert "hunter2" not in str(value)


def test_put_versions_and_stages(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="one", version_id="v1")
    version = client.put_value(name, "two", version_id="v2")
    assert_type(version, rotor.client.VersionInfo)
    assert (version.name, version.version_id, version.type) == (name, "v2", "text")
    assert version.stages == ("Current",)

    assert client.get_value(name).value == "two"
    assert client.get_value(name, stage="Previous").value == "one"
    assert client.get_value(name, version_id="v1").value == "one"

    pending = client.put_value(name, "three", version_id="v3", stages=["Pending"])
    assert pending.stages == ("Pending",)
    assert client.get_value(name).value == "two"

    moved = client.update_stage(name, "Current", move_to_version="v3")
    assert_type(moved, rotor.client.SecretStages)
    assert moved.stages["Current"] == "v3"
    assert moved.stages["Previous"] == "v2"
    assert client.get_value(name).value == "three"

    removed = client.update_stage(name, "Pending", remove_from_version="v3")
    assert "Pending" not in removed.stages

    versions = list(client.iter_versions(name))
    assert [v.version_id for v in versions] == ["v3", "v2", "v1"]
    assert versions[0].stages == ("Current",)


def test_put_is_idempotent_per_version_id(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name)
    first = client.put_value(name, "value", version_id="same")
    again = client.put_value(name, "value", version_id="same")
    assert again.version_id == first.version_id
    assert [v.version_id for v in client.iter_versions(name)] == ["same"]
    with pytest.raises(errors.VersionConflict):
        client.put_value(name, "another value", version_id="same")


def test_put_without_version_id_picks_one(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name)
    a = client.put_value(name, "a")
    b = client.put_value(name, "b")
    assert a.version_id != b.version_id


def test_binary_round_trip(client: rotor.client.Client, name: str) -> None:
    blob = bytes(range(256)) * 4
    client.create_secret(name, value=blob)
    value = client.get_value(name)
    assert isinstance(value.value, bytes)
    assert value.value == blob
    version = client.put_value(name, b"\x00\xff")
    assert version.type == "binary"
    assert client.get_value(name).value == b"\x00\xff"
    assert [v.type for v in client.iter_versions(name)] == ["binary", "binary"]


def test_get_json(client: rotor.client.Client, name: str) -> None:
    doc = {"AccountName": "app", "AccountPassword": "pw", "Port": 3306}
    client.create_secret(name, value=json.dumps(doc))
    assert client.get_json(name) == doc
    client.put_value(name, "not json: pw-in-here")
    with pytest.raises(errors.InvalidParameter) as caught:
        client.get_json(name)
    assert "pw-in-here" not in str(caught.value)
    assert caught.value.__cause__ is None
    client.put_value(name, "[1, 2]")
    with pytest.raises(errors.InvalidParameter, match="JSON object"):
        client.get_json(name)


def test_update_secret(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, tags={"a": "1"})
    updated = client.update_secret(name, description="new", tags={"b": "2"})
    assert updated.description == "new"
    assert dict(updated.tags) == {"b": "2"}


def test_list_pages_and_filters(client: rotor.client.Client, name: str) -> None:
    prefix = name.rsplit("/", 1)[0] + "/"
    for i in range(5):
        client.create_secret(f"{prefix}{i}", tags={"parity": "even" if i % 2 == 0 else "odd"})
    page = client.list_secrets(prefix=prefix, page_size=2)
    assert_type(page, rotor.client.Page[rotor.client.SecretInfo])
    assert [s.name for s in page.items] == [f"{prefix}0", f"{prefix}1"]
    assert page.next_page_token is not None
    names = [s.name for s in client.iter_secrets(prefix=prefix, page_size=2)]
    assert names == [f"{prefix}{i}" for i in range(5)]
    even = [s.name for s in client.iter_secrets(prefix=prefix, tags={"parity": "even"})]
    assert even == [f"{prefix}0", f"{prefix}2", f"{prefix}4"]


def test_delete_and_restore(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="v")
    scheduled = client.delete_secret(name, recovery_days=7)
    assert scheduled.delete_after is not None
    remaining = scheduled.delete_after - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=6, hours=23) < remaining <= dt.timedelta(days=7)
    with pytest.raises(errors.SecretPendingDeletion):
        client.get_value(name)
    assert client.describe_secret(name).delete_after == scheduled.delete_after
    prefix = name.rsplit("/", 1)[0]
    assert [s.name for s in client.iter_secrets(prefix=prefix)] == []
    listed = client.iter_secrets(prefix=prefix, include_pending_deletion=True)
    assert [s.name for s in listed] == [name]

    restored = client.restore_secret(name)
    assert restored.delete_after is None
    assert client.get_value(name).value == "v"

    client.delete_secret(name, force=True)
    with pytest.raises(errors.NotFound):
        client.describe_secret(name)


def test_delete_refuses_both_window_and_force(client: rotor.client.Client, name: str) -> None:
    with pytest.raises(errors.InvalidParameter, match="not both"):
        client.delete_secret(name, recovery_days=7, force=True)


def test_generate_password(client: rotor.client.Client) -> None:
    password = client.generate_password(length=40, exclude_punctuation=True)
    assert_type(password, str)
    assert len(password) == 40
    assert password.isalnum()
    with pytest.raises(errors.InvalidParameter):
        client.generate_password(
            exclude_uppercase=True,
            exclude_lowercase=True,
            exclude_numbers=True,
            exclude_punctuation=True,
        )


def test_health(rotor_server: RunningServer) -> None:
    # No credentials are needed for the health endpoints.
    with rotor.client.Client(rotor_server.url, environ={"XDG_DATA_HOME": "/nonexistent"}) as c:
        assert c.healthz() == "ok"
        assert c.readyz() == "ready"
        with pytest.raises(errors.InvalidParameter, match="ROTOR_ACCESS_KEY_ID"):
            c.describe_secret("anything")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c, n: c.describe_secret(n), errors.NotFound),
        (lambda c, n: c.get_value(n), errors.NotFound),
        (lambda c, n: c.put_value(n, "x"), errors.NotFound),
        (lambda c, n: c.delete_secret(n), errors.NotFound),
    ],
)
def test_unknown_secret(
    client: rotor.client.Client, name: str, call: object, error: type[errors.RotorError]
) -> None:
    with pytest.raises(error) as caught:
        call(client, name)  # type: ignore[operator]
    assert name in caught.value.message


def test_unknown_stage_and_version(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name, value="v", version_id="v1")
    with pytest.raises(errors.NotFound):
        client.get_value(name, stage="Pending")
    with pytest.raises(errors.NotFound):
        client.get_value(name, version_id="nope")
    with pytest.raises(errors.NotFound):
        client.get_value(name, stage="Previous", version_id="v1")


def test_conflicts(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name)
    with pytest.raises(errors.SecretExists) as caught:
        client.create_secret(name)
    assert isinstance(caught.value, errors.Conflict)
    assert caught.value.exit_code == 4


def test_invalid_names(client: rotor.client.Client) -> None:
    # In a path, refused before sending; in a body (create), refused by the server.
    with pytest.raises(errors.InvalidParameter, match="invalid secret name"):
        client.get_value("has space")
    with pytest.raises(errors.InvalidParameter, match="invalid secret name"):
        client.describe_secret("a:value")
    with pytest.raises(errors.InvalidParameter):
        client.create_secret("has space")
    with pytest.raises(errors.InvalidParameter):
        client.create_secret("x" * 193)


def test_dot_segments_never_reach_another_secret(client: rotor.client.Client, name: str) -> None:
    base = name.rsplit("/", 1)[0]
    client.create_secret(f"{base}/b", value="the other secret")
    with pytest.raises(errors.InvalidParameter, match=r"'\.' or '\.\.'"):
        client.create_secret(f"{base}/a/../b", value="dots")
    with pytest.raises(errors.InvalidParameter):
        client.get_value(f"{base}/a/../b")
    assert client.get_value(f"{base}/b").value == "the other secret"


def test_value_too_large(client: rotor.client.Client, name: str) -> None:
    client.create_secret(name)
    with pytest.raises(errors.ValueTooLarge):
        client.put_value(name, "x" * (64 * 1024 + 1))


def test_wrong_credentials(rotor_server: RunningServer, name: str) -> None:
    with (
        rotor_server.client(access_key_secret="wrong-secret-value") as c,
        pytest.raises(errors.Unauthenticated) as caught,
    ):
        c.describe_secret(name)
    assert caught.value.exit_code == 5
    assert "wrong-secret-value" not in str(caught.value)
    assert rotor_server.access_key_secret not in str(caught.value)


def test_unreachable_server_after_retries() -> None:
    url = closed_port_url()
    retry = rotor.client.Retry(attempts=2, backoff=0.05, max_backoff=0.1)
    with rotor.client.Client(url, access_key_id="k", access_key_secret="s", retry=retry) as c:
        started = time.monotonic()
        with pytest.raises(errors.ServerUnreachable) as caught:
            c.describe_secret("x")
        elapsed = time.monotonic() - started
    assert url in caught.value.message
    assert caught.value.exit_code == 7
    assert 0.05 <= elapsed < 5  # two backoffs: 0.025-0.05 s, then 0.05-0.1 s


def test_default_timeouts() -> None:
    timeout = rotor.client.DEFAULT_TIMEOUT
    assert (timeout.connect, timeout.read) == (5.0, 30.0)
    with rotor.client.Client("http://127.0.0.1:1", access_key_id="k", access_key_secret="s") as c:
        assert c._timeout == timeout
