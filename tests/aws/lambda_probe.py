"""Lambda rotation handlers that probe rotor rather than rotate (test fixture).

The rotated secret's value says what the handler does in createSecret:

- ``{"probe": "gate", "gate": "/path"}``: writes ``/path.started``, then waits (at most
  two minutes) for ``/path.release`` and returns, writing nothing: the test looks at the
  rotation in progress meanwhile;
- ``{"probe": "reach", "victim": NAME, "delegated": NAME}``: tries what its credentials
  must not do (read and write ``victim``, write the ``delegated`` secret it may only read,
  create a secret) and what they may (read ``delegated``), and logs each outcome as
  ``allowed <what>`` or ``denied <what>: <error code>``.

It imports nothing from rotor.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    client = boto3.client("secretsmanager")
    if event["Step"] != "createSecret":
        raise ValueError(f"the probe runs createSecret only, not {event['Step']}")
    value = json.loads(client.get_secret_value(SecretId=event["SecretId"])["SecretString"])
    if value["probe"] == "gate":
        gate(value["gate"])
    else:
        reach(client, value["victim"], value["delegated"])


def gate(path: str) -> None:
    with open(path + ".started", "w") as started:
        started.write(os.environ.get("AWS_ACCESS_KEY_ID", ""))
    deadline = time.monotonic() + 120
    while not os.path.exists(path + ".release") and time.monotonic() < deadline:
        time.sleep(0.05)


def reach(client: Any, victim: str, delegated: str) -> None:
    attempts = {
        "GetSecretValue victim": lambda: client.get_secret_value(SecretId=victim),
        "DescribeSecret victim": lambda: client.describe_secret(SecretId=victim),
        "PutSecretValue victim": lambda: client.put_secret_value(
            SecretId=victim, SecretString="stolen"
        ),
        "PutSecretValue delegated": lambda: client.put_secret_value(
            SecretId=delegated, SecretString="stolen"
        ),
        "CreateSecret": lambda: client.create_secret(Name=victim + "-x", SecretString="x"),
        "GetSecretValue delegated": lambda: client.get_secret_value(SecretId=delegated),
    }
    for what, attempt in attempts.items():
        try:
            attempt()
        except ClientError as exc:
            logger.info("denied %s: %s", what, exc.response["Error"]["Code"])
        else:
            logger.info("allowed %s", what)
