"""A configuration is checked before it is stored, on every path (not only in dry runs)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.services.server import RunningServer


@pytest.mark.parametrize("ssl", ["yes", 1, "required", "perhaps"])
@pytest.mark.parametrize("rotate_now", [True, False])
def test_an_inexact_ssl_is_refused_before_anything_is_stored(
    rotor_server: RunningServer, ssl: object, rotate_now: bool
) -> None:
    name = f"cfg/{uuid.uuid4().hex[:10]}"
    value = {
        "Endpoint": "127.0.0.1",
        "Port": 1,
        "AccountName": "app",
        "AccountPassword": "pw-not-used-1",
        "SSL": ssl,
    }
    bearer = f"Bearer {rotor_server.access_key_id}.{rotor_server.access_key_secret}"
    with (
        rotor_server.client() as client,
        httpx.Client(base_url=rotor_server.url, headers={"Authorization": bearer}) as http,
    ):
        client.create_secret(name, value=json.dumps(value))
        response = http.put(
            f"/v1/secrets/{name}:rotation",
            json={"function": "mysql-single-user", "rotate_now": rotate_now},
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "InvalidParameter"
        assert "SSL" in response.json()["message"]
        assert http.get(f"/v1/secrets/{name}:rotation").status_code == 404
        assert client.describe_secret(name).stages.keys() == {"Current"}


def test_rotating_to_the_current_version_is_refused_over_http(rotor_server: RunningServer) -> None:
    name = f"cfg/{uuid.uuid4().hex[:10]}"
    bearer = f"Bearer {rotor_server.access_key_id}.{rotor_server.access_key_secret}"
    with httpx.Client(base_url=rotor_server.url, headers={"Authorization": bearer}) as http:
        http.post("/v1/secrets", json={"name": name, "value": "tok-1", "version_id": "v1"})
        configured = http.put(
            f"/v1/secrets/{name}:rotation",
            json={"function": "generated-password", "every": "30d", "rotate_now": False},
        )
        assert configured.status_code == 200, configured.text
        before = http.get(f"/v1/secrets/{name}:rotation").json()
        response = http.post(f"/v1/secrets/{name}:rotate", json={"version_id": "v1"})
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "VersionConflict"
        assert http.get(f"/v1/secrets/{name}:rotation").json() == before
        assert http.get(f"/v1/secrets/{name}:rotations").json()["rotations"] == []
        assert http.get(f"/v1/secrets/{name}:value").json()["value"] == "tok-1"


def _admin_http(server: RunningServer) -> httpx.Client:
    bearer = f"Bearer {server.access_key_id}.{server.access_key_secret}"
    return httpx.Client(base_url=server.url, headers={"Authorization": bearer}, timeout=30)


@pytest.mark.parametrize(
    ("function", "parameters", "words"),
    [
        ("generated-password", {"PasswordLength": 5}, ["length"]),
        ("generated-password", {"PaswordLength": 24}, ["PaswordLength", "'PasswordLength'?"]),
        ("generated-password", {"Role": "admin"}, ["Role", "PasswordLength"]),
        ("generated-password", {"ExcludeUppercase": "maybe"}, ["ExcludeUppercase"]),
        ("mysql-single-user", {"CaBundel": "/etc/ssl/ca.pem"}, ["'CaBundle'?"]),
        ("mysql-single-user", {"PasswordLength": 3}, ["length"]),
    ],
)
@pytest.mark.parametrize("rotate_now", [True, False])
def test_parameters_are_checked_on_every_path(
    rotor_server: RunningServer,
    function: str,
    parameters: dict[str, object],
    words: list[str],
    rotate_now: bool,
) -> None:
    name = f"cfg/{uuid.uuid4().hex[:10]}"
    value = {"Endpoint": "127.0.0.1", "Port": 1, "AccountName": "a", "AccountPassword": "pw-1"}
    with _admin_http(rotor_server) as http:
        http.post("/v1/secrets", json={"name": name, "value": json.dumps(value)})
        response = http.put(
            f"/v1/secrets/{name}:rotation",
            json={"function": function, "parameters": parameters, "rotate_now": rotate_now},
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "InvalidParameter"
        for word in words:
            assert word in response.json()["message"]
        assert http.get(f"/v1/secrets/{name}:rotation").status_code == 404
        assert http.get(f"/v1/secrets/{name}:rotations").json()["rotations"] == []


def test_a_dry_run_says_what_it_checked_and_what_it_could_not(rotor_server: RunningServer) -> None:
    name = f"cfg/{uuid.uuid4().hex[:10]}"
    with _admin_http(rotor_server) as http:
        http.post("/v1/secrets", json={"name": name, "value": "initial"})
        response = http.put(
            f"/v1/secrets/{name}:rotation",
            json={"function": "generated-password", "rotate_now": False},
        )
        assert response.status_code == 200, response.text
        report = response.json()["dry_run"]
        assert report["ran"] == ["RotateSecretNew (new)", "RotateSecretTest (test)"]
        assert [s.split(":")[0] for s in report["skipped"]] == [
            "RotateSecretSet (set)",
            "RotateSecretEnd (end)",
        ]
        # Nothing of the dry run is left.
        assert list(http.get(f"/v1/secrets/{name}").json()["stages"]) == ["Current"]


def test_a_custom_handlers_test_is_not_dry_run_and_the_report_says_so(
    rotor_server: RunningServer, tmp_path: Path
) -> None:
    """A cloud-style handler's test logs in as the Pending account, which only its set step
    makes: a dry run that ran it would fail by design."""
    handler = tmp_path / "cloud_style.py"
    handler.write_text(
        "import json\n"
        "from rotor.client import Client\n"
        "def handler(event, context):\n"
        "    evt = json.loads(event)\n"
        "    if evt['Step'] == 'new':\n"
        "        Client().put_value(evt['SecretName'], 'next', version_id=evt['VersionId'],\n"
        "                           stages=['Pending'])\n"
        "    if evt['Step'] == 'test':\n"
        "        raise RuntimeError('cannot log in: set has not run')\n"
        "    print('new step done')\n"
        "    return {'VersionId': evt['VersionId']}\n"
    )
    function = f"cloud-style-{uuid.uuid4().hex[:8]}"
    name = f"cfg/{uuid.uuid4().hex[:10]}"
    with _admin_http(rotor_server) as http:
        registered = http.put(
            f"/v1/functions/{function}",
            json={"kind": "python-handler", "handler": f"{handler}:handler"},
        )
        assert registered.status_code == 201, registered.text
        http.post("/v1/secrets", json={"name": name, "value": "initial"})
        response = http.put(
            f"/v1/secrets/{name}:rotation", json={"function": function, "rotate_now": False}
        )
        assert response.status_code == 200, response.text
        report = response.json()["dry_run"]
        assert report["ran"] == ["RotateSecretNew (new)"]
        assert "RotateSecretTest (test): a custom function's test" in report["skipped"][1]
        assert "new step done" in report["log"]
        assert list(http.get(f"/v1/secrets/{name}").json()["stages"]) == ["Current"]
        http.delete(f"/v1/secrets/{name}", params={"force": "true"})
