"""Secrets: create, describe, list, update. Values are in ``versions``, labels in ``stages``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import secrets as random_source
import string
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from rotor import errors
from rotor.clock import utcnow
from rotor.store import events
from rotor.store import stages as stages_mod
from rotor.store import tables as t
from rotor.store import versions as versions_mod
from rotor.store.database import Store
from rotor.store.names import load_row, validate_name
from rotor.store.paging import (
    MAX_PAGE_SIZE,
    Page,
    decode_token,
    encode_token,
    validate_page_size,
)

_TAG_KEY_RE = re.compile(r"[^\x00-\x1f]{1,128}")
MAX_DESCRIPTION = 1024
MAX_TAGS = 50
MAX_TAG_VALUE = 256
MAX_TYPE = 64
MAX_EXTENDED_CONFIG_BYTES = 4096
#: What a secret's ARN suffix is drawn from, as AWS's: letters and digits, six of them.
ARN_SUFFIX_ALPHABET = string.ascii_letters + string.digits
ARN_SUFFIX_LENGTH = 6
_AWS_ARN_PREFIX = "arn:aws:secretsmanager:{region}:{account}:secret:"
_WITH_SUFFIX_RE = re.compile(rf"(.+)-([A-Za-z0-9]{{{ARN_SUFFIX_LENGTH}}})")


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Secret:
    """A secret's metadata: never its value."""

    name: str
    secret_type: str
    description: str
    tags: dict[str, str]
    created_at: dt.datetime
    updated_at: dt.datetime
    #: Set while the secret is scheduled for deletion: when it will be purged.
    delete_after: dt.datetime | None
    #: Stage name -> version id.
    stages: dict[str, str]
    #: Six random letters and digits, drawn when the secret is created: the end of its
    #: AWS-form ARN (:func:`aws_arn`), so a secret created again under the same name has
    #: another ARN.
    arn_suffix: str
    #: Settings other dialects keep with a secret (a JSON object), or None.
    extended_config: dict[str, Any] | None = None


def validate_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    tags = dict(tags or {})
    if len(tags) > MAX_TAGS:
        raise errors.InvalidParameter(f"at most {MAX_TAGS} tags")
    for key, value in tags.items():
        if not isinstance(key, str) or not _TAG_KEY_RE.fullmatch(key):
            raise errors.InvalidParameter("tag keys must be 1-128 printable characters")
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
            raise errors.InvalidParameter(f"tag values must be strings of at most {MAX_TAG_VALUE}")
    return tags


def _extended_config_text(config: Mapping[str, Any] | None) -> str | None:
    if config is None:
        return None
    if not isinstance(config, Mapping):
        raise errors.InvalidParameter("the extended configuration must be a JSON object")
    text = json.dumps(dict(config), separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_EXTENDED_CONFIG_BYTES:
        raise errors.InvalidParameter(
            f"the extended configuration must be at most {MAX_EXTENDED_CONFIG_BYTES} bytes"
        )
    return text


def _new_arn_suffix() -> str:
    return "".join(random_source.choice(ARN_SUFFIX_ALPHABET) for _ in range(ARN_SUFFIX_LENGTH))


def aws_arn(name: str, suffix: str, *, region: str, account: str) -> str:
    """The secret's ARN in AWS form: ``arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>``."""
    return f"{_AWS_ARN_PREFIX.format(region=region, account=account)}{name}-{suffix}"


def name_of_aws_arn(store: Store, arn: str, *, region: str, account: str) -> str:
    """The name of the secret ``arn`` (an AWS-form ARN of this region and account) names.

    As AWS resolves one: an ARN ending in ``-`` and six letters or digits is a complete
    ARN when a secret of the name before them has that suffix; otherwise the part after
    ``secret:`` is the name itself (a partial ARN). So a complete ARN whose suffix is not
    the secret's (one of a secret deleted and created again) names no secret, while a
    name that itself ends in ``-XXXXXX`` is still found through its partial ARN.
    """
    prefix = _AWS_ARN_PREFIX.format(region=region, account=account)
    if not arn.startswith(prefix):
        raise errors.NotFound(f"no secret {arn}: this server's ARNs start with {prefix}")
    tail = arn[len(prefix) :]
    complete = _WITH_SUFFIX_RE.fullmatch(tail)
    if complete is not None:
        name, suffix = complete.groups()
        with store.read() as conn:
            found = conn.execute(
                sa.select(t.secrets.c.id).where(
                    t.secrets.c.name == name, t.secrets.c.arn_suffix == suffix
                )
            ).first()
        if found is not None:
            return name
    return validate_name(tail)


def arn_suffix(store: Store, name: str) -> str:
    """The secret's ARN suffix (also while it is scheduled for deletion)."""
    with store.read() as conn:
        suffix = conn.execute(
            sa.select(t.secrets.c.arn_suffix).where(t.secrets.c.name == name)
        ).scalar()
    if suffix is None:
        validate_name(name)
        raise errors.NotFound(f"secret {name!r} not found")
    return str(suffix)


def _validate_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise errors.InvalidParameter(f"description must be at most {MAX_DESCRIPTION} characters")
    return description


def create_secret(
    store: Store,
    *,
    name: str,
    secret_type: str = "Generic",
    description: str = "",
    tags: Mapping[str, str] | None = None,
    value: str | bytes | None = None,
    version_id: str | None = None,
    extended_config: Mapping[str, Any] | None = None,
) -> Secret:
    """Create a secret, with its first version (staged Current) when ``value`` is given."""
    validate_name(name)
    _validate_description(description)
    extended = _extended_config_text(extended_config)
    if not secret_type or len(secret_type) > MAX_TYPE:
        raise errors.InvalidParameter(f"type must be 1-{MAX_TYPE} characters")
    tags = validate_tags(tags)
    if value is not None:
        versions_mod.check_value(value)
    if version_id is not None:
        versions_mod.validate_version_id(version_id)
    now = utcnow()
    secret_id = uuid.uuid4().hex
    first_version = version_id or str(uuid.uuid4())
    try:
        with store.write() as conn:
            exists = conn.execute(sa.select(t.secrets.c.id).where(t.secrets.c.name == name)).first()
            if exists:
                raise errors.SecretExists(f"secret {name!r} already exists")
            conn.execute(
                t.secrets.insert().values(
                    id=secret_id,
                    name=name,
                    secret_type=secret_type,
                    description=description,
                    created_at=now,
                    updated_at=now,
                    delete_after=None,
                    extended_config=extended,
                    arn_suffix=_new_arn_suffix(),
                )
            )
            if tags:
                conn.execute(
                    t.secret_tags.insert(),
                    [{"secret_id": secret_id, "key": k, "value": v} for k, v in tags.items()],
                )
            if value is not None:
                versions_mod.insert_version(store, conn, secret_id, first_version, value, now)
                stages_mod.attach(conn, secret_id, stages_mod.CURRENT, first_version)
            created = {"stages": stages_mod.stage_map(conn, secret_id)}
            events.record(conn, store, events.SECRET_CREATED, name, created)
    except sa.exc.IntegrityError as exc:
        # Another writer created the same name between our check and insert (PostgreSQL).
        raise errors.SecretExists(f"secret {name!r} already exists") from exc
    return get_secret(store, name)


def _secrets_from_rows(conn: sa.Connection, rows: Sequence[sa.Row[Any]]) -> list[Secret]:
    ids = [r.id for r in rows]
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    stage_map: dict[str, dict[str, str]] = {i: {} for i in ids}
    if ids:
        for r in conn.execute(sa.select(t.secret_tags).where(t.secret_tags.c.secret_id.in_(ids))):
            tags[r.secret_id][r.key] = r.value
        for r in conn.execute(sa.select(t.stages).where(t.stages.c.secret_id.in_(ids))):
            stage_map[r.secret_id][r.stage] = r.version_id
    return [
        Secret(
            name=r.name,
            secret_type=r.secret_type,
            description=r.description,
            tags=tags[r.id],
            created_at=r.created_at,
            updated_at=r.updated_at,
            delete_after=r.delete_after,
            stages=stage_map[r.id],
            arn_suffix=r.arn_suffix,
            extended_config=json.loads(r.extended_config) if r.extended_config else None,
        )
        for r in rows
    ]


def get_secret(store: Store, name: str) -> Secret:
    """Describe a secret (also while it is scheduled for deletion)."""
    validate_name(name)
    with store.read() as conn:
        row = load_row(conn, name, allow_pending_deletion=True)
        return _secrets_from_rows(conn, [row])[0]


def list_secrets(
    store: Store,
    *,
    prefix: str | None = None,
    tags: Mapping[str, str] | None = None,
    page_size: int = 50,
    page_token: str | None = None,
    include_pending_deletion: bool = False,
) -> Page[Secret]:
    """Secrets ordered by name, a page at a time (keyset paging on the name)."""
    validate_page_size(page_size)
    query = sa.select(t.secrets).order_by(t.secrets.c.name).limit(page_size + 1)
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(t.secrets.c.name.like(escaped + "%", escape="\\"))
    if page_token:
        after = decode_token(page_token)
        if not isinstance(after, str):
            raise errors.InvalidParameter("page_token is not valid")
        query = query.where(t.secrets.c.name > after)
    if not include_pending_deletion:
        query = query.where(t.secrets.c.delete_after.is_(None))
    for key, value in validate_tags(tags).items():
        query = query.where(
            sa.exists().where(
                t.secret_tags.c.secret_id == t.secrets.c.id,
                t.secret_tags.c.key == key,
                t.secret_tags.c.value == value,
            )
        )
    with store.read() as conn:
        rows = conn.execute(query).all()
        more = len(rows) > page_size
        rows = rows[:page_size]
        items = _secrets_from_rows(conn, rows)
    return Page(items=items, next_page_token=encode_token(rows[-1].name) if more else None)


def every_secret(store: Store, *, include_pending_deletion: bool = False) -> Iterator[Secret]:
    """Every secret by name, read a page at a time (for a listing that filters them all)."""
    token = None
    while True:
        page = list_secrets(
            store,
            page_size=MAX_PAGE_SIZE,
            page_token=token,
            include_pending_deletion=include_pending_deletion,
        )
        yield from page.items
        token = page.next_page_token
        if token is None:
            return


def update_secret(
    store: Store,
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    add_tags: Mapping[str, str] | None = None,
    remove_tags: Iterable[str] = (),
    extended_config: Mapping[str, Any] | None = None,
) -> Secret:
    """Change the description, replace the tags (or add ``add_tags`` and remove the keys
    ``remove_tags`` from them, under the secret's row lock, so concurrent changes to
    different tags both hold) and/or the extended configuration."""
    validate_name(name)
    if description is not None:
        _validate_description(description)
    extended = _extended_config_text(extended_config)
    if tags is not None and (add_tags is not None or remove_tags):
        raise errors.InvalidParameter("give tags, or tags to add and remove, not both")
    new_tags = validate_tags(tags) if tags is not None else None
    with store.write() as conn:
        row = load_row(conn, name, for_update=True)
        if add_tags is not None or remove_tags:
            gone = set(remove_tags)
            current = conn.execute(
                sa.select(t.secret_tags.c.key, t.secret_tags.c.value).where(
                    t.secret_tags.c.secret_id == row.id
                )
            )
            merged = {key: value for key, value in current if key not in gone}
            new_tags = validate_tags({**merged, **(add_tags or {})})
        changes: dict[str, Any] = {"updated_at": utcnow()}
        if description is not None:
            changes["description"] = description
        if extended is not None:
            changes["extended_config"] = extended
        conn.execute(t.secrets.update().where(t.secrets.c.id == row.id).values(**changes))
        if new_tags is not None:
            conn.execute(t.secret_tags.delete().where(t.secret_tags.c.secret_id == row.id))
            if new_tags:
                conn.execute(
                    t.secret_tags.insert(),
                    [{"secret_id": row.id, "key": k, "value": v} for k, v in new_tags.items()],
                )
    return get_secret(store, name)
