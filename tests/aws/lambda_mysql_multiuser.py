"""A Lambda rotation handler for MySQL/MariaDB with alternating users (test fixture).

Written for AWS Lambda and AWS Secrets Manager the way the public "multi-user" rotation
templates are, and run by rotor unchanged: ``boto3.client("secretsmanager")`` with no
arguments (the environment names the endpoint, region and credentials), PyMySQL, and the
users ``<name>`` <-> ``<name>_clone``. It imports nothing from rotor.

The rotated secret's value::

    {"engine": "mysql", "host": "...", "port": 3306, "username": "...", "password": "...",
     "masterarn": "<the secret of a user that may create users and grant>"}
"""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pymysql

logger = logging.getLogger()
logger.setLevel(logging.INFO)

CLONE = "_clone"
MAX_USER_NAME = 80
EXCLUDED = "/@\"'\\"


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    client = boto3.client("secretsmanager")
    metadata = client.describe_secret(SecretId=arn)
    if not metadata.get("RotationEnabled"):
        raise ValueError(f"secret {arn} is not enabled for rotation")
    versions = metadata["VersionIdsToStages"]
    if token not in versions:
        raise ValueError(f"secret version {token} has no stage for rotation of {arn}")
    if "AWSCURRENT" in versions[token]:
        logger.info("version %s is already AWSCURRENT", token)
        return
    if "AWSPENDING" not in versions[token]:
        raise ValueError(f"secret version {token} is not AWSPENDING for rotation of {arn}")
    logger.info(
        "%s: %s of %s (%d ms left)",
        step,
        token,
        context.function_name,
        context.get_remaining_time_in_millis(),
    )
    steps = {
        "createSecret": create_secret,
        "setSecret": set_secret,
        "testSecret": test_secret,
        "finishSecret": finish_secret,
    }
    if step not in steps:
        raise ValueError(f"invalid step {step}")
    steps[step](client, arn, token)


def create_secret(client: Any, arn: str, token: str) -> None:
    current = read(client, arn, "AWSCURRENT")
    try:
        read(client, arn, "AWSPENDING", token)
    except client.exceptions.ResourceNotFoundException:
        pass
    else:
        logger.info("createSecret: version %s exists already", token)
        return
    user = alternate(current["username"])
    password = client.get_random_password(ExcludeCharacters=EXCLUDED)["RandomPassword"]
    pending = {**current, "username": user, "password": password}
    client.put_secret_value(
        SecretId=arn,
        ClientRequestToken=token,
        SecretString=json.dumps(pending),
        VersionStages=["AWSPENDING"],
    )
    logger.info("createSecret: stored version %s for user %s", token, user)


def set_secret(client: Any, arn: str, token: str) -> None:
    current = read(client, arn, "AWSCURRENT")
    pending = read(client, arn, "AWSPENDING", token)
    try:
        connect(pending).close()
    except pymysql.err.OperationalError:
        pass
    else:
        logger.info("setSecret: %s logs in already", pending["username"])
        return
    if alternate(current["username"]) != pending["username"]:
        raise ValueError("the pending user is not the current user's alternate")
    if (current["host"], current["port"]) != (pending["host"], pending["port"]):
        raise ValueError("the pending secret names another database server")
    connect(current).close()  # the current secret must work before anything changes
    master = read(client, current["masterarn"], "AWSCURRENT")
    user = pending["username"]
    with connect(master) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM mysql.user WHERE User = %s AND Host = '%%'", (user,))
        if cur.fetchone() is None:
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, pending["password"]))
        cur.execute("SHOW GRANTS FOR %s@'%%'", (current["username"],))
        for (grant,) in cur.fetchall():
            privileges = str(grant).split(" TO ")[0]
            cur.execute(privileges.replace("%", "%%") + " TO %s@'%%'", (user,))
        cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, pending["password"]))
        conn.commit()
    logger.info("setSecret: user %s has the grants of %s", user, current["username"])


def test_secret(client: Any, arn: str, token: str) -> None:
    pending = read(client, arn, "AWSPENDING", token)
    with connect(pending) as conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        row = cur.fetchone()
        if row is None or not str(row[0]).startswith(pending["username"] + "@"):
            raise ValueError(f"testSecret: logged in as {row}, not {pending['username']}")
        logger.info("testSecret: logged in as %s", row[0])


def finish_secret(client: Any, arn: str, token: str) -> None:
    versions = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    current = next(v for v, stages in versions.items() if "AWSCURRENT" in stages)
    if current == token:
        return
    client.update_secret_version_stage(
        SecretId=arn,
        VersionStage="AWSCURRENT",
        MoveToVersionId=token,
        RemoveFromVersionId=current,
    )
    logger.info("finishSecret: version %s is AWSCURRENT, %s was", token, current)


def alternate(user: str) -> str:
    if user.endswith(CLONE):
        return user[: -len(CLONE)]
    if len(user) + len(CLONE) > MAX_USER_NAME:
        raise ValueError(f"user {user} is too long to clone")
    return user + CLONE


def read(client: Any, arn: str, stage: str, token: str | None = None) -> dict[str, Any]:
    kwargs = {"VersionId": token} if token else {}
    value = client.get_secret_value(SecretId=arn, VersionStage=stage, **kwargs)
    secret: dict[str, Any] = json.loads(value["SecretString"])
    if secret.get("engine") != "mysql":
        raise KeyError("the secret is not a mysql secret")
    return secret


def connect(secret: dict[str, Any]) -> Any:
    return pymysql.connect(
        host=secret["host"],
        port=int(secret["port"]),
        user=secret["username"],
        password=secret["password"],
        connect_timeout=5,
    )
