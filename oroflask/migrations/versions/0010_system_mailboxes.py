"""System mailboxes: their readers, unique addresses, the sign-in that connects them, Check
connection's state and results, and why a mailbox's grant ended.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ONE_SYSTEM_ADDRESS = sa.text("kind = 'system'")


def upgrade():
    with op.batch_alter_table("mailbox") as batch:
        batch.add_column(sa.Column("grant_ended_reason", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("sign_in_attempt_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("check_results", sa.JSON(), nullable=True))
        batch.create_foreign_key(
            "fk_mailbox_sign_in_attempt_id",
            "authorization_attempt",
            ["sign_in_attempt_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_mailbox_sign_in_attempt_id", ["sign_in_attempt_id"])
    op.create_index(
        "ix_mailbox_one_system_address",
        "mailbox",
        ["address"],
        unique=True,
        sqlite_where=ONE_SYSTEM_ADDRESS,
        postgresql_where=ONE_SYSTEM_ADDRESS,
    )
    op.create_table(
        "mailbox_reader",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.CheckConstraint("(user_id IS NULL) <> (role IS NULL)", name="ck_mailbox_reader_user_or_role"),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailbox.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox_id", "user_id", name="uq_mailbox_reader_user"),
        sa.UniqueConstraint("mailbox_id", "role", name="uq_mailbox_reader_role"),
    )
    op.create_index("ix_mailbox_reader_user_id", "mailbox_reader", ["user_id"])
    op.create_index("ix_mailbox_reader_role", "mailbox_reader", ["role"])


def downgrade():
    op.drop_index("ix_mailbox_reader_role", table_name="mailbox_reader")
    op.drop_index("ix_mailbox_reader_user_id", table_name="mailbox_reader")
    op.drop_table("mailbox_reader")
    op.drop_index("ix_mailbox_one_system_address", table_name="mailbox")
    with op.batch_alter_table("mailbox") as batch:
        batch.drop_index("ix_mailbox_sign_in_attempt_id")
        batch.drop_constraint("fk_mailbox_sign_in_attempt_id", type_="foreignkey")
        batch.drop_column("check_results")
        batch.drop_column("sign_in_attempt_id")
        batch.drop_column("grant_ended_reason")
