"""The RDS stand-in on the session's real MariaDB, the official SDK, and an engine on each store.

Accounts on the session MariaDB persist across tests, so every test gets
account names of its own (:func:`unique_name`).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from alibabacloud_rds20140815 import models as rds_models
from alibabacloud_rds20140815.client import Client as RdsClient
from alibabacloud_tea_openapi import models as openapi_models

from rotor.access.aliyun_signature import SigningKey
from rotor.rds_standin import mariadb as rds_mariadb
from rotor.rds_standin import server as rds_standin
from rotor.rotation import configuration
from rotor.rotation.engine import Engine
from rotor.rotation.functions import rds
from rotor.store import rotation_configs, secrets
from rotor.store.database import Store
from tests.conftest import admin_identity
from tests.services.mariadb import MariaDBServer

INSTANCE = "rm-rotortest01"
REGION = "cn-hangzhou"
ACCESS_KEY_ID = "LTAIstandinkey01"
ACCESS_KEY_SECRET = "standin/Secret+key=01"
CREDENTIALS_SECRET = "cloud/rds-key"


def unique_name(prefix: str = "a") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture
def standin(mariadb_server: MariaDBServer) -> Iterator[rds_standin.RdsStandIn]:
    config = rds_standin.StandInConfig(
        access_keys=(SigningKey(access_key_id=ACCESS_KEY_ID, secret=ACCESS_KEY_SECRET),),
        instances=(
            rds_standin.InstanceConfig(
                instance_id=INSTANCE,
                region_id=REGION,
                target=rds_mariadb.MariaDBTarget(
                    host=mariadb_server.host,
                    port=mariadb_server.port,
                    admin_user=mariadb_server.user,
                    admin_password=mariadb_server.password,
                ),
            ),
        ),
    )
    with rds_standin.running(config) as running:
        yield running


def sdk_client(
    standin: rds_standin.RdsStandIn,
    *,
    v2: bool = False,
    key_id: str = ACCESS_KEY_ID,
    secret: str = ACCESS_KEY_SECRET,
) -> RdsClient:
    """The official RDS SDK pointed at the stand-in (ACS3 signing, or RPC v1 with ``v2``)."""
    config = openapi_models.Config(
        access_key_id=key_id,
        access_key_secret=secret,
        region_id=REGION,
        endpoint=standin.endpoint,
        protocol="http",
    )
    if v2:
        config.signature_algorithm = "v2"
    return RdsClient(config)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AppAccount:
    """An RDS account created through the API, with privileges on fresh databases."""

    name: str
    password: str
    databases: list[str]


def create_account(
    client: RdsClient,
    name: str,
    password: str,
    *,
    account_type: str = "Normal",
    privileges: dict[str, str] | None = None,
) -> None:
    client.create_account(
        rds_models.CreateAccountRequest(
            dbinstance_id=INSTANCE,
            account_name=name,
            account_password=password,
            account_type=account_type,
        )
    )
    if privileges:
        client.grant_account_privilege(
            rds_models.GrantAccountPrivilegeRequest(
                dbinstance_id=INSTANCE,
                account_name=name,
                dbname=",".join(privileges),
                account_privilege=",".join(privileges.values()),
            )
        )


def describe(client: RdsClient, name: str) -> dict[str, Any] | None:
    body = client.describe_accounts(
        rds_models.DescribeAccountsRequest(dbinstance_id=INSTANCE, account_name=name)
    ).body.to_map()
    listed = body["Accounts"]["DBInstanceAccount"]
    found: dict[str, Any] | None = next((a for a in listed if a["AccountName"] == name), None)
    return found


def privileges_of(client: RdsClient, name: str) -> dict[str, str]:
    account = describe(client, name)
    assert account is not None, f"account {name} does not exist"
    return {
        p["DBName"]: p["AccountPrivilege"]
        for p in account["DatabasePrivileges"]["DatabasePrivilege"]
    }


def can_log_in(
    server: MariaDBServer, user: str, password: str, database: str | None = None
) -> bool:
    try:
        with (
            server.connect(user=user, password=password, database=database) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute("SELECT 1")
        return True
    except pymysql.err.OperationalError:
        return False


@pytest.fixture
def databases(mariadb_server: MariaDBServer) -> Iterator[list[str]]:
    """Two fresh databases (names with underscores, like real ones)."""
    names = [f"app_{uuid.uuid4().hex[:8]}", f"rep_{uuid.uuid4().hex[:8]}"]
    with mariadb_server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        for name in names:
            cursor.execute(f"CREATE DATABASE `{name}`")
    yield names
    with mariadb_server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def app_account(
    standin: rds_standin.RdsStandIn, databases: list[str], mariadb_server: MariaDBServer
) -> Iterator[AppAccount]:
    """A Normal account: ReadWrite on the first database, ReadOnly on the second.

    Dropped afterwards with its alternates (every account named ``<name>...``): the
    stand-in lists all the session MariaDB's accounts, and a page holds 200.
    """
    account = AppAccount(name=unique_name("app"), password="Initial-Pass-0001", databases=databases)
    create_account(
        sdk_client(standin),
        account.name,
        account.password,
        privileges={databases[0]: "ReadWrite", databases[1]: "ReadOnly"},
    )
    yield account
    with mariadb_server.connect(autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT User, Host FROM mysql.user WHERE User LIKE %s", (f"{account.name}%",)
        )
        for user, host in cursor.fetchall():
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))


# -- the engine -------------------------------------------------------------------------------


@pytest.fixture
def engine(store: Store) -> Engine:
    fast = dataclasses.replace(
        store.settings,
        rotation_retry_seconds=0.01,
        rotation_attempts=3,
        rotation_lease_seconds=0.5,
        rotation_function_timeout_seconds=30.0,
    )
    return Engine(store, fast, owner="test-runner")


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rds.RdsApi, "backoff_seconds", 0.01)


def rotation_parameters(standin: rds_standin.RdsStandIn, **extra: Any) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "RegionId": REGION,
        "InstanceId": INSTANCE,
        "Endpoint": standin.url,
        "CredentialsSecret": CREDENTIALS_SECRET,
    }
    parameters.update(extra)
    return parameters


def setup_secret(
    engine: Engine,
    standin: rds_standin.RdsStandIn,
    server: MariaDBServer,
    account: AppAccount,
    *,
    credentials: dict[str, str] | None = None,
    dry_run: bool = True,
    value_extra: dict[str, Any] | None = None,
    **parameters: Any,
) -> str:
    """The app's secret (with Endpoint/Port for the test step, and ``value_extra``) and its
    rotation configuration.

    With ``dry_run`` the configuration goes through the API path that first dry-runs
    the function (new and test); otherwise it is stored as is (for broken setups).
    """
    store = engine.store
    creds = credentials or {"AccessKeyId": ACCESS_KEY_ID, "AccessKeySecret": ACCESS_KEY_SECRET}
    creds_name = f"{CREDENTIALS_SECRET}-{account.name}"
    secrets.create_secret(store, name=creds_name, value=json.dumps(creds))
    parameters = rotation_parameters(standin, CredentialsSecret=creds_name, **parameters)
    name = f"db/{account.name}"
    value = {
        "AccountName": account.name,
        "AccountPassword": account.password,
        "Endpoint": server.host,
        "Port": server.port,
        "DBName": account.databases[0],
        **(value_extra or {}),
    }
    secrets.create_secret(store, name=name, value=json.dumps(value), version_id="v0")
    if dry_run:
        configuration.configure(
            engine,
            name,
            configuration.RotationRequest(
                function="rds-alternating", parameters=parameters, rotate_now=False
            ),
            identity=admin_identity(engine.store),
        )
    else:
        rotation_configs.put_config(
            store,
            name,
            enabled=True,
            function="rds-alternating",
            parameters=parameters,
            interval_seconds=None,
            cron=None,
            window_seconds=None,
            flow=None,
            next_rotation_at=None,
            configured_by=admin_identity(store).principal_id,
            delegated_secrets=None,
        )
    return name


def set_privileges(
    client: RdsClient, name: str, grant: dict[str, str], *, revoke: list[str] | None = None
) -> None:
    """Change an account's privileges through the API (as an operator would)."""
    if revoke:
        client.revoke_account_privilege(
            rds_models.RevokeAccountPrivilegeRequest(
                dbinstance_id=INSTANCE, account_name=name, dbname=",".join(revoke)
            )
        )
    if grant:
        client.grant_account_privilege(
            rds_models.GrantAccountPrivilegeRequest(
                dbinstance_id=INSTANCE,
                account_name=name,
                dbname=",".join(grant),
                account_privilege=",".join(grant.values()),
            )
        )


@pytest.fixture
def store_settings_engine(engine: Engine) -> Engine:
    """A second runner on the same store (another process, after a crash)."""
    return Engine(engine.store, engine.settings, owner="second-runner")
