"""Rotation configurations, rotation records, their steps and events.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rotation_configs",
        sa.Column("secret_id", sa.String(32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("function", sa.String(256), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(128), nullable=True),
        sa.Column("window_seconds", sa.Integer(), nullable=True),
        sa.Column("flow", sa.Text(), nullable=True),
        sa.Column("enabled_at", TS, nullable=False),
        sa.Column("next_rotation_at", TS, nullable=True),
        sa.Column("last_rotated_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["secret_id"],
            ["secrets.id"],
            name="fk_rotation_configs_secret_id_secrets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("secret_id", name="pk_rotation_configs"),
    )
    op.create_index(
        "ix_rotation_configs_next_rotation_at", "rotation_configs", ["next_rotation_at"]
    )
    op.create_table(
        "rotations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("secret_id", sa.String(32), nullable=False),
        sa.Column("version_id", sa.String(64), nullable=False),
        sa.Column("function", sa.String(256), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("flow", sa.Text(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("local", sa.Text(), nullable=False),
        sa.Column("base_version_id", sa.String(64), nullable=True),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["secret_id"], ["secrets.id"], name="fk_rotations_secret_id_secrets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rotations"),
    )
    op.create_index("ix_rotations_secret_id", "rotations", ["secret_id"])
    op.create_index(
        "uq_rotations_running",
        "rotations",
        ["secret_id"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "rotation_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rotation_id", sa.String(32), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("step", sa.String(128), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rotation_id"],
            ["rotations.id"],
            name="fk_rotation_events_rotation_id_rotations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rotation_events"),
    )
    op.create_index("ix_rotation_events_rotation_id", "rotation_events", ["rotation_id"])
    op.create_table(
        "rotation_steps",
        sa.Column("rotation_id", sa.String(32), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rotation_id"],
            ["rotations.id"],
            name="fk_rotation_steps_rotation_id_rotations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rotation_id", "step_index", name="pk_rotation_steps"),
    )


def downgrade() -> None:
    for table in ("rotation_steps", "rotation_events", "rotations", "rotation_configs"):
        op.drop_table(table)
