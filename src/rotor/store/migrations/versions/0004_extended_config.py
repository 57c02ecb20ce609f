"""A secret's extended configuration (a JSON object), as the KMS-compatible API keeps it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases: a batch (copy-and-swap) on SQLite would drop the old
# secrets table, and with it, by cascade, every version and stage.


def upgrade() -> None:
    op.add_column("secrets", sa.Column("extended_config", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("secrets", "extended_config")
