"""The server against its own OpenAPI document: schemathesis generates requests from
``/openapi.json`` (valid ones and invalid ones) and checks every answer.

For each operation: no 5xx, no status the document does not list, and every response
(the error envelope with its documented codes included) conforms to the document's
schema; a request the document calls invalid is refused with a 4xx.

It runs on a server of its own (a temp data dir), as its admin: generated requests
create and delete secrets, principals, keys and policies at random. Requests that
would lock the test out are skipped, explicitly (:func:`locks_out`): deleting the admin
principal (the server refuses that anyway), detaching a policy from it, replacing or
deleting a policy it holds, and disabling or deleting its access key. The number of
examples is bounded, and generation is deterministic, so a run does not depend on luck.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from rotor.api.app import create_app
from rotor.settings import Settings
from tests.services.server import RunningServer

#: Examples per operation beside schemathesis's own explicit (coverage) cases; about 40
#: operations, so the whole run stays around a minute on two cores.
EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def contract_server(module_rotor_server: RunningServer) -> RunningServer:
    return module_rotor_server


@pytest.fixture(scope="module")
def bearer(contract_server: RunningServer) -> str:
    return f"Bearer {contract_server.access_key_id}.{contract_server.access_key_secret}"


@pytest.fixture(scope="module")
def admin(contract_server: RunningServer, bearer: str) -> dict[str, Any]:
    """Who the test is: its principal, key and policies (what it must not lose)."""
    response = httpx.get(
        f"{contract_server.url}/v1/whoami", headers={"Authorization": bearer}, timeout=30
    )
    assert response.status_code == 200, response.text
    me: dict[str, Any] = response.json()
    assert me["policies"], me
    return me


def _document() -> dict[str, Any]:
    """The document the server serves, built in-process: schemathesis parametrizes at
    collection, before any server runs (its fixture-based loader needs pytest < 9)."""
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings.load({"data_dir": Path(data_dir)}, environ={})).app
        try:
            return app.openapi()
        finally:
            app.state.store.close()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
# A /v1 route ignores a query parameter it does not take (docs/reference/api.md): not a
# negative case. And the same cases every run, whatever the server answered before (the
# adaptive generation otherwise made a case like `GET /v1/secrets?=0` appear only at times).
schema.config.generation.update(allow_extra_parameters=False, deterministic=True)


def test_the_server_serves_this_document(contract_server: RunningServer) -> None:
    served = httpx.get(f"{contract_server.url}/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == DOCUMENT


def locks_out(case: schemathesis.Case, admin: dict[str, Any]) -> bool:
    """Whether the request could take the test's own access away."""
    method, path = case.method.upper(), case.operation.path
    params = case.path_parameters or {}
    if path.startswith("/v1/principals/{name}") and method == "DELETE":
        # The principal itself, or one of its policies.
        return params.get("name") == admin["principal"]
    if path.startswith("/v1/policies/{name}") and method in ("PUT", "DELETE"):
        return params.get("name") in admin["policies"]
    if path.startswith("/v1/access-keys/{key_id}"):
        return params.get("key_id") == admin["access_key_id"]
    return False


def test_locks_out_guards_the_admin(admin: dict[str, Any]) -> None:
    """The guard above does recognise the requests it is there for."""
    policy = admin["policies"][0]
    cases = [
        ("/v1/principals/{name}", "DELETE", {"name": admin["principal"]}),
        ("/v1/principals/{name}/policies/{policy}", "DELETE", {"name": admin["principal"]}),
        ("/v1/policies/{name}", "PUT", {"name": policy}),
        ("/v1/policies/{name}", "DELETE", {"name": policy}),
        ("/v1/access-keys/{key_id}:disable", "POST", {"key_id": admin["access_key_id"]}),
        ("/v1/access-keys/{key_id}", "DELETE", {"key_id": admin["access_key_id"]}),
    ]
    for path, method, params in cases:
        operation = schema[path][method]
        case = operation.Case(path_parameters={**params, "policy": policy})
        assert locks_out(case, admin), (method, path)
    harmless = schema["/v1/principals/{name}"]["DELETE"].Case(path_parameters={"name": "x"})
    assert not locks_out(harmless, admin)


def without_long_polls(case: schemathesis.Case) -> None:
    """Make a valid ``wait`` of the event log 0: a long poll waits that long for an event
    that no request here need write (tests/api/test_events.py tests the wait)."""
    wait = (case.query or {}).get("wait")
    if case.operation.path != "/v1/events" or type(wait) not in (int, str):
        return
    if str(wait).isdecimal() and 0 < int(wait) <= 30:  # as an int, or as its digits
        case.query["wait"] = type(wait)(0)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_server_answers_as_documented(
    case: schemathesis.Case, contract_server: RunningServer, bearer: str, admin: dict[str, Any]
) -> None:
    if locks_out(case, admin):
        return
    without_long_polls(case)
    case.call_and_validate(
        base_url=contract_server.url,
        headers={"Authorization": bearer},
        checks=CHECKS,
        timeout=30,
    )
