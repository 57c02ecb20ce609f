"""Joining a node: ``rotor node join-bundle`` on node 1, ``rotor node join`` for node 2,
then node 2 serves the same PostgreSQL store and the CLI on it works with its own key."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from rotor.store.master_key import format_keys, generate_key, key_id
from tests.cli.conftest import run_cli
from tests.cli.test_cli import ok, one_line_error
from tests.services.server import RunningServer, start_server, stop_server

VALUE = "made through node 1 3c9e"
PASSPHRASE = "tram sofa lemon orbit 1907"
WRONG_PASSPHRASE = "the passphrase is wrong, or the file was changed"


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_passphrase(path: Path, text: str = PASSPHRASE) -> Path:
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def store_key() -> bytes:
    return generate_key()


@pytest.fixture
def node_env(postgres_database: str, store_key: bytes) -> dict[str, str]:
    """What node 1 and the offline commands beside it are given: the store and its key."""
    return {"ROTOR_DATABASE_URL": postgres_database, "ROTOR_MASTER_KEY": b64(store_key)}


@pytest.fixture
def first(tmp_path: Path, node_env: dict[str, str]) -> Iterator[RunningServer]:
    server = start_server(tmp_path / "node-1", env=node_env)
    with server.client() as client:
        client.create_secret("app/db", value=VALUE)
    try:
        yield server
    finally:
        stop_server(server)


def export(tmp_path: Path, env: dict[str, str], *extra: str) -> tuple[Path, Result]:
    bundle = tmp_path / "node-2.rotor-join"
    result = run_cli(
        [
            "node",
            "join-bundle",
            "--output",
            str(bundle),
            "--passphrase-file",
            str(write_passphrase(tmp_path / "passphrase")),
            *extra,
        ],
        env={**env, "XDG_DATA_HOME": str(tmp_path / "xdg")},
    )
    return bundle, result


def join(bundle: Path, data_dir: Path, passphrase: str = PASSPHRASE) -> Result:
    return run_cli(
        ["node", "join", str(bundle), "--data-dir", str(data_dir)],
        env={"ROTOR_JOIN_PASSPHRASE": passphrase},
    )


def test_a_joined_node_serves_the_store_and_its_cli_works(
    tmp_path: Path,
    first: RunningServer,
    node_env: dict[str, str],
    postgres_database: str,
    store_key: bytes,
) -> None:
    bundle, exported = export(tmp_path, node_env)
    assert "Wrote the join bundle" in ok(exported).stdout
    assert mode(bundle) == 0o600
    text = bundle.read_text()

    node_2 = tmp_path / "node-2"
    joined = ok(join(bundle, node_2))
    assert "Joined:" in joined.stdout
    assert mode(node_2) == 0o700
    assert mode(node_2 / "master.key") == 0o600
    assert mode(node_2 / "admin-credentials.json") == 0o600
    assert (node_2 / "master.key").read_text() == format_keys([store_key])
    credentials = json.loads((node_2 / "admin-credentials.json").read_text())
    # Sealed: neither the master key nor the new key's secret is in the file.
    for plain in (b64(store_key), credentials["access_key_secret"], credentials["access_key_id"]):
        assert plain not in text
    assert store_key not in bundle.read_bytes()

    second = start_server(node_2, env={"ROTOR_DATABASE_URL": postgres_database})
    try:
        assert second.access_key_id == credentials["access_key_id"]
        assert second.access_key_id != first.access_key_id
        on_node_2 = {"ROTOR_DATA_DIR": str(node_2), "XDG_DATA_HOME": str(tmp_path / "xdg")}
        assert "app/db" in ok(run_cli(["secret", "list"], env=on_node_2)).stdout
        assert ok(run_cli(["secret", "get", "app/db"], env=on_node_2)).stdout == VALUE
        ok(run_cli(["secret", "create", "app/from-node-2", "--value", "x"], env=on_node_2))
        with first.client() as client:
            assert client.get_value("app/from-node-2").value == "x"
            keys = {key.access_key_id for key in client.list_access_keys("admin")}
            assert keys == {first.access_key_id, second.access_key_id}
            # Node 2's key is disabled alone: node 1's key goes on working on both nodes.
            client.disable_access_key(second.access_key_id)
            assert client.get_value("app/db").value == VALUE
        assert one_line_error(run_cli(["whoami", "--url", first.url], env=on_node_2), 5)
        with second.client(
            access_key_id=first.access_key_id, access_key_secret=first.access_key_secret
        ) as client:
            assert client.get_value("app/db").value == VALUE
    finally:
        stop_server(second)


def test_a_wrong_passphrase_or_a_changed_byte_is_refused_writing_nothing(
    tmp_path: Path, first: RunningServer, node_env: dict[str, str]
) -> None:
    bundle, exported = export(tmp_path, node_env)
    ok(exported)
    node_2 = tmp_path / "node-2"
    line = one_line_error(join(bundle, node_2, "not the passphrase"), 2)
    assert line == f"Error: cannot open the join bundle {bundle}: {WRONG_PASSPHRASE}"
    assert not node_2.exists()

    original = bundle.read_text()
    header, body, _ = original.split("\n")
    middle = len(body) // 2
    changed_body = body[:middle] + ("A" if body[middle] != "A" else "B") + body[middle + 1 :]
    salt_at = header.index('"salt":"') + len('"salt":"')
    changed_header = (
        header[:salt_at] + ("A" if header[salt_at] != "A" else "B") + header[salt_at + 1 :]
    )
    for tampered in (f"{header}\n{changed_body}\n", f"{changed_header}\n{body}\n"):
        bundle.write_text(tampered)
        line = one_line_error(join(bundle, node_2), 2)
        assert line == f"Error: cannot open the join bundle {bundle}: {WRONG_PASSPHRASE}"
        assert not node_2.exists()
    bundle.write_text(original.replace("rotor-join-bundle", "something-else"))
    line = one_line_error(join(bundle, node_2), 2)
    assert line == f"Error: {bundle} is not a rotor join bundle (or it is damaged)"
    assert not node_2.exists()
    bundle.write_text(original)
    ok(join(bundle, node_2))


def test_join_keeps_the_same_key_and_refuses_another(
    tmp_path: Path, first: RunningServer, node_env: dict[str, str], store_key: bytes
) -> None:
    bundle, exported = export(tmp_path, node_env)
    ok(exported)
    same = tmp_path / "same"
    same.mkdir()
    (same / "master.key").write_text(format_keys([store_key]))
    assert "Joined: kept" in ok(join(bundle, same)).stdout
    assert (same / "admin-credentials.json").is_file()

    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other_key = generate_key()
    (other_dir / "master.key").write_text(format_keys([other_key]))
    line = one_line_error(join(bundle, other_dir), 2)
    assert f"{other_dir / 'master.key'} exists and holds other master keys" in line
    assert f"(ids {key_id(other_key)}) than the bundle (ids {key_id(store_key)})" in line
    assert (other_dir / "master.key").read_text() == format_keys([other_key])
    assert not (other_dir / "admin-credentials.json").exists()


def test_join_bundle_refuses_an_empty_passphrase_a_key_not_the_stores_and_an_existing_file(
    tmp_path: Path, first: RunningServer, node_env: dict[str, str], store_key: bytes
) -> None:
    passphrase_file = write_passphrase(tmp_path / "empty", "")
    output = tmp_path / "bundle"
    args = ["node", "join-bundle", "--output", str(output)]
    env = {**node_env, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    empty = run_cli([*args, "--passphrase-file", str(passphrase_file)], env=env)
    assert (
        one_line_error(empty, 2)
        == f"Error: the passphrase from {passphrase_file} is empty: choose one"
    )
    none = run_cli(args, env=env)
    assert "no passphrase for the join bundle: give --passphrase-file" in one_line_error(none, 2)

    other_key = generate_key()
    mismatch = run_cli(
        args, env={**env, "ROTOR_MASTER_KEY": b64(other_key), "ROTOR_JOIN_PASSPHRASE": "p"}
    )
    line = one_line_error(mismatch, 2)
    assert line.startswith("Error: this node's master key does not match the store: ")
    assert f"master key id {key_id(store_key)}, which this node does not have" in line
    assert not output.exists()
    with first.client() as client:  # no key was made for a bundle not written
        assert [k.access_key_id for k in client.list_access_keys("admin")] == [first.access_key_id]

    output.write_text("something else")
    exists = run_cli(args, env={**env, "ROTOR_JOIN_PASSPHRASE": "p"})
    assert (
        one_line_error(exists, 2) == f"Error: {output} exists: remove it, or give another --output"
    )
    assert output.read_text() == "something else"


def test_a_served_data_dir_without_credentials_says_how_to_join(tmp_path: Path) -> None:
    """The CLI on a node whose data dir has a server.json but no admin key."""
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    (data_dir / "server.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 1}))
    env = {"ROTOR_DATA_DIR": str(data_dir), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    line = one_line_error(run_cli(["secret", "list"], env=env), 2)
    assert line == (
        f"Error: no access key: {data_dir} has the server.json of a `rotor serve` but no "
        "admin-credentials.json (a node of a store another node made?): run `rotor node "
        f"join-bundle --output FILE` on an existing node and `rotor node join FILE --data-dir "
        f"{data_dir}` here, or set ROTOR_ACCESS_KEY_ID and ROTOR_ACCESS_KEY_SECRET"
    )
