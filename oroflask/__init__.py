"""oroflask: connect an application to Microsoft 365 mail over OAuth."""

import os

from flask import Flask

from . import config, database, encryption, health, logs, web
from .extensions import csrf, db, login_manager


def create_app(test_config: dict | None = None, *, migrations: bool = True) -> Flask:
    """Create the application: defaults, instance/config.py, OROFLASK_* variables, then extensions.

    `migrations` registers Flask-Migrate at once (flask_migrate.upgrade() in tests); without it,
    `flask db ...` registers it when run, and every other command and a server's workers are spared
    Alembic (about 12 MB in each process).
    """
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("OROFLASK_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.path.abspath(instance_path) if instance_path else None,
    )
    app.config.from_mapping(config.defaults(app.instance_path))
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("OROFLASK")
    else:
        app.config.from_mapping(test_config)
    config.finalize(app)

    logs.init_app(app)
    db.init_app(app)
    database.init_app(app)
    if migrations:
        database.init_migrations(app)
    else:
        app.cli.add_command(database.migration_commands)
    # Before CSRF protection, so that a body that is not a form is refused as such.
    web.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    encryption.init_app(app)

    from . import (  # noqa: F401
        account, audit, auth, connection, mail, mailboxes, mailstore, sending, settings, sync, users, worker,
    )

    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(connection.bp)
    app.register_blueprint(mailboxes.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(sync.bp)
    app.register_blueprint(mail.bp)
    app.register_blueprint(sending.bp)
    worker.init_app(app)
    return app
