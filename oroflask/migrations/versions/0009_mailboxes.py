"""Mailboxes (a user's personal one now, system ones later), the grant each uses, its folders.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ONE_PERSONAL = sa.text("kind = 'personal'")


def upgrade():
    op.create_table(
        "mailbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("folders", sa.JSON(), nullable=True),
        sa.Column("sync_from", sa.Date(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_outcome", sa.String(length=16), nullable=True),
        sa.Column("listed_folders", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["grant_id"], ["microsoft_grant.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mailbox_grant_id", "mailbox", ["grant_id"])
    op.create_index(
        "ix_mailbox_one_personal",
        "mailbox",
        ["owner_id"],
        unique=True,
        sqlite_where=ONE_PERSONAL,
        postgresql_where=ONE_PERSONAL,
    )
    with op.batch_alter_table("authorization_attempt") as batch:
        batch.add_column(sa.Column("expected_account", sa.String(length=254), nullable=True))


def downgrade():
    with op.batch_alter_table("authorization_attempt") as batch:
        batch.drop_column("expected_account")
    op.drop_index("ix_mailbox_one_personal", table_name="mailbox")
    op.drop_index("ix_mailbox_grant_id", table_name="mailbox")
    op.drop_table("mailbox")
