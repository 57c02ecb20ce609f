"""The AWS dialect's operations on many secrets or on a secret's metadata: ListSecrets,
BatchGetSecretValue, UpdateSecret, TagResource, UntagResource; and the operations rotor
refuses (resource policies, replication), each saying why.

Every value ``BatchGetSecretValue`` answers is read through
:func:`rotor.api.secret_reads.read`, as every dialect's read is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rotor import errors
from rotor.api import secret_reads
from rotor.api.dialects.aws import (
    filters,
    rotation_operations,
    value_operations,
    version_operations,
)
from rotor.api.dialects.aws.call import Call
from rotor.api.dialects.aws.wire import ACCESS_DENIED, AwsError, invalid_parameter, translate
from rotor.store import paging, stages
from rotor.store import secrets as secrets_store
from rotor.store.secrets import Secret

DOC = "docs/reference/aws-api.md"
#: rotor's own sort keys of ``ListSecrets``'s ``SortBy`` (it records no last access).
_SORT_KEYS: dict[str, Callable[[Secret], Any]] = {
    "created-date": lambda s: (s.created_at, s.name),
    "last-changed-date": lambda s: (s.updated_at, s.name),
    "name": lambda s: s.name,
}


def _offset(call: Call) -> int:
    try:
        return paging.decode_offset(call.body.text("NextToken"))
    except errors.InvalidParameter:
        raise AwsError("InvalidNextTokenException", "The NextToken is not valid.") from None


def _page(call: Call, items: list[Any], size: int) -> tuple[list[Any], dict[str, str]]:
    """The page ``NextToken`` asks for, and the ``NextToken`` of the next one if any."""
    start = _offset(call)
    more = len(items) > start + size
    return items[start : start + size], {
        "NextToken": paging.offset_token(start + size)
    } if more else {}


def list_secrets(call: Call) -> dict[str, Any]:
    call.audit["action"] = "kms:ListSecrets"
    size = call.body.integer("MaxResults", 1, paging.MAX_PAGE_SIZE) or paging.MAX_PAGE_SIZE
    sort_by = call.body.text("SortBy") or "created-date"
    order = call.body.text("SortOrder") or "asc"
    if sort_by not in _SORT_KEYS:
        raise invalid_parameter(
            "SortBy", f"one of {sorted(_SORT_KEYS)} (rotor records no last access)"
        )
    if order not in ("asc", "desc"):
        raise invalid_parameter("SortOrder", "asc or desc")
    shown = filters.chosen(call, include_planned_deletion=call.body.flag("IncludePlannedDeletion"))
    shown.sort(key=_SORT_KEYS[sort_by], reverse=order == "desc")
    page, more = _page(call, shown, size)
    return {"SecretList": [_entry(call, s) for s in page], **more}


def _entry(call: Call, secret: Secret) -> dict[str, Any]:
    entry = version_operations.secret_fields(call, secret)
    entry.update(rotation_operations.describe_rotation(call, secret))
    # ListSecrets names DescribeSecret's map otherwise.
    entry["SecretVersionsToStages"] = entry.pop("VersionIdsToStages")
    return entry


#: BatchGetSecretValue's limits, as AWS's: 20 ids, pages of 1 to 20 secrets.
MAX_BATCH = 20


def batch_get_secret_value(call: Call) -> dict[str, Any]:
    ids = call.body.strings("SecretIdList")
    given_filters = call.body.values.get("Filters") is not None
    if (ids is None) == (not given_filters):
        raise invalid_parameter("SecretIdList", "give SecretIdList or Filters, not both")
    size = call.body.integer("MaxResults", 1, MAX_BATCH)
    more: dict[str, str] = {}
    if ids is not None:
        if size is not None or call.body.text("NextToken") is not None:
            raise invalid_parameter("MaxResults", "MaxResults and NextToken go with Filters only")
        if not 1 <= len(ids) <= MAX_BATCH:
            raise invalid_parameter("SecretIdList", f"1 to {MAX_BATCH} secrets")
        wanted = list(dict.fromkeys(ids))
    else:
        # Only secrets the caller may list are chosen: no other name is ever answered.
        names = [s.name for s in filters.chosen(call)]
        wanted, more = _page(call, names, size or MAX_BATCH)
    values, failed, reads = [], [], []
    for secret_id in wanted:
        # Each read is audited as a GetSecretValue of its own is (under this request's id).
        audit: dict[str, Any] = {"action": secret_reads.ACTION, "outcome": "allowed"}
        reads.append(audit)
        try:
            values.append(_read(call, secret_id, audit))
        except (errors.RotorError, AwsError) as exc:
            error = translate(exc)
            if error.status >= 500 and error.aws_type != "DecryptionFailure":
                raise
            audit["error_code"] = error.aws_type
            audit["outcome"] = "denied" if error.aws_type == ACCESS_DENIED else "failed"
            failed.append(
                {"SecretId": secret_id, "ErrorCode": error.aws_type, "Message": error.message}
            )
    call.audit.clear()
    call.audit["action"] = secret_reads.ACTION
    call.audit["items"] = reads
    return {"SecretValues": values, "Errors": failed, **more}


def _read(call: Call, secret_id: str, audit: dict[str, Any]) -> dict[str, Any]:
    """One secret's Current value, through the one read handler."""
    audit["secret_name"] = secret_id
    name = call.secret_id(secret_id)
    read = secret_reads.Read(name, stages.CURRENT)
    value = secret_reads.read(call.store, call.settings, call.identity, read, audit)
    return value_operations.value_entry(call, value)


def update_secret(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    value = call.value()
    description = call.body.text("Description")
    if value is not None:
        # A new value is a new version, as PutSecretValue writes it (and needs its right).
        call.authorize("kms:PutSecretValue", name)
    call.authorize("kms:UpdateSecret", name)
    answer: dict[str, Any] = {"ARN": call.arn_of(name), "Name": name}
    # The description first: a refused one is refused before anything is written.
    if description is not None:
        secrets_store.update_secret(call.store, name, description=description)
    if value is not None:
        answer["VersionId"] = value_operations.put_version(call, name, value).version_id
    return answer


def tag_resource(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    call.authorize("kms:UpdateSecret", name)
    tags = call.tags()
    if tags is None:
        raise invalid_parameter("Tags", "give the tags to add")
    secrets_store.update_secret(call.store, name, add_tags=tags)
    return {}


def untag_resource(call: Call) -> dict[str, Any]:
    name = call.secret_id()
    call.authorize("kms:UpdateSecret", name)
    keys = call.body.strings("TagKeys")
    if keys is None:
        raise invalid_parameter("TagKeys", "give the keys of the tags to remove")
    secrets_store.update_secret(call.store, name, remove_tags=keys)
    return {}


def refuse_resource_policy(call: Call) -> dict[str, Any]:
    raise AwsError(
        "InvalidRequestException",
        "rotor has no resource policies: access to a secret is decided by rotor's own "
        f"policies, attached to principals; see {DOC}#resource-policies.",
    )


def refuse_replication(call: Call) -> dict[str, Any]:
    raise AwsError(
        "InvalidRequestException",
        "rotor does not replicate secrets to other regions: a rotor store is one region "
        f"(see {DOC}#replication).",
    )
