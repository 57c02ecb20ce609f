"""A cloud-function rotation handler for a self-managed MySQL/MariaDB account (test fixture).

Written for the cloud function runtime, the way the reference's rotation function is,
and run by rotor unchanged: the official V1 SDK with the function's STS credentials,
pointed at the cloud's own VPC endpoint of KMS, PyMySQL against the database with the
credentials of the master secret the rotated secret names, and the alternating
accounts ``<name>`` <-> ``<name>_rt``. It imports nothing from rotor.

The rotated secret's value::

    {"Endpoint": "...", "Port": 3306, "AccountName": "...", "AccountPassword": "...",
     "MasterSecret": "<name of the secret of an account that may create users>", "SSL": false}
"""

from __future__ import annotations

import json
import logging
import os

import pymysql
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkkms.request.v20160120.GetRandomPasswordRequest import GetRandomPasswordRequest
from aliyunsdkkms.request.v20160120.GetSecretValueRequest import GetSecretValueRequest
from aliyunsdkkms.request.v20160120.PutSecretValueRequest import PutSecretValueRequest
from aliyunsdkkms.request.v20160120.UpdateSecretVersionStageRequest import (
    UpdateSecretVersionStageRequest,
)

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)

ALTERNATE_SUFFIX = "_rt"
MAX_ACCOUNT_NAME = 32
NOT_FOUND = "Forbidden.ResourceNotFound"
DEFAULT_EXCLUDED = "/@\"'\\"


def handler(event, context):
    request = json.loads(event)
    name = request["SecretName"]
    region = request["RegionId"]
    step = request["Step"]
    version = request.get("VersionId") or context.requestId

    credential = StsTokenCredential(
        context.credentials.accessKeyId,
        context.credentials.accessKeySecret,
        context.credentials.securityToken,
    )
    kms = AcsClient(region_id=region, credential=credential)
    kms.add_endpoint(region, "kms", f"kms-vpc.{region}.aliyuncs.com")

    described = call(kms, GetSecretValueRequest(), SecretName=name)
    if described["SecretType"] != "Generic":
        raise ValueError(f"secret {name} is a {described['SecretType']} secret, not Generic")

    steps = {"new": step_new, "set": step_set, "test": step_test, "end": step_end}
    if step not in steps:
        raise ValueError(f"unknown step {step!r} for secret {name}")
    steps[step](kms, name, version)
    return {"VersionId": version}


# -- the four steps ---------------------------------------------------------------------


def step_new(kms, name, version):
    current = read_account(kms, name, stage="ACSCurrent")
    try:
        read_account(kms, name, stage="ACSPending", version=version)
    except ServerException as exc:
        if exc.error_code != NOT_FOUND:
            raise
    else:
        LOG.info("new: version %s of %s already exists", version, name)
        return

    pending = dict(current)
    pending["AccountName"] = other_account(current["AccountName"])
    excluded = os.environ.get("EXCLUDE_CHARACTERS", DEFAULT_EXCLUDED)
    password = call(kms, GetRandomPasswordRequest(), ExcludeCharacters=excluded)
    pending["AccountPassword"] = password["RandomPassword"]
    call(
        kms,
        PutSecretValueRequest(),
        SecretName=name,
        VersionId=version,
        SecretData=json.dumps(pending),
        VersionStages=json.dumps(["ACSPending"]),
    )
    LOG.info("new: stored version %s of %s for account %s", version, name, pending["AccountName"])


def step_set(kms, name, version):
    current = read_account(kms, name, stage="ACSCurrent")
    pending = read_account(kms, name, stage="ACSPending", version=version)

    if can_log_in(pending):
        LOG.info("set: account %s already has the pending password", pending["AccountName"])
        return
    if pending["AccountName"] != other_account(current["AccountName"]):
        raise ValueError(
            f"set: pending account {pending['AccountName']} is not the alternate of"
            f" {current['AccountName']}"
        )
    if (pending["Endpoint"], port_of(pending)) != (current["Endpoint"], port_of(current)):
        raise ValueError("set: the pending version points at another database")
    if not can_log_in(current):
        raise ValueError(f"set: the current credentials of {name} do not log in")

    master_name = current["MasterSecret"]
    master = read_account(kms, master_name, stage="ACSCurrent")
    if (master["Endpoint"], port_of(master)) != (current["Endpoint"], port_of(current)):
        raise ValueError(f"set: master secret {master_name} is for another database")

    connection = connect(master)
    if connection is None:
        raise ValueError(f"set: the master secret {master_name} does not log in")
    try:
        with connection.cursor() as cursor:
            copy_account(cursor, current["AccountName"], pending)
        connection.commit()
    finally:
        connection.close()
    LOG.info("set: account %s now has the pending password", pending["AccountName"])


def step_test(kms, name, version):
    pending = read_account(kms, name, stage="ACSPending", version=version)
    connection = connect(pending)
    if connection is None:
        raise ValueError(f"test: the pending credentials of {name} do not log in")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT CURRENT_USER()")
            user = cursor.fetchone()[0]
    finally:
        connection.close()
    if user.rpartition("@")[0] != pending["AccountName"]:
        raise ValueError(f"test: logged in as {user}, not {pending['AccountName']}")
    # Careless on purpose (handlers do this): the runtime must keep the password out of
    # the rotation history.
    LOG.info("test: logged in as %s with %s", user, json.dumps(pending))


def step_end(kms, name, version):
    stages = call(kms, GetSecretValueRequest(), SecretName=name, VersionId=version)
    on = stages["VersionStages"]["VersionStage"]
    if "ACSCurrent" not in on:
        call(
            kms,
            UpdateSecretVersionStageRequest(),
            SecretName=name,
            VersionStage="ACSCurrent",
            MoveToVersion=version,
        )
    if "ACSPending" in on:
        call(
            kms,
            UpdateSecretVersionStageRequest(),
            SecretName=name,
            VersionStage="ACSPending",
            RemoveFromVersion=version,
        )
    LOG.info("end: version %s of %s is current", version, name)


# -- KMS --------------------------------------------------------------------------------


def call(kms, request, **parameters):
    """Send a KMS request with its parameters set through the request class's setters."""
    request.set_accept_format("json")
    for key, value in parameters.items():
        getattr(request, "set_" + key)(value)
    return json.loads(kms.do_action_with_exception(request))


def read_account(kms, name, stage, version=None):
    parameters = {"SecretName": name, "VersionStage": stage}
    if version:
        parameters["VersionId"] = version
    value = json.loads(call(kms, GetSecretValueRequest(), **parameters)["SecretData"])
    for field in ("Endpoint", "AccountName", "AccountPassword"):
        if field not in value:
            raise KeyError(f"secret {name} has no {field} field")
    return value


# -- the database -----------------------------------------------------------------------


def other_account(account):
    if account.endswith(ALTERNATE_SUFFIX):
        return account[: -len(ALTERNATE_SUFFIX)]
    alternate = account + ALTERNATE_SUFFIX
    if len(alternate) > MAX_ACCOUNT_NAME:
        raise ValueError(f"account name {account} is too long to add {ALTERNATE_SUFFIX}")
    return alternate


def port_of(account):
    return int(account.get("Port", 3306))


def uses_tls(account):
    return str(account.get("SSL", False)).lower() == "true"


def connect(account):
    """A connection, or None when the credentials are refused."""
    options = {"ssl": {"ca": "/opt/python/certs/cert.pem"}} if uses_tls(account) else {}
    if not options:
        options["ssl_disabled"] = True
    try:
        connection = pymysql.connect(
            host=account["Endpoint"],
            port=port_of(account),
            user=account["AccountName"],
            password=account["AccountPassword"],
            database=account.get("DBName"),
            connect_timeout=5,
            **options,
        )
    except pymysql.OperationalError as exc:
        LOG.info("cannot log in as %s: %s", account["AccountName"], exc.args[-1])
        return None
    LOG.info("logged in as %s at %s", account["AccountName"], account["Endpoint"])
    return connection


def can_log_in(account):
    connection = connect(account)
    if connection is None:
        return False
    connection.close()
    return True


def copy_account(cursor, source, target):
    """Make ``target["AccountName"]``@'%' exist with the privileges and TLS requirement of
    ``source``@'%', and the password ``target["AccountPassword"]``."""
    user, password = target["AccountName"], target["AccountPassword"]
    cursor.execute("SELECT 1 FROM mysql.user WHERE User = %s AND Host = '%%'", (user,))
    if cursor.fetchone() is None:
        cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
    else:
        cursor.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@'%%'", (user,))

    cursor.execute("SHOW GRANTS FOR %s@'%%'", (source,))
    source_grantee = quote(source) + "@`%`"
    target_grantee = quote(user) + "@`%`"
    for (grant,) in cursor.fetchall():
        statement, found, rest = grant.partition(" TO " + source_grantee)
        if not found:
            raise ValueError(f"unexpected grant for {source}: {grant}")
        # The password hash belongs to the source account: keep only WITH ... options.
        options = rest[rest.find(" WITH ") :] if " WITH " in rest else ""
        cursor.execute(statement + " TO " + target_grantee + options)

    cursor.execute(
        "SELECT ssl_type, ssl_cipher, x509_issuer, x509_subject FROM mysql.user"
        " WHERE User = %s AND Host = '%%'",
        (source,),
    )
    ssl_type, cipher, issuer, subject = cursor.fetchone()
    ssl_type = ssl_type.decode() if isinstance(ssl_type, bytes) else ssl_type
    if not ssl_type:
        cursor.execute("ALTER USER %s@'%%' REQUIRE NONE", (user,))
    elif ssl_type in ("ANY", "X509"):
        requirement = "SSL" if ssl_type == "ANY" else "X509"
        cursor.execute("ALTER USER %s@'%%' REQUIRE " + requirement, (user,))
    else:
        text = [v.decode() if isinstance(v, bytes) else v for v in (cipher, issuer, subject)]
        cursor.execute(
            "ALTER USER %s@'%%' REQUIRE CIPHER %s AND ISSUER %s AND SUBJECT %s", (user, *text)
        )
    cursor.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password))


def quote(identifier):
    return "`" + identifier.replace("`", "``") + "`"
