"""Mail search: a full-text index of each message (SQLite FTS5, PostgreSQL tsvector with GIN), and
the read and flag changes made here that wait to be written back to the server.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        # Columns in the order the search module writes them; rowid is the message's id.
        op.execute(
            "CREATE VIRTUAL TABLE message_search USING fts5("
            "subject, sender, recipients, body, tokenize = 'unicode61 remove_diacritics 0')"
        )
    else:
        op.execute(
            "CREATE TABLE message_search ("
            "message_id INTEGER PRIMARY KEY REFERENCES message (id) ON DELETE CASCADE, "
            "document TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_message_search_document ON message_search USING GIN (document)")
    op.create_index("ix_message_mailbox_internaldate", "message", ["mailbox_id", "internaldate"])
    op.create_table(
        "mail_flag_change",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("flag", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Boolean(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id", "flag"),
    )
    op.create_index("ix_mail_flag_change_mailbox_id", "mail_flag_change", ["mailbox_id"])


def downgrade():
    op.drop_index("ix_mail_flag_change_mailbox_id", table_name="mail_flag_change")
    op.drop_table("mail_flag_change")
    op.drop_index("ix_message_mailbox_internaldate", table_name="message")
    op.execute("DROP TABLE message_search")
