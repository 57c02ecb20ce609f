"""The event log (what happened to secrets and rotations, in commit order), notification
subscriptions, and the outbox of their deliveries.

Every change is additive, so a node of the previous release keeps serving on a store
this migration has upgraded; it records no events (tests/nodes/test_rolling_upgrade.py).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(48), nullable=False),
        sa.Column("secret_name", sa.String(256), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
        sa.UniqueConstraint("id", name="uq_events_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("prefix", sa.String(256), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("master_key_id", sa.String(32), nullable=False),
        sa.Column("data_key", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index(
        "ix_notifications_master_key_id",
        "notifications",
        ["master_key_id"],
    )
    op.create_table(
        "deliveries",
        sa.Column("id", SEQ, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("event_seq", SEQ, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_attempt_at", TS, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("lease_owner", sa.String(96), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["notifications.id"],
            name="fk_deliveries_subscription_id_notifications",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["events.seq"],
            name="fk_deliveries_event_seq_events",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("subscription_id", "event_seq", name="uq_deliveries_subscription_id"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_deliveries_state_next",
        "deliveries",
        ["state", "next_attempt_at"],
    )
    op.create_index("ix_deliveries_event_seq", "deliveries", ["event_seq"])
    # The due time an overdue event was recorded for, so it is recorded once per due time.
    op.add_column("rotation_configs", sa.Column("overdue_noted_for", TS, nullable=True))


def downgrade() -> None:
    op.drop_column("rotation_configs", "overdue_noted_for")
    op.drop_table("deliveries")
    op.drop_table("notifications")
    op.drop_index("ix_events_at", table_name="events")
    op.drop_table("events")
