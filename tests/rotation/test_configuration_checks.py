"""A configuration is checked before it is stored, on every path (not only in dry runs)."""

from __future__ import annotations

import json
import uuid

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
