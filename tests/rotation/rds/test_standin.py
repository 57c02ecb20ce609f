"""The RDS stand-in itself: the wire protocol, errors, faults, and the MariaDB it acts on."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pymysql
import pytest
from alibabacloud_rds20140815 import models as rds_models
from alibabacloud_rds20140815.client import Client as RdsClient
from alibabacloud_tea_openapi import exceptions as tea_errors
from alibabacloud_tea_openapi import utils_models
from darabonba.runtime import RuntimeOptions

from rotor.access import aliyun_signature, aliyun_string_to_sign
from rotor.rds_standin import mariadb as rds_mariadb
from rotor.rds_standin import server as rds_standin
from rotor.rds_standin.server import Fault
from tests.rotation.rds.conftest import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    INSTANCE,
    REGION,
    create_account,
    describe,
    privileges_of,
    sdk_client,
    set_privileges,
    unique_name,
)
from tests.services.mariadb import MariaDBServer

PASSWORD = "Stand-In-Pass-01"


def _call(
    client: RdsClient, action: str, query: dict[str, str], version: str = "2014-08-15"
) -> Any:
    """Any action, through the SDK's generic RPC call."""
    params = utils_models.Params(
        action=action,
        version=version,
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    return client.call_api(params, utils_models.OpenApiRequest(query=query), RuntimeOptions())


def _refused(call: Any) -> tea_errors.AlibabaCloudException:
    with pytest.raises(tea_errors.AlibabaCloudException) as caught:
        call()
    return caught.value


# -- privileges as real grants ----------------------------------------------------------------

# What each privilege lets an account do on its database: SELECT, INSERT, CREATE TABLE.
_CAN = {
    "ReadOnly": (True, False, False),
    "ReadWrite": (True, True, True),
    "DDLOnly": (False, False, True),
    "DMLOnly": (True, True, False),
    "DBOwner": (True, True, True),
}


def _allowed(server: MariaDBServer, user: str, database: str, sql: str) -> bool:
    try:
        with (
            server.connect(
                user=user, password=PASSWORD, database=database, autocommit=True
            ) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(sql)
    except pymysql.err.OperationalError as exc:
        if exc.args[0] in (1142, 1044):  # command / database access denied
            return False
        raise
    return True


@pytest.mark.parametrize("privilege", list(rds_mariadb.DATABASE_PRIVILEGES))
def test_each_privilege_is_a_real_grant_and_reads_back(
    standin: rds_standin.RdsStandIn,
    mariadb_server: MariaDBServer,
    databases: list[str],
    privilege: str,
) -> None:
    db = databases[0]
    with mariadb_server.connect(database=db, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE t (i INT)")
    name = unique_name("priv")
    client = sdk_client(standin)
    create_account(client, name, PASSWORD, privileges={db: privilege})

    members, with_grant = rds_mariadb.DATABASE_PRIVILEGES[privilege]
    with mariadb_server.connect() as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES "
            "WHERE GRANTEE = %s",
            (f"'{name}'@'%'",),
        )
        rows = cursor.fetchall()
    assert {r[0] for r in rows} == members
    assert {r[1] for r in rows} == {"YES" if with_grant else "NO"}

    account = describe(client, name)
    assert account is not None
    (reported,) = account["DatabasePrivileges"]["DatabasePrivilege"]
    assert reported["DBName"] == db
    assert reported["AccountPrivilege"] == privilege
    assert set(reported["AccountPrivilegeDetail"].split(",")) == (
        members | ({"GRANT OPTION"} if with_grant else set())
    )
    can_select, can_insert, can_create = _CAN[privilege]
    assert _allowed(mariadb_server, name, db, "SELECT * FROM t") is can_select
    assert _allowed(mariadb_server, name, db, "INSERT INTO t VALUES (1)") is can_insert
    assert _allowed(mariadb_server, name, db, "CREATE TABLE u (i INT)") is can_create
    # The grant covers exactly this database: its '_' is not a wildcard.
    lookalike = db.replace("_", "x")
    with mariadb_server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{lookalike}`")
    try:
        assert not _allowed(mariadb_server, name, lookalike, "SELECT 1")
    finally:
        with mariadb_server.connect(autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE `{lookalike}`")


def test_grant_replaces_and_revoke_removes(
    standin: rds_standin.RdsStandIn, databases: list[str]
) -> None:
    client = sdk_client(standin)
    name = unique_name("gr")
    create_account(client, name, PASSWORD, privileges={databases[0]: "DBOwner"})
    set_privileges(client, name, {databases[0]: "ReadOnly", databases[1]: "DMLOnly"})
    assert privileges_of(client, name) == {databases[0]: "ReadOnly", databases[1]: "DMLOnly"}
    set_privileges(client, name, {}, revoke=[databases[0]])
    assert privileges_of(client, name) == {databases[1]: "DMLOnly"}
    set_privileges(client, name, {}, revoke=[databases[0]])  # nothing held: still fine
    assert privileges_of(client, name) == {databases[1]: "DMLOnly"}


def test_super_account_and_out_of_band_grants_read_back(
    standin: rds_standin.RdsStandIn, mariadb_server: MariaDBServer, databases: list[str]
) -> None:
    client = sdk_client(standin)
    boss, custom, exceeded = unique_name("su"), unique_name("cu"), unique_name("ex")
    create_account(client, boss, PASSWORD, account_type="Super")
    create_account(client, custom, PASSWORD)
    create_account(client, exceeded, PASSWORD, privileges={databases[0]: "ReadOnly"})
    with mariadb_server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"GRANT SELECT, INSERT ON `{databases[1]}`.* TO '{custom}'@'%'")
        cursor.execute(f"GRANT PROCESS ON *.* TO '{exceeded}'@'%'")
    super_account, exceeding = describe(client, boss), describe(client, exceeded)
    assert super_account is not None
    assert exceeding is not None
    assert (super_account["AccountType"], super_account["PrivExceeded"]) == ("Super", "0")
    assert privileges_of(client, custom) == {databases[1]: "Custom"}
    assert (exceeding["AccountType"], exceeding["PrivExceeded"]) == ("Normal", "1")


def test_describe_accounts_lists_real_users_but_not_the_admin(
    standin: rds_standin.RdsStandIn,
) -> None:
    client = sdk_client(standin)
    name = unique_name("ls")
    create_account(client, name, PASSWORD)
    body = client.describe_accounts(
        rds_models.DescribeAccountsRequest(dbinstance_id=INSTANCE, page_size=200)
    ).body.to_map()
    names = [a["AccountName"] for a in body["Accounts"]["DBInstanceAccount"]]
    assert name in names
    assert "admin" not in names
    assert "root" not in names
    assert body["PageNumber"] == 1
    assert isinstance(body["TotalRecordCount"], int)
    assert body["TotalRecordCount"] >= len(names)
    assert body["RequestId"]


def test_reset_password_changes_the_real_password(
    standin: rds_standin.RdsStandIn, mariadb_server: MariaDBServer
) -> None:
    client = sdk_client(standin, v2=True)
    name = unique_name("pw")
    create_account(client, name, PASSWORD)
    client.reset_account_password(
        rds_models.ResetAccountPasswordRequest(
            dbinstance_id=INSTANCE, account_name=name, account_password="New&Pass=+#01"
        )
    )
    with mariadb_server.connect(user=name, password="New&Pass=+#01"):
        pass
    with pytest.raises(pymysql.err.OperationalError):
        mariadb_server.connect(user=name, password=PASSWORD)


def test_describe_db_instances(standin: rds_standin.RdsStandIn) -> None:
    client = sdk_client(standin)
    body = client.describe_dbinstances(
        rds_models.DescribeDBInstancesRequest(region_id=REGION)
    ).body.to_map()
    assert body["PageNumber"] == 1
    assert body["PageRecordCount"] == 1
    assert body["TotalRecordCount"] == 1
    (item,) = body["Items"]["DBInstance"]
    assert item["DBInstanceId"] == INSTANCE
    assert item["Engine"] == "MariaDB"
    assert item["EngineVersion"].count(".") == 1
    assert item["DBInstanceStatus"] == "Running"
    assert item["RegionId"] == REGION
    elsewhere = client.describe_dbinstances(
        rds_models.DescribeDBInstancesRequest(region_id="eu-central-1")
    ).body.to_map()
    assert elsewhere["Items"] == {"DBInstance": []}
    assert elsewhere["TotalRecordCount"] == 0
    missing = _refused(lambda: client.describe_dbinstances(rds_models.DescribeDBInstancesRequest()))
    assert (missing.code, missing.status_code) == ("MissingParameter", 400)
    assert '"RegionId"' in str(missing.data["Message"])
    unmodelled = _refused(
        lambda: client.describe_dbinstances(
            rds_models.DescribeDBInstancesRequest(region_id=REGION, vpc_id="vpc-1")
        )
    )
    assert unmodelled.code == "UnsupportedOperation"
    assert "VpcId" in str(unmodelled.data["Message"])


# -- errors ---------------------------------------------------------------------------------


def _create(name: str, password: str = PASSWORD, **extra: Any) -> rds_models.CreateAccountRequest:
    return rds_models.CreateAccountRequest(
        dbinstance_id=extra.pop("instance", INSTANCE),
        account_name=name,
        account_password=password,
        **extra,
    )


@pytest.mark.parametrize(
    ("request_", "code", "status"),
    [
        (_create("admin"), "InvalidAccountName.Forbid", 400),
        (_create("Bad-Name"), "InvalidAccountName.Format", 400),
        (_create("x" * 33), "InvalidAccountName.Format", 400),
        (_create("ok_name", "short1A"), "InvalidAccountPassword.Format", 400),
        (_create("ok_name", "onlylowercase1"), "InvalidAccountPassword.Format", 400),
        (_create("ok_name", "Has Space 123"), "InvalidAccountPassword.Format", 400),
        (_create("ok_name", instance="rm-nothere"), "InvalidDBInstanceId.NotFound", 404),
        (_create("ok_name", account_type="Sysadmin"), "UnsupportedOperation", 400),
        (_create("ok_name", account_description="hello"), "UnsupportedOperation", 400),
    ],
    ids=[
        "reserved-name",
        "bad-characters",
        "name-too-long",
        "password-too-short",
        "password-two-classes",
        "password-with-space",
        "unknown-instance",
        "unmodelled-account-type",
        "unmodelled-parameter",
    ],
)
def test_create_account_errors(
    standin: rds_standin.RdsStandIn,
    request_: rds_models.CreateAccountRequest,
    code: str,
    status: int,
) -> None:
    error = _refused(lambda: sdk_client(standin).create_account(request_))
    assert (error.code, error.status_code) == (code, status)
    body = error.data
    assert set(body) >= {"RequestId", "HostId", "Code", "Message"}
    assert isinstance(error, tea_errors.ClientException)


def test_account_and_database_errors(standin: rds_standin.RdsStandIn, databases: list[str]) -> None:
    client = sdk_client(standin)
    name = unique_name("er")
    create_account(client, name, PASSWORD)
    duplicate = _refused(lambda: client.create_account(_create(name)))
    assert (duplicate.code, duplicate.status_code) == ("InvalidAccountName.Duplicate", 400)
    missing = _refused(
        lambda: client.reset_account_password(
            rds_models.ResetAccountPasswordRequest(
                dbinstance_id=INSTANCE, account_name=unique_name("no"), account_password=PASSWORD
            )
        )
    )
    assert (missing.code, missing.status_code) == ("InvalidAccountName.NotFound", 404)
    no_db = _refused(lambda: set_privileges(client, name, {"no_such_db": "ReadOnly"}))
    assert (no_db.code, no_db.status_code) == ("InvalidDBName.NotFound", 404)
    bad = _refused(lambda: set_privileges(client, name, {databases[0]: "Everything"}))
    assert bad.code == "InvalidAccountPrivilege.Format"


def test_unknown_action_and_version(standin: rds_standin.RdsStandIn) -> None:
    client = sdk_client(standin)
    unknown = _refused(lambda: _call(client, "DeleteDBInstance", {"DBInstanceId": INSTANCE}))
    assert (unknown.code, unknown.status_code) == ("InvalidAction.NotFound", 404)
    version = _refused(
        lambda: _call(client, "DescribeAccounts", {"DBInstanceId": INSTANCE}, "2019-01-01")
    )
    assert (version.code, version.status_code) == ("InvalidVersion", 400)
    missing = _refused(lambda: _call(client, "DescribeAccounts", {}))
    assert (missing.code, missing.status_code) == ("MissingParameter", 400)


@pytest.mark.parametrize("v2", [False, True], ids=["acs3", "rpc-v1"])
def test_signature_errors(standin: rds_standin.RdsStandIn, v2: bool) -> None:
    request = rds_models.DescribeAccountsRequest(dbinstance_id=INSTANCE)
    wrong = _refused(lambda: sdk_client(standin, v2=v2, secret="wrong").describe_accounts(request))
    assert (wrong.code, wrong.status_code) == ("SignatureDoesNotMatch", 400)
    assert ":" in str(wrong.data["Message"])
    unknown = _refused(
        lambda: sdk_client(standin, v2=v2, key_id="LTAInobody").describe_accounts(request)
    )
    assert (unknown.code, unknown.status_code) == ("InvalidAccessKeyId.NotFound", 404)
    assert [c.code for c in standin.calls] == [
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId.NotFound",
    ]


@pytest.mark.parametrize("v2", [False, True], ids=["acs3", "rpc-v1"])
def test_sts_credentials(standin: rds_standin.RdsStandIn, v2: bool) -> None:
    standin.add_access_key(
        aliyun_signature.SigningKey(
            access_key_id="STS.standin", secret="sts-secret", security_token="token/of+sts=="
        )
    )

    def client(token: str) -> RdsClient:
        config = utils_models.Config(
            access_key_id="STS.standin",
            access_key_secret="sts-secret",
            security_token=token,
            region_id=REGION,
            endpoint=standin.endpoint,
            protocol="http",
        )
        if v2:
            config.signature_algorithm = "v2"
        return RdsClient(config)

    request = rds_models.DescribeAccountsRequest(dbinstance_id=INSTANCE, account_name="nobody")
    client("token/of+sts==").describe_accounts(request)
    assert standin.calls[-1].access_key_id == "STS.standin"
    wrong = _refused(lambda: client("another-token").describe_accounts(request))
    assert wrong.code == "InvalidSecurityToken.MismatchWithAccessKey"


# -- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "status", "kind"),
    [
        (Fault.THROTTLING, "Throttling.User", 400, tea_errors.ClientException),
        (Fault.INTERNAL_ERROR, "InternalError", 500, tea_errors.ServerException),
        (Fault.UNAVAILABLE, "ServiceUnavailable", 503, tea_errors.ServerException),
    ],
)
def test_injected_faults(
    standin: rds_standin.RdsStandIn,
    fault: Fault,
    code: str,
    status: int,
    kind: type[tea_errors.AlibabaCloudException],
) -> None:
    client = sdk_client(standin)
    request = rds_models.DescribeAccountsRequest(dbinstance_id=INSTANCE, account_name="nobody")
    standin.inject(fault, times=2, action="DescribeAccounts")
    for _ in range(2):
        error = _refused(lambda: client.describe_accounts(request))
        assert isinstance(error, kind)
        assert (error.code, error.status_code) == (code, status)
    client.describe_accounts(request)  # consumed
    standin.inject(fault, times=5)
    standin.clear_faults()
    client.describe_accounts(request)


def test_slow_fault_answers_late(standin: rds_standin.RdsStandIn) -> None:
    standin.inject(Fault.SLOW, delay_seconds=0.3)
    client = sdk_client(standin)
    request = rds_models.DescribeAccountsRequest(dbinstance_id=INSTANCE, account_name="nobody")
    started = time.monotonic()
    client.describe_accounts(request)
    assert time.monotonic() - started >= 0.3


# -- the wire, without an SDK -----------------------------------------------------------------


def _v1_query(params: dict[str, str], method: str = "POST") -> str:
    full = {
        "Format": "JSON",
        "Version": "2014-08-15",
        "AccessKeyId": ACCESS_KEY_ID,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureType": "",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "SecurityToken": "",
        "RegionId": REGION,
        "Timestamp": _now(),
        **params,
    }
    string_to_sign = aliyun_string_to_sign.rpc_v1_string_to_sign(method, full)
    full["Signature"] = aliyun_string_to_sign.rpc_v1_signature(ACCESS_KEY_SECRET, string_to_sign)
    return urllib.parse.urlencode(full, quote_via=urllib.parse.quote, safe="~")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_v1_sdk_style_request_through_a_proxy(standin: rds_standin.RdsStandIn, method: str) -> None:
    """Absolute-form target, proxy Host, ``SignatureType=``/``SecurityToken=``, ``%20``."""
    query = _v1_query(
        {"Action": "DescribeAccounts", "DBInstanceId": INSTANCE, "AccountName": "no body"}, method
    )
    host, port = standin.endpoint.split(":")
    conn = http.client.HTTPConnection(host, int(port))
    conn.request(method, f"http://rds.aliyuncs.com/?{query}", headers={"Host": "rds.aliyuncs.com"})
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 200, body
    assert body["Accounts"] == {"DBInstanceAccount": []}
    assert response.getheader("x-acs-request-id") == body["RequestId"]
    assert response.getheader("Content-Type") == "application/json;charset=utf-8"
    assert standin.calls[-1].scheme is aliyun_signature.Scheme.RPC_V1
    conn.close()


def test_keep_alive_requests_share_a_connection(standin: rds_standin.RdsStandIn) -> None:
    host, port = standin.endpoint.split(":")
    conn = http.client.HTTPConnection(host, int(port))
    for _ in range(3):
        query = _v1_query({"Action": "DescribeDBInstances"})
        conn.request("POST", f"/?{query}")
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["TotalRecordCount"] == 1
    conn.close()


def test_command_line(tmp_path: Path, mariadb_server: MariaDBServer) -> None:
    config = {
        "access_keys": [{"access_key_id": ACCESS_KEY_ID, "access_key_secret": ACCESS_KEY_SECRET}],
        "instances": [
            {
                "instance_id": "rm-cli",
                "region_id": REGION,
                "host": mariadb_server.host,
                "port": mariadb_server.port,
                "admin_user": mariadb_server.user,
                "admin_password": mariadb_server.password,
            }
        ],
    }
    path = tmp_path / "standin.json"
    path.write_text(json.dumps(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "rotor.rds_standin", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("RDS stand-in listening on http://127.0.0.1:"), line
        url = line.split()[4]
        host, port = urllib.parse.urlsplit(url).netloc.split(":")
        conn = http.client.HTTPConnection(host, int(port))
        conn.request("POST", f"/?{_v1_query({'Action': 'DescribeDBInstances'})}")
        response = conn.getresponse()
        items = json.loads(response.read())["Items"]["DBInstance"]
        assert [i["DBInstanceId"] for i in items] == ["rm-cli"]
        conn.close()
    finally:
        process.terminate()
        status = process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    assert status == 0
