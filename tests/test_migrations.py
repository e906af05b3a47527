"""The migrations build the schema the models describe, and can be undone."""

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from oroflask.extensions import db
from oroflask.settings.models import MicrosoftSettings


def differences(app) -> list:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def tables(app) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_the_migrated_schema_matches_the_models(app):
    assert differences(app) == []


def test_the_migrations_create_the_settings_row(app):
    with app.app_context():
        assert db.session.get(MicrosoftSettings, 1) is not None


def test_downgrade_to_base_and_upgrade_again(app):
    created = tables(app)
    assert {"user", "login_failure", "microsoft_settings", "setting_change"} <= created
    with app.app_context():
        flask_migrate.downgrade(revision="base")
    assert tables(app) == set()
    with app.app_context():
        flask_migrate.upgrade()
    assert tables(app) == created
    assert differences(app) == []
