"""The shape of ``/openapi.json``: one error envelope, the failures each operation has,
no 422, and the rules for names, ids and pages (those of the store's validators)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rotor import errors
from rotor.api import openapi
from rotor.api.app import create_app
from rotor.settings import Settings
from rotor.store import functions, names, principals

V1_STATUSES = {"400", "401", "413", "500", "503"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = Path(tmp_path_factory.mktemp("openapi"))
    app = create_app(Settings.load({"data_dir": data_dir}, environ={})).app
    try:
        yield app.openapi()
    finally:
        app.state.store.close()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


def test_no_operation_documents_422(document: dict[str, Any]) -> None:
    assert [(m, p) for m, p, op in _operations(document) if "422" in op["responses"]] == []
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "ValidationError" not in document["components"]["schemas"]


def test_every_failure_is_the_one_envelope_with_its_codes(document: dict[str, Any]) -> None:
    assert document["components"]["schemas"]["Error"]["required"] == [
        "code",
        "message",
        "request_id",
    ]
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}, (method, path)
            for code in schema["allOf"][1]["properties"]["code"]["enum"]:
                assert errors.by_code()[code].http_status == int(status), (method, path, code)
                assert f"`{code}`" in response["description"]


def test_every_v1_operation_documents_the_failures_around_it(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if path.startswith("/v1/"):
            assert set(operation["responses"]) >= V1_STATUSES, (method, path)
            if "requestBody" in operation:
                assert "MalformedRequest" in operation["responses"]["400"]["description"]
            if "{" in path:
                assert "UnknownOperation" in operation["responses"]["404"]["description"]
            if path != "/v1/whoami" and not path.endswith(("/secrets", "s")):
                assert "403" in operation["responses"], (method, path)


def test_every_name_id_and_page_parameter_has_its_rule(document: dict[str, Any]) -> None:
    ruled = {"name", "policy", "key_id", "rotation_id", "version_id", "stage", "page_token"}
    for method, path, operation in _operations(document):
        for parameter in operation.get("parameters", ()):
            schema = parameter["schema"]
            if parameter["name"] in ruled:
                assert "pattern" in schema, (method, path, parameter)
            if parameter["name"] == "page_size":
                assert (schema["minimum"], schema["maximum"]) == (1, 100)


def _matches(schema: dict[str, Any], value: str) -> bool:
    pattern = re.compile(schema["pattern"])
    short_enough = len(value) <= schema.get("maxLength", len(value))
    return short_enough and len(value) >= schema.get("minLength", 0) and bool(pattern.search(value))


def _accepted(validate: Any, value: str) -> bool:
    try:
        validate(value)
    except errors.InvalidParameter:
        return False
    return True


SECRET_NAMES = [
    "a",
    "prod/db/app",
    "/lead",
    "trail/",
    "a//b",
    "...",
    "a/.../b",
    ".hidden",
    "x.",
    "a/.x/b",
    "a.b/c..d",
    "@+=_-",
    "n" * 192,
    "",
    ".",
    "..",
    "a/./b",
    "a/../b",
    "a/.",
    "../a",
    "./a",
    "a/..",
    "n" * 193,
    "a b",
    "a:b",
    "é",
    "a\nb",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_the_secret_name_rule_is_the_stores(name: str) -> None:
    assert _matches(openapi.SECRET_NAME, name) == _accepted(names.validate_name, name)


@pytest.mark.parametrize(
    "name", ["admin", "a.b@c+d=e-f_g", "x" * 128, "", "x" * 129, "a/b", "a b", "a:b"]
)
def test_the_principal_name_rule_is_the_stores(name: str) -> None:
    accepted = _accepted(principals.validate_principal_name, name)
    assert _matches(openapi.PRINCIPAL_NAME, name) == accepted


@pytest.mark.parametrize("name", ["f", "my-func.v2_1", "x" * 64, "", "-f", ".f", "x" * 65, "a b"])
def test_the_function_name_rule_is_the_stores(name: str) -> None:
    accepted = _accepted(functions.validate_function_name, name)
    assert _matches(openapi.FUNCTION_NAME, name) == accepted
