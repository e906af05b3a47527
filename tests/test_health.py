"""/healthz: what a load balancer asks, answered without a login and without details."""

import logging

import flask_migrate

from oroflask import create_app


def test_healthy_before_any_account_exists(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok\n"
    assert response.mimetype == "text/plain"
    assert "Set-Cookie" not in response.headers


def test_healthy_for_a_visitor_once_accounts_exist(client, admin):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok\n"


def test_head_is_answered_too(client):
    assert client.head("/healthz").status_code == 200


def test_unavailable_without_its_schema(app, client, caplog):
    with app.app_context():
        flask_migrate.downgrade(revision="base")
    with caplog.at_level(logging.WARNING, logger="oroflask"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_data(as_text=True) == "unavailable\n"
    # One warning line that names the kind of failure, and no traceback.
    [record] = [record for record in caplog.records if record.name == "oroflask"]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("Health check failed: the database did not answer (")
    assert record.exc_info is None


def test_unavailable_when_the_database_does_not_answer(config, tmp_path):
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'missing-folder' / 'oroflask.sqlite'}"
    else:
        # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://oroflask@127.0.0.1:9/oroflask"
        config.pop("SQLALCHEMY_ENGINE_OPTIONS", None)
    response = create_app(config).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_data(as_text=True) == "unavailable\n"
