"""``lambda-handler``: a real Lambda-style handler file, run in a real child process."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

from rotor.rotation.functions.lambda_handler import LambdaHandler
from rotor.store import secrets
from rotor.store.database import Store
from tests.rotation.functions.conftest import API_URL, CREDENTIALS, MakeContext, registration

IMPORT_SECONDS = 1.0
TIMEOUT_SECONDS = 30.0


def test_the_remaining_time_counts_from_rotors_deadline_not_the_handlers_start(
    tmp_path: Path, store: Store, make_context: MakeContext
) -> None:
    # The process's start-up and the handler's import (boto3's is slow) are time the
    # handler no longer has: Lambda's clock starts at the invocation, and so does rotor's
    # kill deadline.
    handler = tmp_path / "index.py"
    handler.write_text(
        textwrap.dedent(
            f"""
            import time
            time.sleep({IMPORT_SECONDS})

            def lambda_handler(event, context):
                print("remaining", context.get_remaining_time_in_millis(), flush=True)
            """
        )
    )
    secrets.create_secret(store, name="app/db", value="v1")
    function = registration(
        "lambda-handler", handler=f"{handler}:lambda_handler", timeout_seconds=TIMEOUT_SECONDS
    )
    harness = make_context("app/db", function=function, request_id="version-0002")
    event = {"SecretName": "app/db", "Step": "test", "VersionId": "version-0002"}

    LambdaHandler().invoke(event, dataclasses.replace(harness.context, function=function))

    (line,) = [line for line in harness.lines if line.startswith("remaining")]
    remaining = int(line.split()[1])
    assert 0 < remaining <= (TIMEOUT_SECONDS - IMPORT_SECONDS) * 1000


def test_the_aws_sdks_find_the_functions_credentials_and_rotor_in_the_environment(
    tmp_path: Path, store: Store, make_context: MakeContext
) -> None:
    handler = tmp_path / "index.py"
    handler.write_text(
        textwrap.dedent(
            """
            import json, os

            def lambda_handler(event, context):
                env = os.environ
                print("env", json.dumps({
                    "key_id": env["AWS_ACCESS_KEY_ID"],
                    "same_secret": env["AWS_SECRET_ACCESS_KEY"] == env["ROTOR_ACCESS_KEY_SECRET"],
                    "same_token": env["AWS_SESSION_TOKEN"] == env["ROTOR_SECURITY_TOKEN"],
                    "endpoint": env["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
                }), flush=True)
            """
        )
    )
    secrets.create_secret(store, name="app/db", value="v1")
    function = registration("lambda-handler", handler=f"{handler}:lambda_handler")
    harness = make_context("app/db", function=function, request_id="version-0002")
    event = {"SecretName": "app/db", "Step": "test", "VersionId": "version-0002"}

    LambdaHandler().invoke(event, dataclasses.replace(harness.context, function=function))

    (line,) = [line for line in harness.lines if line.startswith("env ")]
    assert json.loads(line.removeprefix("env ")) == {
        "key_id": CREDENTIALS.access_key_id,
        "same_secret": True,
        "same_token": True,
        "endpoint": API_URL,
    }
