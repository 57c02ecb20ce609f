"""Each secret's ARN suffix: drawn at creation, kept for the secret's life, drawn for
secrets that existed before migration 0008, and the one AWS-form ARN format."""

from __future__ import annotations

import re

import pytest
from alembic import command
from alembic.config import Config

from rotor import errors
from rotor.settings import Settings
from rotor.store import deletion, secrets
from rotor.store.database import MIGRATIONS, Store

SUFFIX_RE = re.compile(r"[A-Za-z0-9]{6}")


def test_a_suffix_is_drawn_at_creation_and_kept(store: Store) -> None:
    made = secrets.create_secret(store, name="app/db", value="v")
    assert SUFFIX_RE.fullmatch(made.arn_suffix)
    secrets.update_secret(store, "app/db", description="changed")
    assert secrets.get_secret(store, "app/db").arn_suffix == made.arn_suffix
    assert secrets.arn_suffix(store, "app/db") == made.arn_suffix
    deletion.delete_secret(store, "app/db", force=True)
    again = secrets.create_secret(store, name="app/db", value="v")
    assert again.arn_suffix != made.arn_suffix


def test_arns_resolve_complete_partial_and_not_another_suffix(store: Store) -> None:
    made = secrets.create_secret(store, name="app/db", value="v")
    where = {"region": "eu-west-1", "account": "123456789012"}
    arn = secrets.aws_arn("app/db", made.arn_suffix, **where)
    assert arn == f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-{made.arn_suffix}"
    assert secrets.name_of_aws_arn(store, arn, **where) == "app/db"
    partial = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db"
    assert secrets.name_of_aws_arn(store, partial, **where) == "app/db"
    # Another suffix reads as a partial ARN of a secret named "app/db-XXXXXX": none is.
    other = arn[:-6] + ("A" if made.arn_suffix[0] != "A" else "B") + made.arn_suffix[1:]
    assert secrets.name_of_aws_arn(store, other, **where) == other.rsplit(":", 1)[1]
    with pytest.raises(errors.NotFound):
        secrets.name_of_aws_arn(store, arn, region="us-east-1", account="123456789012")
    with pytest.raises(errors.NotFound):
        secrets.arn_suffix(store, "no/such")


def test_secrets_made_before_the_migration_get_a_suffix_each(settings: Settings) -> None:
    first = Store.open(settings)
    for n in range(5):
        secrets.create_secret(first, name=f"old/{n}", value="v")
    with first.engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
        command.upgrade(cfg, "0008")
    first.close()
    upgraded = Store.open(settings)
    suffixes = [secrets.get_secret(upgraded, f"old/{n}").arn_suffix for n in range(5)]
    upgraded.close()
    assert all(SUFFIX_RE.fullmatch(s) for s in suffixes)
    assert len(set(suffixes)) == 5
