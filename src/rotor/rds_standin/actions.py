"""The RDS actions the stand-in models, over :mod:`rotor.rds_standin.mariadb`.

Each action names its required and optional parameters; a missing required one
is ``MissingParameter``, and one the action does not model is refused with
``UnsupportedOperation`` (never silently ignored). Response bodies have the
shapes of RDS 2014-08-15: wrapped lists (``Accounts.DBInstanceAccount[]``,
``Items.DBInstance[]``) and integer counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rotor.rds_standin import mariadb as rds_mariadb
from rotor.rds_standin.mariadb import ApiError, refuse

#: Parameters any RDS action may carry and that change nothing here.
IGNORED = frozenset(
    {"OwnerId", "OwnerAccount", "ResourceOwnerId", "ResourceOwnerAccount", "RegionId"}
)
ACCOUNT_TYPES = (rds_mariadb.NORMAL, rds_mariadb.SUPER)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class InstanceConfig:
    """One RDS instance: its id and region, and the MariaDB behind it."""

    instance_id: str
    target: rds_mariadb.MariaDBTarget
    region_id: str = "cn-hangzhou"
    zone_id: str = ""
    engine: str = "MariaDB"
    #: Reported EngineVersion; "" reads it from the server (``10.11``).
    engine_version: str = ""
    description: str = ""
    max_account_name_length: int = 32


def _missing(name: str) -> ApiError:
    return refuse(
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request '
        "is not supplied.",
    )


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise refuse("InvalidParameter", f'Specified parameter "{name}" is not valid.')
    return value


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",")] if value else []


# --------------------------------------------------------------------------------------
# Actions


_ActionHandler = Callable[[dict[str, str]], dict[str, Any]]


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _Action:
    handler: _ActionHandler
    required: frozenset[str]
    optional: frozenset[str] = frozenset()


class Actions:
    """The modelled RDS actions: each takes the API parameters and returns the body."""

    def __init__(self, instances: Sequence[InstanceConfig]) -> None:
        self._instances = {i.instance_id: i for i in instances}
        self._backends = {i.instance_id: rds_mariadb.MariaDBAccounts(i.target) for i in instances}
        self._versions: dict[str, str] = {}
        self._created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        account = frozenset({"DBInstanceId", "AccountName"})
        self._table: dict[str, _Action] = {
            "CreateAccount": _Action(
                handler=self._create_account,
                required=account | {"AccountPassword"},
                optional=frozenset({"AccountType"}),
            ),
            "DeleteAccount": _Action(handler=self._delete_account, required=account),
            "DescribeAccounts": _Action(
                handler=self._describe_accounts,
                required=frozenset({"DBInstanceId"}),
                optional=frozenset({"AccountName", "PageNumber", "PageSize"}),
            ),
            "GrantAccountPrivilege": _Action(
                handler=self._grant_account_privilege,
                required=account | {"DBName", "AccountPrivilege"},
            ),
            "RevokeAccountPrivilege": _Action(
                handler=self._revoke_account_privilege, required=account | {"DBName"}
            ),
            "ResetAccountPassword": _Action(
                handler=self._reset_account_password, required=account | {"AccountPassword"}
            ),
            "DescribeDBInstances": _Action(
                handler=self._describe_db_instances,
                required=frozenset({"RegionId"}),
                optional=frozenset(
                    {"DBInstanceId", "Engine", "DBInstanceStatus", "PageNumber", "PageSize"}
                ),
            ),
        }

    @property
    def modelled(self) -> list[str]:
        return sorted(self._table)

    def run(self, action: str, params: dict[str, str]) -> dict[str, Any]:
        spec = self._table.get(action)
        if spec is None:
            raise refuse(
                "InvalidAction.NotFound",
                f"Specified api is not found, please check your url and method: {action!r} "
                "is not modelled by the RDS stand-in.",
                404,
            )
        for name in sorted(spec.required):
            if params.get(name, "") == "":
                raise _missing(name)
        extra = sorted(set(params) - spec.required - spec.optional - IGNORED)
        if extra:
            raise refuse(
                "UnsupportedOperation",
                f"The RDS stand-in does not model the parameter(s) {', '.join(extra)} of {action}.",
            )
        return spec.handler(params)

    def _instance(
        self, params: Mapping[str, str]
    ) -> tuple[InstanceConfig, rds_mariadb.MariaDBAccounts]:
        instance_id = params["DBInstanceId"]
        if instance_id not in self._instances:
            raise refuse("InvalidDBInstanceId.NotFound", "Specified instance does not exist.", 404)
        return self._instances[instance_id], self._backends[instance_id]

    def _account_name(self, params: Mapping[str, str], instance: InstanceConfig) -> str:
        name = params["AccountName"]
        rds_mariadb.check_account_name(name, instance.max_account_name_length)
        return name

    def _create_account(self, params: dict[str, str]) -> dict[str, Any]:
        instance, backend = self._instance(params)
        name = self._account_name(params, instance)
        if backend.is_reserved(name):
            raise refuse("InvalidAccountName.Forbid", "Specified AccountName is a keyword.")
        account_type = params.get("AccountType") or rds_mariadb.NORMAL
        if account_type not in ACCOUNT_TYPES:
            raise refuse(
                "UnsupportedOperation",
                f"The RDS stand-in models AccountType {' and '.join(ACCOUNT_TYPES)} only.",
            )
        rds_mariadb.check_password(params["AccountPassword"])
        backend.create_account(name, params["AccountPassword"], account_type)
        return {}

    def _delete_account(self, params: dict[str, str]) -> dict[str, Any]:
        instance, backend = self._instance(params)
        backend.delete_account(self._account_name(params, instance))
        return {}

    def _reset_account_password(self, params: dict[str, str]) -> dict[str, Any]:
        instance, backend = self._instance(params)
        name = self._account_name(params, instance)
        rds_mariadb.check_password(params["AccountPassword"])
        backend.reset_password(name, params["AccountPassword"])
        return {}

    def _databases(self, backend: rds_mariadb.MariaDBAccounts, value: str) -> list[str]:
        names = _list(value)
        for db_name in names:
            if not db_name or not backend.database_exists(db_name):
                raise refuse("InvalidDBName.NotFound", "Specified database does not exist.", 404)
        return names

    def _grant_account_privilege(self, params: dict[str, str]) -> dict[str, Any]:
        instance, backend = self._instance(params)
        name = self._account_name(params, instance)
        privileges = _list(params["AccountPrivilege"])
        db_names = _list(params["DBName"])
        if len(privileges) != len(db_names) or any(
            p not in rds_mariadb.DATABASE_PRIVILEGES for p in privileges
        ):
            raise refuse(
                "InvalidAccountPrivilege.Format",
                "Specified AccountPrivilege is not valid: one of "
                f"{', '.join(rds_mariadb.DATABASE_PRIVILEGES)} for each DBName.",
            )
        self._databases(backend, params["DBName"])
        backend.grant(name, list(zip(db_names, privileges, strict=True)))
        return {}

    def _revoke_account_privilege(self, params: dict[str, str]) -> dict[str, Any]:
        instance, backend = self._instance(params)
        name = self._account_name(params, instance)
        backend.revoke(name, self._databases(backend, params["DBName"]))
        return {}

    def _describe_accounts(self, params: dict[str, str]) -> dict[str, Any]:
        instance, backend = self._instance(params)
        page = _int(params, "PageNumber", 1, 1, 1_000_000)
        size = _int(params, "PageSize", 30, 30, 200)
        accounts = backend.list_accounts(params.get("AccountName") or None)
        shown = accounts[(page - 1) * size : page * size]
        return {
            "Accounts": {
                "DBInstanceAccount": [
                    {
                        "DBInstanceId": instance.instance_id,
                        "AccountName": account.name,
                        "AccountStatus": "Available",
                        "AccountType": account.account_type,
                        "AccountDescription": "",
                        "PrivExceeded": "1" if account.priv_exceeded else "0",
                        "DatabasePrivileges": {
                            "DatabasePrivilege": [
                                {
                                    "DBName": p.db_name,
                                    "AccountPrivilege": p.account_privilege,
                                    "AccountPrivilegeDetail": p.detail,
                                }
                                for p in account.privileges
                            ]
                        },
                    }
                    for account in shown
                ]
            },
            "PageNumber": page,
            "TotalRecordCount": len(accounts),
        }

    def _describe_db_instances(self, params: dict[str, str]) -> dict[str, Any]:
        page = _int(params, "PageNumber", 1, 1, 1_000_000)
        size = _int(params, "PageSize", 30, 1, 100)
        wanted = set(_list(params.get("DBInstanceId", "")))
        matches = [
            i
            for i in self._instances.values()
            if i.region_id == params["RegionId"]
            and (not wanted or i.instance_id in wanted)
            and params.get("Engine", i.engine) == i.engine
            and params.get("DBInstanceStatus", "Running") == "Running"
        ]
        shown = matches[(page - 1) * size : page * size]
        return {
            "Items": {"DBInstance": [self._instance_item(i) for i in shown]},
            "PageNumber": page,
            "PageRecordCount": len(shown),
            "TotalRecordCount": len(matches),
        }

    def _instance_item(self, instance: InstanceConfig) -> dict[str, Any]:
        version = instance.engine_version or self._versions.get(instance.instance_id)
        if not version:
            full = self._backends[instance.instance_id].version()
            version = ".".join(full.split("-")[0].split(".")[:2])
            self._versions[instance.instance_id] = version
        return {
            "DBInstanceId": instance.instance_id,
            "Engine": instance.engine,
            "EngineVersion": version,
            "DBInstanceStatus": "Running",
            "RegionId": instance.region_id,
            "ZoneId": instance.zone_id or f"{instance.region_id}-a",
            "DBInstanceType": "Primary",
            "DBInstanceClass": "standin",
            "DBInstanceDescription": instance.description,
            "DBInstanceNetType": "Intranet",
            "ConnectionString": instance.target.host,
            "CreateTime": self._created,
            "PayType": "Postpaid",
            "LockMode": "Unlock",
        }
