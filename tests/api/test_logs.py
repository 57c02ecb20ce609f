"""The server's log lines (``--log-format text|json``), against a real ``rotor serve``: one
format for every logger, the request and rotation a line concerns, and no credential.

The lines to look for are caused honestly: a registered handler that raises fails its
rotation (the engine's attempt lines and the final ERROR line), and a PostgreSQL store
dropped under a running node makes ``GET /readyz`` a 503 whose cause is logged.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import secrets
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg import sql

from rotor.api import logs
from rotor.settings import Settings
from tests.services.postgres import PostgresServer, temporary_database
from tests.services.server import (
    RunningServer,
    secret_values_leaked,
    start_server,
    stop_server,
)

FAST = {
    "ROTOR_ROTATION_RETRY_SECONDS": "0.1",
    "ROTOR_SCHEDULER_INTERVAL_SECONDS": "0.2",
}
DEADLINE = 60.0
#: The fields every JSON line has.
ALWAYS = {"time", "level", "logger", "message", "node"}
#: A line of the text format; the context fields are peeled off its end.
TEXT_LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?P<level>[A-Z]+) \[(?P<node>[^\]]+)\] "
    r"(?P<logger>[\w.]+): (?P<message>.*)"
)
TEXT_CONTEXT = re.compile(r"(?P<before>.*) (?P<name>request_id|rotation_id|secret)=(?P<value>\S+)")


def _credentials() -> dict[str, str]:
    """One fresh credential of each shape the redaction filter knows."""
    return {
        "userinfo": f"u{secrets.token_hex(8)}",
        "bearer": f"AK{secrets.token_hex(6)}.{secrets.token_hex(12)}",
        "authorization": secrets.token_hex(10),
        "password": f"pw{secrets.token_hex(8)}",
    }


def _says_each(found: dict[str, str]) -> str:
    """A message carrying each of ``found``, in the shape each is known by."""
    return (
        f"cannot log in to postgresql+psycopg://app:{found['userinfo']}@db.internal:5432/app; "
        f"the hook answered 401 to Authorization: Basic {found['authorization']}; "
        f"retry with Bearer {found['bearer']} or password={found['password']}"
    )


# -- reading a server's log ------------------------------------------------------------


def _output_lines(server: RunningServer) -> list[str]:
    """The server's output, without the header the test harness writes before it."""
    text = server.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if not line.startswith("--- ")]


def _log_lines(server: RunningServer) -> list[str]:
    """The log lines: all but what ``rotor serve`` prints on stdout when it starts."""
    return [line for line in _output_lines(server) if not line.startswith("rotor: ")]


def _parse_json(line: str) -> dict[str, Any]:
    parsed = json.loads(line)
    assert isinstance(parsed, dict), line
    return parsed


def _parse_text(line: str) -> dict[str, Any]:
    """A text line as the fields of its JSON twin; continuation lines (a traceback, a
    message on several lines) are not lines of their own."""
    match = TEXT_LINE.fullmatch(line)
    if match is None:
        return {}
    fields: dict[str, Any] = match.groupdict()
    rest = fields["message"]
    while (context := TEXT_CONTEXT.fullmatch(rest)) is not None:
        fields[context["name"]] = context["value"]
        rest = context["before"]
    fields["message"] = rest
    return fields


PARSERS: dict[str, Callable[[str], dict[str, Any]]] = {"json": _parse_json, "text": _parse_text}


def _records(server: RunningServer, log_format: str) -> list[dict[str, Any]]:
    parsed = (PARSERS[log_format](line) for line in _log_lines(server))
    return [record for record in parsed if record]


def _wait_for_record(
    server: RunningServer, log_format: str, wanted: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = [r for r in _records(server, log_format) if wanted(r)]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no log line {what} within {DEADLINE:.0f} s:\n{server.output()}")


# -- driving a server ------------------------------------------------------------------


def _admin(server: RunningServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.access_key_id}.{server.access_key_secret}"},
        timeout=30,
    )


def _failed_rotation(http: httpx.Client, tmp_path: Path, name: str, says: str) -> dict[str, Any]:
    """Rotate ``name`` with a registered handler that raises, saying ``says``; wait for it
    to fail."""
    handler = tmp_path / "raising_handler.py"
    handler.write_text(
        textwrap.dedent(
            f"""
            def handler(event, context):
                raise ConnectionError({says!r})
            """
        )
    )
    created = http.post("/v1/secrets", json={"name": name, "value": secrets.token_hex(16)})
    assert created.status_code == 201, created.text
    registered = http.put(
        "/v1/functions/raising", json={"kind": "python-handler", "handler": f"{handler}:handler"}
    )
    assert registered.status_code in (200, 201), registered.text
    configured = http.put(f"/v1/secrets/{name}:rotation", json={"function": "raising"})
    assert configured.status_code == 200, configured.text
    rotation_id = configured.json()["started"]["id"]
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        rotation: dict[str, Any] = http.get(f"/v1/rotations/{rotation_id}").json()
        if rotation["status"] != "running":
            assert rotation["status"] == "failed", rotation
            return rotation
        time.sleep(0.1)
    raise AssertionError(f"rotation {rotation_id} still running after {DEADLINE:.0f} s")


@pytest.fixture
def json_server(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(
        tmp_path / "data",
        env={**FAST, "ROTOR_LOG_FORMAT": "json", "ROTOR_NODE_ID": "json-node"},
    )
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def postgres_store(postgres_server: PostgresServer) -> Iterator[tuple[str, Callable[[], None]]]:
    """The URL of a fresh PostgreSQL database, and a call that drops it under its users."""
    with temporary_database(postgres_server) as name:

        def drop() -> None:
            with postgres_server.connect() as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))

        yield postgres_server.url(name), drop


# -- the tests -------------------------------------------------------------------------


def test_every_line_of_a_json_server_is_one_json_object(json_server: RunningServer) -> None:
    with _admin(json_server) as http:
        assert http.post("/v1/secrets", json={"name": "logs/app", "value": "v"}).status_code == 201
        assert http.get("/v1/secrets/logs/app:value").status_code == 200
        assert http.get("/v1/secrets/logs/missing").status_code == 404
    assert stop_server(json_server) == 0
    output = _output_lines(json_server)
    # What rotor serve prints on stdout for whoever started it, before it serves.
    printed = [line for line in output if line.startswith("rotor: ")]
    assert [line.split(" ")[1] for line in printed] == ["initialised;", "serving"], printed
    records = [_parse_json(line) for line in _log_lines(json_server)]
    for record in records:
        assert set(record) >= ALWAYS, record
        assert set(record) <= ALWAYS | {"request_id", "rotation_id", "secret"}, record
        assert record["node"] == "json-node", record
        assert record["time"].endswith("Z"), record
        assert dt.datetime.fromisoformat(record["time"]).utcoffset() == dt.timedelta(0)
    said = {(r["logger"], r["message"]) for r in records}
    pid = json_server.process.pid
    # uvicorn's own lines, the migrations' (alembic) and rotor's, all in the one format.
    assert ("uvicorn.error", f"Started server process [{pid}]") in said
    assert ("uvicorn.error", "Application startup complete.") in said
    assert ("uvicorn.error", f"Finished server process [{pid}]") in said
    assert any(logger == "alembic.runtime.migration" for logger, _ in said), said
    assert any(logger.startswith("rotor.") for logger, _ in said), said
    assert not secret_values_leaked(json_server)


def test_each_worker_process_writes_json_lines_naming_itself(tmp_path: Path) -> None:
    env = {"ROTOR_LOG_FORMAT": "json", "ROTOR_NODE_ID": "pool"}
    server = start_server(tmp_path / "data", env=env, extra_args=["--workers", "2"])
    try:
        for node in ("pool/1", "pool/2"):
            _wait_for_record(
                server,
                "json",
                lambda r, node=node: (
                    (r["node"], r["message"]) == (node, "Application startup complete.")
                ),
                f"from the startup of worker {node}",
            )
    finally:
        stop_server(server)
    records = [_parse_json(line) for line in _log_lines(server)]
    started = {r["node"] for r in records if r["message"].startswith("Started server process")}
    assert started == {"pool/1", "pool/2"}, records
    assert {r["node"] for r in records} <= {"pool", "pool/1", "pool/2"}


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_request_and_a_rotation_are_named_on_their_lines(
    tmp_path: Path,
    postgres_store: tuple[str, Callable[[], None]],
    postgres_server: PostgresServer,
    log_format: str,
) -> None:
    url, drop = postgres_store
    env = {**FAST, "ROTOR_DATABASE_URL": url, "ROTOR_NODE_ID": f"{log_format}-node"}
    server = start_server(tmp_path / "data", env=env, extra_args=["--log-format", log_format])
    try:
        with _admin(server) as http:
            rotation = _failed_rotation(http, tmp_path, "logs/failing", "target unreachable")
            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text
            drop()
            gone = http.get("/readyz")
        assert gone.status_code == 503, gone.text
        request_id = gone.headers["X-Request-Id"]
        assert gone.json()["request_id"] == request_id
        # The 503's line is written while the request is served: it carries its id.
        failed_request = _wait_for_record(
            server,
            log_format,
            lambda r: r.get("request_id") == request_id,
            f"with request_id {request_id}",
        )
        assert failed_request["level"] == "ERROR", failed_request
        assert failed_request["logger"] == "rotor.api", failed_request
        assert failed_request["message"].startswith("ServiceUnavailable on GET /readyz"), (
            failed_request
        )
        assert failed_request["node"] == f"{log_format}-node"
        assert "rotation_id" not in failed_request
        if log_format == "json":
            # Logged with its cause: the exception's type and Python's traceback.
            assert failed_request["exc_type"] == "rotor.errors.ServiceUnavailable"
            assert "OperationalError" in failed_request["traceback"]
        # The rotation's final line names it and its secret, from the engine's thread.
        (final,) = [
            r for r in _records(server, log_format) if r["logger"] == "rotor.rotation.outcomes"
        ]
        assert final["level"] == "ERROR", final
        assert final["message"].startswith(f"rotation {rotation['id']} of secret logs/failing ")
        assert (final["rotation_id"], final["secret"]) == (rotation["id"], "logs/failing")
        # Every line of the rotation names it, and none the request that started it.
        engine = [r for r in _records(server, log_format) if r["logger"] == "rotor.rotation.engine"]
        assert len(engine) == 3, engine  # one per attempt
        for record in (final, *engine):
            assert record["rotation_id"] == rotation["id"], record
            assert "request_id" not in record, record
        # A line that concerns neither (uvicorn's start) carries neither.
        started = next(r for r in _records(server, log_format) if r["logger"] == "uvicorn.error")
        assert not {"request_id", "rotation_id", "secret"} & set(started), started
    finally:
        stop_server(server)
    assert postgres_server.password not in server.log_path.read_text()


def test_a_credential_a_rotation_reports_is_redacted_from_the_log(
    json_server: RunningServer, tmp_path: Path
) -> None:
    credentials = _credentials()
    with _admin(json_server) as http:
        rotation = _failed_rotation(http, tmp_path, "logs/leaky", _says_each(credentials))
    # The engine logs what each attempt said: credentials blanked out, the rest kept.
    attempts = [
        r
        for r in _records(json_server, "json")
        if r["logger"] == "rotor.rotation.engine" and r.get("rotation_id") == rotation["id"]
    ]
    assert attempts, json_server.output()
    for record in attempts:
        message = record["message"]
        assert "postgresql+psycopg://***@db.internal:5432/app" in message, message
        assert "Authorization: ***" in message, message
        assert "Bearer ***" in message, message
        assert "password=***" in message, message
    assert stop_server(json_server) == 0
    log = json_server.log_path.read_text()
    assert [kind for kind, value in credentials.items() if value in log] == []
    assert not secret_values_leaked(json_server)


def test_the_redaction_filter_blanks_each_shape_of_credential(tmp_path: Path) -> None:
    credentials = _credentials()
    settings = Settings.load({"data_dir": tmp_path, "log_format": "json"}, environ={})
    handler = logs.handler(settings)
    stream = io.StringIO()
    handler.setStream(stream)
    logger = logging.getLogger("tests.api.test_logs.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.warning("webhook %s answered 500", f"https://hook:{credentials['userinfo']}@h.test/")
        logger.warning("sent Authorization: Bearer %s", credentials["bearer"])
        logger.warning("headers {'authorization': 'Basic %s'}", credentials["authorization"])
        logger.warning('login {"AccountPassword": "%s"} refused', credentials["password"])
        logger.warning("dsn host=db password=%s user=app", credentials["password"])
        try:
            raise ConnectionError(_says_each(credentials))
        except ConnectionError:
            logger.exception("unexpected error")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        "webhook https://***@h.test/ answered 500",
        "sent Authorization: ***",
        "headers {'authorization': '***'}",
        'login {"AccountPassword": "***"} refused',
        "dsn host=db password=*** user=app",
        "unexpected error",
    ]
    assert lines[-1]["exc_type"] == "ConnectionError"
    assert "postgresql+psycopg://***@db.internal:5432/app" in lines[-1]["traceback"]
    assert "Bearer ***" in lines[-1]["traceback"]
    assert "password=***" in lines[-1]["traceback"]
    assert not {"exc_type", "traceback"} & set(lines[0])
    assert [kind for kind, value in credentials.items() if value in stream.getvalue()] == []
