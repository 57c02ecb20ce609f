"""The AWS CLI (v1, from PyPI, unmodified) against the session's ``rotor serve``:
``aws secretsmanager <op>`` as a subprocess, pointed at rotor by ``--endpoint-url`` or the
environment, with a rotor access key as the AWS key and no configuration of the machine's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import rotor.client
from tests.aws.conftest import name as _name
from tests.services.server import RunningServer

AWS = Path(sys.executable).with_name("aws")
TIMEOUT = 60.0


class Cli:
    """Runs ``aws secretsmanager ...`` with a key of the server and a clean environment."""

    def __init__(self, server: RunningServer, home: Path, **env: str) -> None:
        home.mkdir(exist_ok=True)
        (home / "config").write_text("")
        (home / "credentials").write_text("")
        self.server = server
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_ACCESS_KEY_ID": server.access_key_id,
            "AWS_SECRET_ACCESS_KEY": server.access_key_secret,
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_MAX_ATTEMPTS": "1",
            **env,
        }

    def run(self, *args: str, endpoint: bool = True) -> subprocess.CompletedProcess[str]:
        where = ["--endpoint-url", self.server.url] if endpoint else []
        return subprocess.run(
            [str(AWS), "secretsmanager", *args, *where, "--output", "json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def __call__(self, *args: str, endpoint: bool = True) -> Any:
        """The JSON the command printed (None when it printed nothing); it must succeed."""
        done = self.run(*args, endpoint=endpoint)
        assert done.returncode == 0, (args, done.stderr)
        return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.fixture
def aws(rotor_server: RunningServer, tmp_path: Path) -> Cli:
    return Cli(rotor_server, tmp_path / "home")


def test_the_cli_is_the_one_from_pypi() -> None:
    done = subprocess.run(
        [str(AWS), "--version"], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    assert done.stdout.startswith("aws-cli/1.")


def test_create_get_put_and_the_versions(aws: Cli, admin: rotor.client.Client) -> None:
    name = _name()
    created = aws("create-secret", "--name", name, "--secret-string", "one")
    assert created["Name"] == name
    got = aws("get-secret-value", "--secret-id", name)
    assert (got["SecretString"], got["VersionId"]) == ("one", created["VersionId"])
    assert got["VersionStages"] == ["AWSCURRENT"]

    put = aws("put-secret-value", "--secret-id", name, "--secret-string", "two")
    assert put["VersionStages"] == ["AWSCURRENT"]
    assert admin.get_value(name).value == "two"
    previous = aws("get-secret-value", "--secret-id", name, "--version-stage", "AWSPREVIOUS")
    assert previous["SecretString"] == "one"

    described = aws("describe-secret", "--secret-id", name)
    assert described["VersionIdsToStages"] == {
        created["VersionId"]: ["AWSPREVIOUS"],
        put["VersionId"]: ["AWSCURRENT"],
    }
    listed = aws("list-secret-version-ids", "--secret-id", name)
    assert {v["VersionId"]: v["VersionStages"] for v in listed["Versions"]} == (
        described["VersionIdsToStages"]
    )


def test_moving_a_stage_back(aws: Cli, admin: rotor.client.Client) -> None:
    name = _name()
    first = aws("create-secret", "--name", name, "--secret-string", "one")["VersionId"]
    second = aws("put-secret-value", "--secret-id", name, "--secret-string", "two")["VersionId"]
    aws(
        *("update-secret-version-stage", "--secret-id", name, "--version-stage", "AWSCURRENT"),
        *("--move-to-version-id", first, "--remove-from-version-id", second),
    )
    assert aws("get-secret-value", "--secret-id", name)["SecretString"] == "one"
    value = admin.get_value(name)
    assert (value.value, value.version_id) == ("one", first)
    assert admin.get_value(name, stage="Previous").version_id == second


def test_delete_and_restore(aws: Cli) -> None:
    name = _name()
    aws("create-secret", "--name", name, "--secret-string", "kept")
    deleted = aws("delete-secret", "--secret-id", name, "--recovery-window-in-days", "7")
    assert deleted["Name"] == name
    assert "DeletionDate" in deleted
    refused = aws.run("get-secret-value", "--secret-id", name)
    assert refused.returncode != 0
    assert "InvalidRequestException" in refused.stderr
    aws("restore-secret", "--secret-id", name)
    assert aws("get-secret-value", "--secret-id", name)["SecretString"] == "kept"
    aws("delete-secret", "--secret-id", name, "--force-delete-without-recovery")
    gone = aws.run("describe-secret", "--secret-id", name)
    assert gone.returncode != 0
    assert "ResourceNotFoundException" in gone.stderr


def test_get_random_password(aws: Cli) -> None:
    password = aws("get-random-password", "--password-length", "24", "--exclude-punctuation")[
        "RandomPassword"
    ]
    assert len(password) == 24
    assert password.isalnum()


def test_a_missing_secret_exits_non_zero_naming_the_error(aws: Cli) -> None:
    done = aws.run("get-secret-value", "--secret-id", _name())
    assert done.returncode != 0
    assert "ResourceNotFoundException" in done.stderr
    assert done.stdout == ""


def test_a_wrong_key_is_refused(rotor_server: RunningServer, tmp_path: Path) -> None:
    wrong = Cli(rotor_server, tmp_path / "home", AWS_SECRET_ACCESS_KEY="not-the-secret")
    done = wrong.run("get-random-password")
    assert done.returncode != 0
    assert "InvalidSignatureException" in done.stderr


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER"])
def test_the_endpoint_from_the_environment(
    rotor_server: RunningServer, tmp_path: Path, variable: str
) -> None:
    aws = Cli(rotor_server, tmp_path / "home", **{variable: rotor_server.url})
    name = _name()
    aws("create-secret", "--name", name, "--secret-string", "from-env", endpoint=False)
    got = aws("get-secret-value", "--secret-id", name, endpoint=False)
    assert got["SecretString"] == "from-env"


def test_list_update_tag_and_untag(aws: Cli) -> None:
    base = _name()
    arn = aws("create-secret", "--name", f"{base}/a", "--secret-string", "one")["ARN"]
    aws("create-secret", "--name", f"{base}/b", "--secret-string", "two")
    listed = aws("list-secrets", "--filters", f"Key=name,Values={base}/", "--max-items", "1")
    assert [s["Name"] for s in listed["SecretList"]] == [f"{base}/a"]
    assert listed["SecretList"][0]["ARN"] == arn
    # The CLI pages for itself: its NextToken carries rotor's.
    rest = aws(
        *("list-secrets", "--filters", f"Key=name,Values={base}/"),
        *("--starting-token", listed["NextToken"]),
    )
    assert [s["Name"] for s in rest["SecretList"]] == [f"{base}/b"]

    updated = aws(
        "update-secret", "--secret-id", arn, "--description", "first", "--secret-string", "1"
    )
    assert updated["ARN"] == arn
    aws("tag-resource", "--secret-id", arn, "--tags", "Key=team,Value=a", "Key=tier,Value=1")
    aws("untag-resource", "--secret-id", f"{base}/a", "--tag-keys", "tier")
    described = aws("describe-secret", "--secret-id", arn)
    assert described["Description"] == "first"
    assert described["Tags"] == [{"Key": "team", "Value": "a"}]
    assert aws("get-secret-value", "--secret-id", arn)["SecretString"] == "1"
    by_tag = aws("list-secrets", "--filters", "Key=tag-key,Values=team", f"Key=name,Values={base}/")
    assert [s["Name"] for s in by_tag["SecretList"]] == [f"{base}/a"]
