"""Nodes: their heartbeats, the node named on rotations, their events and audit events,
and the generation of access data every node checks its cached keys against.

Every change here is additive and nullable, so a node of the previous release keeps
serving on a store this migration has upgraded (tests/nodes/test_rolling_upgrade.py).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# Plain ALTER TABLE ADD COLUMN on both databases (see 0004).


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("instance", sa.String(96), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("url", sa.String(256), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
        sa.Column("stopped_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("instance", name="pk_nodes"),
    )
    op.create_index("ix_nodes_heartbeat_at", "nodes", ["heartbeat_at"])
    op.create_table(
        "access_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_generation"),
    )
    op.execute("INSERT INTO access_generation (id, generation) VALUES (1, 0)")
    op.add_column("rotations", sa.Column("node", sa.String(64), nullable=True))
    op.add_column("rotation_events", sa.Column("node", sa.String(64), nullable=True))
    op.add_column("audit_events", sa.Column("node", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_events", "node")
    op.drop_column("rotation_events", "node")
    op.drop_column("rotations", "node")
    op.drop_table("access_generation")
    op.drop_index("ix_nodes_heartbeat_at", table_name="nodes")
    op.drop_table("nodes")
