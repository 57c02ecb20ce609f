"""The handler runner under the cloud packages' interpreter: the real V1 SDK reaches rotor
for the region the handler builds its client for, whatever endpoint it names."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from rotor.rotation.functions import python_handler, runner

ROTOR_URL = "http://127.0.0.1:8943"

# Builds its client the way a cloud handler does: the event's region, its own endpoint.
HANDLER = textwrap.dedent(
    """
    import json

    from aliyunsdkcore.auth.credentials import StsTokenCredential
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest


    def handler(event, context):
        region = json.loads(event)["RegionId"]
        credentials = context.credentials
        client = AcsClient(
            region_id=region,
            credential=StsTokenCredential(
                credentials.accessKeyId, credentials.accessKeySecret, credentials.securityToken
            ),
        )
        client.add_endpoint(region, "kms", "kms-vpc." + region + ".aliyuncs.com")
        endpoints = {}
        for name in (region, context.region, "eu-central-1"):
            client.set_region_id(name)
            try:
                endpoints[name] = client._resolve_endpoint(GetSecretValueRequest())
            except Exception as exc:
                endpoints[name] = type(exc).__name__
        return {"endpoints": endpoints, "token": credentials.securityToken}
    """
)


def _run(cloud_python: Path, tmp_path: Path, *, event: str, region: str) -> dict[str, Any]:
    handler = tmp_path / "sdk_handler.py"
    handler.write_text(HANDLER)
    result = tmp_path / "result.json"
    spec = tmp_path / "input.json"
    spec.write_text(
        json.dumps(
            {
                "event": event,
                "handler": f"{handler}:handler",
                "python_path": [],
                "request_id": "v1",
                "function_name": "sdk_handler:handler",
                "timeout": 30,
                "region": region,
                "rotor_url": ROTOR_URL,
                "credentials": {
                    "access_key_id": "RKEXAMPLE",
                    "access_key_secret": "example-secret",
                    "security_token": None,
                },
                "result_path": str(result),
            }
        )
    )
    env = {"PATH": os.environ.get("PATH", ""), runner.INPUT_VARIABLE: str(spec)}
    done = subprocess.run(
        [str(cloud_python), python_handler.RUNNER],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    outcome: dict[str, Any] = json.loads(result.read_text())
    assert done.returncode == 0, (outcome, done.stdout, done.stderr)
    assert outcome["ok"] is True
    value: dict[str, Any] = outcome["result"]
    return value


def test_the_event_region_and_the_context_region_reach_rotor(
    cloud_python: Path, tmp_path: Path
) -> None:
    event = json.dumps({"SecretName": "db/app", "RegionId": "cn-hangzhou", "Step": "new"})

    result = _run(cloud_python, tmp_path, event=event, region="local")

    # Both regions resolve to rotor, over the handler's own add_endpoint; another region
    # keeps the SDK's own resolution (the cloud's public endpoint).
    assert result["endpoints"]["cn-hangzhou"] == ROTOR_URL
    assert result["endpoints"]["local"] == ROTOR_URL
    assert result["endpoints"]["eu-central-1"] != ROTOR_URL
    # No token is an empty string, never None.
    assert result["token"] == ""


def test_regions_come_from_the_context_and_a_json_object_event() -> None:
    assert runner._regions("local", '{"RegionId": "cn-hangzhou"}') == ["local", "cn-hangzhou"]
    assert runner._regions("cn-hangzhou", '{"RegionId": "cn-hangzhou"}') == ["cn-hangzhou"]
    assert runner._regions("", '{"RegionId": "cn-hangzhou"}') == ["cn-hangzhou"]
    for event in ("[1, 2]", "not json", '{"RegionId": 7}', '{"RegionId": " "}', "{}"):
        assert runner._regions("local", event) == ["local"], event
