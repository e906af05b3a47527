"""The mail store: synced folders, raw message contents, messages with their index, conversations.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "conversation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("subject_key", sa.String(length=998), nullable=False),
        sa.Column("latest_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("unread_count", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("has_attachments", sa.Boolean(), nullable=False),
        sa.Column("latest_message_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_conversation_mailbox_latest", "conversation", ["mailbox_id", "latest_at"])
    op.create_index("ix_conversation_mailbox_subject_key", "conversation", ["mailbox_id", "subject_key"])
    op.create_table(
        "mail_folder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("uidnext", sa.BigInteger(), nullable=True),
        sa.Column("highestmodseq", sa.BigInteger(), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox_id", "name", name="uq_mail_folder_mailbox_name"),
    )
    op.create_table(
        "message_content",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox_id", "sha256", name="uq_message_content_mailbox_sha256"),
    )
    op.create_table(
        "message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("content_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("seen", sa.Boolean(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("internaldate", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("in_reply_to", sa.Text(), nullable=True),
        sa.Column("references", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_name", sa.Text(), nullable=False),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column("to_text", sa.Text(), nullable=False),
        sa.Column("to_addresses", sa.JSON(), nullable=False),
        sa.Column("cc_text", sa.Text(), nullable=False),
        sa.Column("cc_addresses", sa.JSON(), nullable=False),
        sa.Column("has_attachments", sa.Boolean(), nullable=False),
        sa.Column("attachment_names", sa.JSON(), nullable=False),
        sa.Column("snippet", sa.Text(), nullable=False),
        sa.Column("parse_error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["content_id"], ["message_content.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.ForeignKeyConstraint(["folder_id"], ["mail_folder.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("folder_id", "uid", name="uq_message_folder_uid"),
    )
    op.create_index("ix_message_content_id", "message", ["content_id"])
    op.create_index("ix_message_conversation_internaldate", "message", ["conversation_id", "internaldate"])
    op.create_index(
        "ix_message_mailbox_folder_internaldate", "message", ["mailbox_id", "folder_id", "internaldate"]
    )
    op.create_index("ix_message_mailbox_message_id", "message", ["mailbox_id", "message_id"])
    op.create_table(
        "thread_key",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mailbox_id", "message_id"),
    )
    op.create_index("ix_thread_key_conversation_id", "thread_key", ["conversation_id"])


def downgrade():
    op.drop_index("ix_thread_key_conversation_id", table_name="thread_key")
    op.drop_table("thread_key")
    op.drop_index("ix_message_mailbox_message_id", table_name="message")
    op.drop_index("ix_message_mailbox_folder_internaldate", table_name="message")
    op.drop_index("ix_message_conversation_internaldate", table_name="message")
    op.drop_index("ix_message_content_id", table_name="message")
    op.drop_table("message")
    op.drop_table("message_content")
    op.drop_table("mail_folder")
    op.drop_index("ix_conversation_mailbox_subject_key", table_name="conversation")
    op.drop_index("ix_conversation_mailbox_latest", table_name="conversation")
    op.drop_table("conversation")
