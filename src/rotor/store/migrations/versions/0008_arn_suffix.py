"""Each secret's ARN suffix: the six random characters its AWS-form ARN ends with.

Existing secrets get one each, drawn here. The change is additive: a node of the previous
release keeps creating secrets on the upgraded store, and on PostgreSQL (the only store
several nodes share) the column's default draws their suffix from the server's strong
random source. On SQLite the column is added with a constant default (a copy-and-swap of
the secrets table would drop, by cascade, every version and stage), then filled.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#: PostgreSQL's default for rows a node of the previous release inserts (hex characters).
_PG_DEFAULT = "substr(replace(gen_random_uuid()::text, '-', ''), 1, 6)"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column(
        "secrets",
        sa.Column(
            "arn_suffix",
            sa.String(6),
            nullable=not sqlite,
            server_default="" if sqlite else None,
        ),
    )
    table = sa.table("secrets", sa.column("id", sa.String), sa.column("arn_suffix", sa.String))
    bind = op.get_bind()
    for (secret_id,) in bind.execute(sa.select(table.c.id)).all():
        suffix = "".join(secrets.choice(_ALPHABET) for _ in range(6))
        bind.execute(table.update().where(table.c.id == secret_id).values(arn_suffix=suffix))
    if not sqlite:
        op.alter_column(
            "secrets", "arn_suffix", nullable=False, server_default=sa.text(_PG_DEFAULT)
        )


def downgrade() -> None:
    op.drop_column("secrets", "arn_suffix")
