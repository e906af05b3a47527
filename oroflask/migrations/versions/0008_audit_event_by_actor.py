"""The audit log filtered by account, newest first, and its list of accounts, read from an index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_audit_event_actor_email_id", "audit_event", ["actor_email", "id"])


def downgrade():
    op.drop_index("ix_audit_event_actor_email_id", table_name="audit_event")
