"""A node whose master key is not the store's is refused at start, and changes nothing.

Two ``rotor serve`` processes on one PostgreSQL database: the second, given another
master key (in ``ROTOR_MASTER_KEY``, or a ``master.key`` it would make itself), must not
start and answer ``DecryptionFailed`` to every read; it exits 2 with one line saying
which key the store needs, before it writes anything to the store or its data dir.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from rotor.store.master_key import generate_key, key_id
from tests.services.server import server_env, start_server, stop_server


def serve(data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rotor", "serve", "--data-dir", str(data_dir), "--port", "0"],
        env=server_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def store_rows(database_url: str) -> dict[str, list[str]]:
    """Every row of every table of the store, as text, to compare before and after."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {
                name: sorted(
                    repr(tuple(row)) for row in conn.execute(sa.text(f'SELECT * FROM "{name}"'))
                )
                for name in sa.inspect(conn).get_table_names()
            }
    finally:
        engine.dispose()


def test_a_node_with_another_master_key_is_refused_at_start(
    tmp_path: Path, postgres_database: str
) -> None:
    store_key, other_key = generate_key(), generate_key()
    first = start_server(
        tmp_path / "node-1",
        env={
            "ROTOR_DATABASE_URL": postgres_database,
            "ROTOR_MASTER_KEY": base64.b64encode(store_key).decode(),
        },
    )
    try:
        with first.client() as client:
            client.create_secret("shared/db", value="written through node 1")
        refused = serve(
            tmp_path / "node-2",
            {
                "ROTOR_DATABASE_URL": postgres_database,
                "ROTOR_MASTER_KEY": base64.b64encode(other_key).decode(),
            },
        )
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.strip().splitlines() == [
            "Error: this node's master key does not match the store: its data keys are "
            f"wrapped under master key id {key_id(store_key)}, which this node does not have "
            f"(its keys, from ROTOR_MASTER_KEY: {key_id(other_key)}); give it the store's "
            f"master key (ROTOR_MASTER_KEY or {tmp_path / 'node-2' / 'master.key'}), e.g. "
            "with `rotor node join`"
        ]
        assert refused.stdout == ""
        with first.client() as client:  # node 1 goes on serving
            assert client.get_value("shared/db").value == "written through node 1"
    finally:
        stop_server(first)


def test_a_node_without_a_master_key_makes_none_and_writes_nothing(
    tmp_path: Path, postgres_database: str
) -> None:
    """Without ROTOR_MASTER_KEY a node would make a master.key of its own: not for a store
    whose data keys are wrapped already, which that key could never read."""
    store_key = generate_key()
    first = start_server(
        tmp_path / "node-1",
        env={
            "ROTOR_DATABASE_URL": postgres_database,
            "ROTOR_MASTER_KEY": base64.b64encode(store_key).decode(),
        },
    )
    try:
        with first.client() as client:
            client.create_secret("shared/db", value="written through node 1")
    finally:
        stop_server(first)
    before = store_rows(postgres_database)
    data_dir = tmp_path / "node-2"
    refused = serve(data_dir, {"ROTOR_DATABASE_URL": postgres_database})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "Error: this node's master key does not match the store: its data keys are "
        f"wrapped under master key id {key_id(store_key)}, which this node does not have "
        f"(it has none: no ROTOR_MASTER_KEY and no {data_dir / 'master.key'}); give it the "
        f"store's master key (ROTOR_MASTER_KEY or {data_dir / 'master.key'}), e.g. with "
        "`rotor node join`"
    ]
    assert store_rows(postgres_database) == before
    assert not (data_dir / "master.key").exists()
    assert not (data_dir / "server.json").exists()
    assert not (data_dir / "admin-credentials.json").exists()
