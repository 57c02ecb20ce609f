"""Registered functions, the principal who configured each rotation, function sessions.

Every rotation configured before this release is taken as configured by the admin
(the only principal who could delegate then). Configurations that name
``python-handler`` or ``http-function`` with their handler or URL in the parameters
are moved onto registered functions when the store opens
(:func:`rotor.store.functions.adopt_unregistered`), since an HTTP function's URL is
kept in an encrypted secret a migration cannot read.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# Plain ALTER TABLE ADD COLUMN on both databases (see 0004).


def upgrade() -> None:
    op.create_table(
        "functions",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("description", sa.String(1024), server_default="", nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_functions"),
    )
    op.add_column("rotation_configs", sa.Column("configured_by", sa.String(32), nullable=True))
    op.add_column("rotation_configs", sa.Column("delegated_secrets", sa.Text(), nullable=True))
    for column in (
        sa.Column("function", sa.String(64), nullable=True),
        sa.Column("rotation_id", sa.String(32), nullable=True),
        sa.Column("on_behalf_of", sa.String(128), nullable=True),
    ):
        op.add_column("access_keys", column)
    op.add_column("audit_events", sa.Column("function", sa.String(64), nullable=True))
    op.add_column("audit_events", sa.Column("on_behalf_of", sa.String(128), nullable=True))
    op.execute(
        "UPDATE rotation_configs SET configured_by = "
        "(SELECT id FROM principals WHERE name = 'admin')"
    )


def downgrade() -> None:
    op.drop_column("audit_events", "on_behalf_of")
    op.drop_column("audit_events", "function")
    for name in ("on_behalf_of", "rotation_id", "function"):
        op.drop_column("access_keys", name)
    op.drop_column("rotation_configs", "delegated_secrets")
    op.drop_column("rotation_configs", "configured_by")
    op.drop_table("functions")
