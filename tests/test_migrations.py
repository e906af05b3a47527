"""The migrations build the schema the models describe, from an empty database, and can be undone:
on SQLite, and on PostgreSQL when the suite runs with OROFLASK_TEST_DATABASE_URL."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from oroflask import create_app
from oroflask.database import MIGRATIONS, described_by_models
from oroflask.extensions import db
from oroflask.settings.models import MicrosoftSettings
from oroflask.worker import queue_of
from tests.conftest import TEST_DATABASE_URL


def differences(app) -> list:
    """Return what the models and the database differ in, leaving out the tables no model describes."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": described_by_models}
        )
        return compare_metadata(context, db.metadata)


def tables(app) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def current_revision(app) -> str | None:
    with app.app_context(), db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def revisions() -> list[str]:
    """Return every revision, oldest first."""
    script = ScriptDirectory(str(MIGRATIONS))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


@pytest.fixture
def empty_app(config):
    """An application on an empty database: nothing migrated yet."""
    app = create_app(config)
    yield app
    with app.app_context():
        db.engine.dispose()


def test_the_migrated_schema_matches_the_models(app):
    assert differences(app) == []


def test_flask_db_check_finds_nothing_to_migrate(app):
    # The mail search index is made by its migration, not described by a model: `flask db
    # migrate` must not take it for a table to drop. A difference makes check() exit.
    with app.app_context():
        flask_migrate.check()


def test_a_postgresql_queue_in_the_applications_own_database_is_left_to_huey(config):
    if not TEST_DATABASE_URL:
        pytest.skip("the queue in the application's database needs PostgreSQL (OROFLASK_TEST_DATABASE_URL)")
    search_path = config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"]
    config["QUEUE_URL"] = f"{TEST_DATABASE_URL}?options={quote(search_path)}"
    app = create_app(config)
    huey = queue_of(app).huey
    try:
        with app.app_context():
            flask_migrate.upgrade()
            assert {"queue_task", "queue_schedule", "queue_kv"} <= tables(app)

            flask_migrate.check()
    finally:
        huey.storage.close()
        with app.app_context():
            db.engine.dispose()


def test_the_migrations_create_the_settings_row(app):
    with app.app_context():
        assert db.session.get(MicrosoftSettings, 1) is not None


def test_an_empty_database_goes_up_to_head_and_down_to_base_one_step_at_a_time(empty_app):
    assert tables(empty_app) == set()
    assert current_revision(empty_app) is None
    steps = revisions()
    for revision in steps:
        with empty_app.app_context():
            flask_migrate.upgrade(revision="+1")
        assert current_revision(empty_app) == revision
    assert {"user", "login_failure", "microsoft_settings", "audit_event"} <= tables(empty_app)
    assert differences(empty_app) == []
    for revision in reversed([None, *steps[:-1]]):
        with empty_app.app_context():
            flask_migrate.downgrade(revision="-1")
        assert current_revision(empty_app) == revision
    assert tables(empty_app) == set()


def test_downgrade_to_base_and_upgrade_again(app):
    created = tables(app)
    with app.app_context():
        flask_migrate.downgrade(revision="base")
    assert tables(app) == set()
    with app.app_context():
        flask_migrate.upgrade()
    assert tables(app) == created
    assert differences(app) == []


def test_the_documented_command_builds_an_empty_database(empty_app):
    result = empty_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert current_revision(empty_app) == revisions()[-1]
    assert differences(empty_app) == []


def test_the_settings_row_keeps_its_values_through_the_upgrade(empty_app):
    with empty_app.app_context():
        flask_migrate.upgrade(revision="0001")
        db.session.execute(text("UPDATE microsoft_settings SET tenant = 'contoso.onmicrosoft.com'"))
        db.session.commit()
        flask_migrate.upgrade()
        settings = db.session.get(MicrosoftSettings, 1)
        assert settings.tenant == "contoso.onmicrosoft.com"
        assert settings.emails_sync_enabled is False


def test_the_entry_point_loads_alembic_only_for_the_db_commands(tmp_path):
    # `flask --app wsgi db ...` builds the database; the same module imported by gunicorn's
    # workers, or by any other command (the mail worker's), does not load Alembic, which weighs
    # about 12 MB in each process.
    root = Path(__file__).resolve().parents[1]
    environment = {
        **os.environ,
        "OROFLASK_INSTANCE_PATH": str(tmp_path),
        "OROFLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/entry.sqlite",
    }

    def flask(*arguments: str, given: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *arguments],
            cwd=root, env=environment, input=given, capture_output=True, text=True, timeout=120,
        )

    command = flask("db", "upgrade")
    assert command.returncode == 0, command.stderr
    assert "Running upgrade 0001 -> 0002" in command.stderr
    current = flask("db", "--directory", str(MIGRATIONS), "current")
    assert current.returncode == 0, current.stderr
    assert "(head)" in current.stdout
    listed = flask("--help")
    assert "db  " in listed.stdout and "Perform database migrations" in listed.stdout
    loaded = "import sys; print(sorted(m for m in sys.modules if m.startswith(('alembic', 'flask_migrate'))))"
    served = subprocess.run(
        [sys.executable, "-c", f"import wsgi; {loaded}"],
        cwd=root, env=environment, capture_output=True, text=True, timeout=120,
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout.strip() == "[]"
    other_command = flask("shell", given=loaded + "\n")
    assert other_command.returncode == 0, other_command.stderr
    assert ">>> []" in other_command.stdout


def test_the_record_of_setting_changes_moves_into_the_audit_log(empty_app):
    with empty_app.app_context():
        flask_migrate.upgrade(revision="0004")
        db.session.execute(text(
            "INSERT INTO setting_change (id, changed_at, user_id, user_email, field, change) "
            "VALUES (7, '2026-11-30 10:00:00+00:00', NULL, 'admin@example.com', 'tenant', 'set to common')"
        ))
        db.session.commit()
        flask_migrate.upgrade()
        rows = db.session.execute(
            text("SELECT id, actor_email, area, subject, change FROM audit_event")
        ).all()
        assert [tuple(row) for row in rows] == [(7, "admin@example.com", "settings", "tenant", "set to common")]
        # New events get new ids on PostgreSQL too, whose sequence moved past the copied rows.
        db.session.execute(text(
            "INSERT INTO audit_event (at, actor_email, area, subject, change) "
            "VALUES ('2026-12-01 10:00:00+00:00', '', 'settings', 'tenant', 'removed')"
        ))
        db.session.commit()
        flask_migrate.downgrade(revision="0004")
        fields = db.session.execute(text("SELECT field, change FROM setting_change ORDER BY id")).all()
        assert [tuple(row) for row in fields] == [("tenant", "set to common"), ("tenant", "removed")]


CONNECTION_ROW = {
    "id": 1,
    "account": "adele@contoso.onmicrosoft.com",
    "client_id": "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
    "tenant": "contoso.onmicrosoft.com",
    "tenant_id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
    "scopes": "openid offline_access",
    "access_token_encrypted": "gAAAA-access",
    "refresh_token_encrypted": "gAAAA-refresh",
    "access_token_expires_at": "2026-12-01 11:00:00+00:00",
    "connected_at": "2026-11-30 10:00:00+00:00",
    "reconnect_reason": "The authorization was revoked (AADSTS50173)",
}
CONNECTION_COLUMNS = ", ".join(CONNECTION_ROW)
CONNECTION_VALUES = ", ".join(f":{column}" for column in CONNECTION_ROW)


def test_the_microsoft_connection_becomes_the_sites_grant_and_back(empty_app):
    with empty_app.app_context():
        flask_migrate.upgrade(revision="0005")
        db.session.execute(text(
            "INSERT INTO \"user\" (id, email, password_hash, role, created_at) "
            "VALUES (3, 'admin@example.com', 'x', 'admin', '2026-11-30 09:00:00+00:00')"
        ))
        db.session.execute(text(f"INSERT INTO microsoft_connection ({CONNECTION_COLUMNS}) VALUES ({CONNECTION_VALUES})"), CONNECTION_ROW)
        db.session.execute(text(
            "INSERT INTO authorization_attempt (id, user_id, client_id, tenant, redirect_uri, same_window, status, "
            "created_at, finished_at, account) VALUES ('attempt-1', 3, :client_id, :tenant, 'http://localhost/cb', "
            "false, 'succeeded', '2026-11-30 09:59:00+00:00', '2026-11-30 10:00:00+00:00', :account)"
        ), CONNECTION_ROW)
        db.session.commit()

        flask_migrate.upgrade(revision="0007")
        grant = db.session.execute(text(
            f"SELECT {CONNECTION_COLUMNS}, purpose, user_id FROM microsoft_grant"
        )).mappings().one()
        assert {column: grant[column] for column in ("id", "account", "client_id", "tenant_id", "scopes",
                "access_token_encrypted", "refresh_token_encrypted", "reconnect_reason")} == {
            column: CONNECTION_ROW[column] for column in ("id", "account", "client_id", "tenant_id", "scopes",
            "access_token_encrypted", "refresh_token_encrypted", "reconnect_reason")
        }
        assert (grant["purpose"], grant["user_id"]) == ("site", 3)
        attempt = db.session.execute(text("SELECT purpose, grant_id FROM authorization_attempt")).one()
        assert tuple(attempt) == ("site", None)
        # At most one grant is the site's; mailboxes may have many.
        db.session.execute(text(
            f"INSERT INTO microsoft_grant ({CONNECTION_COLUMNS}, purpose) "
            f"VALUES ({CONNECTION_VALUES.replace(':id', '2')}, 'mailbox')"
        ), CONNECTION_ROW)
        db.session.commit()
        with pytest.raises(IntegrityError):
            db.session.execute(text(
                f"INSERT INTO microsoft_grant ({CONNECTION_COLUMNS}, purpose) "
                f"VALUES ({CONNECTION_VALUES.replace(':id', '3')}, 'site')"
            ), CONNECTION_ROW)
        db.session.rollback()

        flask_migrate.downgrade(revision="0005")
        rows = db.session.execute(text(f"SELECT {CONNECTION_COLUMNS} FROM microsoft_connection")).mappings().all()
        assert [row["id"] for row in rows] == [1]
        assert rows[0]["refresh_token_encrypted"] == "gAAAA-refresh"
        assert "microsoft_grant" not in tables(empty_app)


def test_rows_that_point_at_an_account_survive_the_upgrades(empty_app):
    # On SQLite, altering the account table rebuilds it: with foreign keys on, dropping the old
    # copy would delete the account's sessions and empty the audit log's authors.
    with empty_app.app_context():
        flask_migrate.upgrade(revision="0005")
        db.session.execute(text(
            "INSERT INTO \"user\" (id, email, password_hash, role, created_at) "
            "VALUES (3, 'admin@example.com', 'x', 'admin', '2026-11-30 09:00:00+00:00')"
        ))
        db.session.execute(text(
            "INSERT INTO user_session (token_hash, user_id, created_at, last_seen_at, user_agent, remote_addr) "
            "VALUES ('h', 3, '2026-11-30 09:00:00+00:00', '2026-11-30 09:00:00+00:00', 'Firefox', '192.0.2.1')"
        ))
        db.session.execute(text(
            "INSERT INTO audit_event (at, actor_id, actor_email, area, subject, change) "
            "VALUES ('2026-11-30 09:00:00+00:00', 3, 'admin@example.com', 'settings', 'tenant', 'set to common')"
        ))
        db.session.commit()
        flask_migrate.upgrade()
        assert db.session.execute(text("SELECT user_id FROM user_session")).scalar_one() == 3
        assert db.session.execute(text("SELECT actor_id FROM audit_event")).scalar_one() == 3
