"""The Microsoft connection, its authorization attempts, secret expiry and the sync switch.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("microsoft_settings") as batch:
        batch.add_column(sa.Column("client_secret_expires_on", sa.Date(), nullable=True))
        batch.add_column(
            sa.Column("emails_sync_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "microsoft_connection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=254), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("tenant", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("access_token_encrypted", sa.Text(), nullable=False),
        sa.Column("refresh_token_encrypted", sa.Text(), nullable=True),
        sa.Column("access_token_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reconnect_reason", sa.String(length=500), nullable=True),
        sa.Column("refresh_lease_owner", sa.String(length=32), nullable=True),
        sa.Column("refresh_lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "authorization_attempt",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("tenant", sa.String(length=255), nullable=False),
        sa.Column("redirect_uri", sa.String(length=512), nullable=False),
        sa.Column("same_window", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("account", sa.String(length=254), nullable=True),
        sa.Column("error_title", sa.String(length=200), nullable=True),
        sa.Column("error_action", sa.String(length=700), nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("trace_id", sa.String(length=64), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("missing_scopes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("state_hash"),
    )
    op.create_index("ix_authorization_attempt_user_id", "authorization_attempt", ["user_id"])


def downgrade():
    op.drop_index("ix_authorization_attempt_user_id", table_name="authorization_attempt")
    op.drop_table("authorization_attempt")
    op.drop_table("microsoft_connection")
    with op.batch_alter_table("microsoft_settings") as batch:
        batch.drop_column("emails_sync_enabled")
        batch.drop_column("client_secret_expires_on")
