"""The record of setting changes becomes the audit log, which records other areas too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sa.String(length=254), nullable=False),
        sa.Column("area", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=254), nullable=False),
        sa.Column("change", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    op.create_index("ix_audit_event_actor_id", "audit_event", ["actor_id"])
    op.create_index("ix_audit_event_area_at", "audit_event", ["area", "at"])
    op.execute(
        "INSERT INTO audit_event (id, at, actor_id, actor_email, area, subject, change) "
        "SELECT id, changed_at, user_id, user_email, 'settings', field, change FROM setting_change"
    )
    op.drop_index("ix_setting_change_changed_at", table_name="setting_change")
    op.drop_table("setting_change")
    _restart_ids("audit_event")


def downgrade():
    op.create_table(
        "setting_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("user_email", sa.String(length=254), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("change", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_setting_change_changed_at", "setting_change", ["changed_at"])
    # Only the settings' own changes fit the old table; the other areas are lost on the way down.
    op.execute(
        "INSERT INTO setting_change (id, changed_at, user_id, user_email, field, change) "
        "SELECT id, at, actor_id, actor_email, substr(subject, 1, 64), change FROM audit_event "
        "WHERE area = 'settings'"
    )
    op.drop_table("audit_event")
    _restart_ids("setting_change")


def _restart_ids(table: str) -> None:
    # Rows were copied with their ids: PostgreSQL's sequence must move past them.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
        )
