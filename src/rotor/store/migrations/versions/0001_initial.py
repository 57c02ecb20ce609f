"""Secrets, versions, stages, tags, principals and access keys.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "principals",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_principals"),
        sa.UniqueConstraint("name", name="uq_principals_name"),
    )
    op.create_table(
        "secrets",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(192), nullable=False),
        sa.Column("secret_type", sa.String(64), nullable=False),
        sa.Column("description", sa.String(1024), server_default="", nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("delete_after", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_secrets"),
        sa.UniqueConstraint("name", name="uq_secrets_name"),
    )
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("principal_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("master_key_id", sa.String(32), nullable=False),
        sa.Column("data_key", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name="fk_access_keys_principal_id_principals",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_access_keys"),
    )
    op.create_index("ix_access_keys_master_key_id", "access_keys", ["master_key_id"])
    op.create_index("ix_access_keys_principal_id", "access_keys", ["principal_id"])
    op.create_table(
        "secret_tags",
        sa.Column("secret_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(
            ["secret_id"],
            ["secrets.id"],
            name="fk_secret_tags_secret_id_secrets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("secret_id", "key", name="pk_secret_tags"),
    )
    op.create_table(
        "versions",
        sa.Column("secret_id", sa.String(32), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("value_type", sa.String(8), nullable=False),
        sa.Column("master_key_id", sa.String(32), nullable=False),
        sa.Column("data_key", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["secret_id"], ["secrets.id"], name="fk_versions_secret_id_secrets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("secret_id", "version_id", name="pk_versions"),
    )
    op.create_index("ix_versions_master_key_id", "versions", ["master_key_id"])
    op.create_table(
        "stages",
        sa.Column("secret_id", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["secret_id", "version_id"],
            ["versions.secret_id", "versions.version_id"],
            name="fk_stages_version",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["secret_id"], ["secrets.id"], name="fk_stages_secret_id_secrets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("secret_id", "stage", name="pk_stages"),
    )


def downgrade() -> None:
    for table in ("stages", "versions", "secret_tags", "access_keys", "secrets", "principals"):
        op.drop_table(table)
