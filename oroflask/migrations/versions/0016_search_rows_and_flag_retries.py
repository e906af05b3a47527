"""Search: on SQLite a message's full-text row goes with the message (PostgreSQL's already does, by
its foreign key); rows that removed messages left are dropped now. A pending read or flag change
counts its failed write-backs and says when the next may run.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("mail_flag_change") as table:
        table.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        table.add_column(sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name != "sqlite":
        return
    # FTS5 rows have no foreign key. Left behind, a row would also be taken for the index of the
    # next message that reuses its id, which would then be found by the removed message's words.
    op.execute("DELETE FROM message_search WHERE rowid NOT IN (SELECT id FROM message)")
    op.execute(
        "CREATE TRIGGER message_search_forget AFTER DELETE ON message "
        "BEGIN DELETE FROM message_search WHERE rowid = old.id; END"
    )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER message_search_forget")
    with op.batch_alter_table("mail_flag_change") as table:
        table.drop_column("next_try_at")
        table.drop_column("attempts")
