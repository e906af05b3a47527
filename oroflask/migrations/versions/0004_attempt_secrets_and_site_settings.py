"""The authorization attempt keeps its PKCE verifier and nonce, encrypted; the site settings
keep the public address pinned when the first administrator signs in.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("authorization_attempt") as batch:
        batch.add_column(sa.Column("code_verifier_encrypted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("nonce_encrypted", sa.Text(), nullable=True))
    site = op.create_table(
        "site_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_url", sa.String(length=255), nullable=True),
        sa.Column("public_url_pinned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(site, [{"id": 1}])


def downgrade():
    op.drop_table("site_settings")
    with op.batch_alter_table("authorization_attempt") as batch:
        batch.drop_column("nonce_encrypted")
        batch.drop_column("code_verifier_encrypted")
