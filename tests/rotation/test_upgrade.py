"""A store of the first release, whose rotations named ``python-handler`` and ``http-function``
with their handler and webhook in the parameters, keeps rotating after the upgrade: the first
start registers what they use (owned by the admin) and the configurations name it."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from rotor.settings import Settings
from rotor.store import secrets
from rotor.store.database import MIGRATIONS, Store
from tests.rotation.test_server_rotation import FAST, HANDLER, _admin, _Endpoint, _wait_rotation
from tests.services.server import start_server, stop_server


def _first_release_store(data_dir: Path, handler: Path, state: Path, hook_url: str) -> None:
    """Secrets, then the schema taken back to 0004 and rotations configured as it kept them."""
    store = Store.open(Settings.load({"data_dir": data_dir}, environ={}))
    secrets.create_secret(store, name="svc/legacy-py", value="initial")
    secrets.create_secret(store, name="svc/legacy-http", value="initial")
    hook = {"Url": hook_url, "Headers": {"Authorization": "Bearer hook-token"}}
    secrets.create_secret(store, name="hooks/legacy", value=json.dumps(hook))
    with store.engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
        for name, function, parameters in (
            (
                "svc/legacy-py",
                "python-handler",
                {"Handler": f"{handler}:handler", "StateDir": str(state)},
            ),
            ("svc/legacy-http", "http-function", {"WebhookSecret": "hooks/legacy"}),
        ):
            secret_id = conn.execute(
                sa.text("SELECT id FROM secrets WHERE name = :n"), {"n": name}
            ).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO rotation_configs (secret_id, enabled, function, parameters, "
                    "enabled_at) VALUES (:id, 1, :f, :p, CURRENT_TIMESTAMP)"
                ),
                {"id": secret_id, "f": function, "p": json.dumps(parameters)},
            )
    store.close()


def test_first_release_rotations_are_registered_and_keep_rotating(tmp_path: Path) -> None:
    (tmp_path / "handlers").mkdir()
    handler = tmp_path / "handlers" / "target_handler.py"
    handler.write_text(HANDLER)
    state = tmp_path / "state"
    state.mkdir()
    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=endpoint.serve_forever, daemon=True)
    thread.start()
    data = tmp_path / f"data-{uuid.uuid4().hex[:6]}"
    first = start_server(data, env=FAST)  # the admin principal, as a first release made it
    stop_server(first)
    _first_release_store(data, handler, state, f"http://127.0.0.1:{endpoint.server_address[1]}/")
    server = start_server(data, env=FAST)
    try:
        with _admin(server) as http:
            functions = {f["kind"]: f for f in http.get("/v1/functions").json()["functions"]}
            assert set(functions) == {"python-handler", "http-function"}
            assert functions["python-handler"]["handler"] == f"{handler}:handler"
            assert functions["http-function"]["url"].startswith("http://127.0.0.1:")
            assert functions["http-function"]["headers_secret"] == "hooks/legacy"
            assert {f["registered_by"] for f in functions.values()} == {"admin"}
            for name, kind in (
                ("svc/legacy-py", "python-handler"),
                ("svc/legacy-http", "http-function"),
            ):
                config = http.get(f"/v1/secrets/{name}:rotation").json()
                assert config["function"] == functions[kind]["name"]
                assert not {"Handler", "WebhookSecret"} & set(config["parameters"])
                started = http.post(f"/v1/secrets/{name}:rotate", json={}).json()
                done = _wait_rotation(http, started["id"])
                assert done["status"] == "succeeded", done
    finally:
        stop_server(server)
        endpoint.shutdown()
        endpoint.server_close()
        thread.join()
