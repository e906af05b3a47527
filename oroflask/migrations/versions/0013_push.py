"""Push over IDLE: which worker watches each mailbox's Inbox (a lease), whether push is on, and
when Sync now was last clicked.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mailbox_sync") as table:
        table.add_column(sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("push_owner", sa.String(length=64), nullable=True))
        table.add_column(sa.Column("push_lease_until", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("push_active", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table("mailbox_sync") as table:
        table.drop_column("push_active")
        table.drop_column("push_lease_until")
        table.drop_column("push_owner")
        table.drop_column("requested_at")
