"""Policies and their attachments, session keys, request nonces, the audit log.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ADMINISTRATOR = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def upgrade() -> None:
    with op.batch_alter_table("access_keys") as batch:
        batch.add_column(sa.Column("session_token_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("session_policy", sa.Text(), nullable=True))
    policies = op.create_table(
        "policies",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(1024), server_default="", nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policies"),
        sa.UniqueConstraint("name", name="uq_policies_name"),
    )
    attachments = op.create_table(
        "principal_policies",
        sa.Column("principal_id", sa.String(32), nullable=False),
        sa.Column("policy_id", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name="fk_principal_policies_principal_id_principals",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["policies.id"],
            name="fk_principal_policies_policy_id_policies",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("principal_id", "policy_id", name="pk_principal_policies"),
    )
    op.create_table(
        "request_nonces",
        sa.Column("access_key_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("access_key_id", "nonce", name="pk_request_nonces"),
    )
    op.create_index("ix_request_nonces_expires_at", "request_nonces", ["expires_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("principal", sa.String(128), nullable=True),
        sa.Column("access_key_id", sa.String(64), nullable=True),
        sa.Column("source", sa.String(128), nullable=True),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("secret_name", sa.String(192), nullable=True),
        sa.Column("version_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("rotation_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_principal", "audit_events", ["principal"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_secret_name", "audit_events", ["secret_name"])
    # The admin of a store made before policies existed keeps full access.
    now = dt.datetime.now(dt.UTC)
    policy_id = uuid.uuid4().hex
    op.bulk_insert(
        policies,
        [
            {
                "id": policy_id,
                "name": "AdministratorAccess",
                "description": "Everything, on everything.",
                "document": json.dumps(ADMINISTRATOR),
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    admin = (
        op.get_bind().execute(sa.text("SELECT id FROM principals WHERE name = 'admin'")).scalar()
    )
    if admin is not None:
        op.bulk_insert(attachments, [{"principal_id": admin, "policy_id": policy_id}])


def downgrade() -> None:
    for table in ("audit_events", "request_nonces", "principal_policies", "policies"):
        op.drop_table(table)
    with op.batch_alter_table("access_keys") as batch:
        batch.drop_column("session_policy")
        batch.drop_column("session_token_hash")
