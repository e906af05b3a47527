"""The one Microsoft connection becomes the first of many grants: each says what it is for (the
site's Enable, or a mailbox) and who signed in for it; an authorization attempt says what it is
for and which grant it renews.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ONE_SITE = sa.text("purpose = 'site'")


def upgrade():
    op.rename_table("microsoft_connection", "microsoft_grant")
    _rename_postgresql_names("microsoft_connection", "microsoft_grant")
    with op.batch_alter_table("microsoft_grant") as batch:
        batch.add_column(sa.Column("purpose", sa.String(length=16), nullable=False, server_default="site"))
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_microsoft_grant_user_id_user", "user", ["user_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_microsoft_grant_user_id", ["user_id"])
    # The existing connection was the site's; who made it is the admin of its latest successful
    # sign-in, when that attempt is still kept.
    op.execute(
        "UPDATE microsoft_grant SET user_id = ("
        "SELECT authorization_attempt.user_id FROM authorization_attempt "
        "WHERE authorization_attempt.status = 'succeeded' "
        "AND authorization_attempt.account = microsoft_grant.account "
        "ORDER BY authorization_attempt.finished_at DESC LIMIT 1)"
    )
    with op.batch_alter_table("microsoft_grant") as batch:
        batch.alter_column("purpose", server_default=None)
    op.create_index(
        "ix_microsoft_grant_one_site",
        "microsoft_grant",
        ["purpose"],
        unique=True,
        sqlite_where=ONE_SITE,
        postgresql_where=ONE_SITE,
    )
    with op.batch_alter_table("authorization_attempt") as batch:
        batch.add_column(sa.Column("purpose", sa.String(length=16), nullable=False, server_default="site"))
        batch.add_column(sa.Column("grant_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_authorization_attempt_grant_id_microsoft_grant",
            "microsoft_grant",
            ["grant_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_authorization_attempt_grant_id", ["grant_id"])
    with op.batch_alter_table("authorization_attempt") as batch:
        batch.alter_column("purpose", server_default=None)


def downgrade():
    # Only the site's connection fits the old table: mailbox grants and their sign-ins go.
    op.execute("DELETE FROM authorization_attempt WHERE purpose <> 'site'")
    with op.batch_alter_table("authorization_attempt") as batch:
        batch.drop_index("ix_authorization_attempt_grant_id")
        batch.drop_constraint("fk_authorization_attempt_grant_id_microsoft_grant", type_="foreignkey")
        batch.drop_column("grant_id")
        batch.drop_column("purpose")
    op.execute("DELETE FROM microsoft_grant WHERE purpose <> 'site'")
    op.drop_index("ix_microsoft_grant_one_site", table_name="microsoft_grant")
    with op.batch_alter_table("microsoft_grant") as batch:
        batch.drop_index("ix_microsoft_grant_user_id")
        batch.drop_constraint("fk_microsoft_grant_user_id_user", type_="foreignkey")
        batch.drop_column("user_id")
        batch.drop_column("purpose")
    op.rename_table("microsoft_grant", "microsoft_connection")
    _rename_postgresql_names("microsoft_grant", "microsoft_connection")


def _rename_postgresql_names(old: str, new: str) -> None:
    # PostgreSQL keeps the old table's name in its primary key and its id sequence: rename them,
    # so that they are named as if the table had been created under its new name.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT {old}_pkey TO {new}_pkey")
        op.execute(f"ALTER SEQUENCE {old}_id_seq RENAME TO {new}_id_seq")
