"""Accounts: the first administrator, sign-in, throttling, roles."""

import logging
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from oroflask.auth import service as accounts
from oroflask.auth.models import LoginFailure, User
from oroflask.extensions import db

from .conftest import (
    ADMIN_EMAIL,
    CLIENT_ID,
    PASSWORD,
    SETTINGS_PAGE,
    csrf_token,
    field_url,
    htmx_headers,
    sign_in,
    stored_settings,
    submit_setup,
)


def users(app) -> dict[str, str]:
    """Return the stored accounts, e-mail to role."""
    with app.app_context():
        stored = db.session.execute(db.select(User)).scalars()
        return {account.email: account.role for account in stored}


def setup_code_file(app) -> Path:
    return Path(app.instance_path) / "setup-code"


# First administrator


@pytest.mark.parametrize("path", ["/", "/login", SETTINGS_PAGE])
def test_without_users_every_page_leads_to_setup(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/setup"


def test_without_users_htmx_gets_hx_redirect_to_setup(client):
    response = client.get(SETTINGS_PAGE, headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/setup"
    assert response.get_data(as_text=True) == ""


def test_setup_page_asks_for_the_setup_code(client, app):
    page = client.get("/setup").get_data(as_text=True)
    assert "Create the first administrator" in page
    assert "Setup code" in page
    assert setup_code_file(app).exists()


def test_wrong_setup_code_is_refused(client, app):
    client.get("/setup")
    response = submit_setup(client, "000000-000000-000000")
    assert response.status_code == 422
    assert "This is not the setup code" in response.get_data(as_text=True)
    assert users(app) == {}
    assert setup_code_file(app).exists()


def test_right_setup_code_creates_the_administrator_and_signs_in(client, app):
    client.get("/setup")
    code = setup_code_file(app).read_text().strip()
    response = submit_setup(client, code.lower())
    assert response.status_code == 302
    assert response.headers["Location"] == SETTINGS_PAGE
    assert users(app) == {ADMIN_EMAIL: "admin"}
    assert not setup_code_file(app).exists()
    page = client.get(SETTINGS_PAGE).get_data(as_text=True)
    assert "Administrator account created" in page
    assert ADMIN_EMAIL in page


def test_setup_refuses_a_short_password(client, app):
    client.get("/setup")
    response = submit_setup(client, setup_code_file(app).read_text().strip(), password="short")
    assert response.status_code == 422
    assert "Use at least 10 characters." in response.get_data(as_text=True)
    assert users(app) == {}


def test_setup_is_closed_once_an_administrator_exists(client, admin):
    response = client.get("/setup")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


def test_create_admin_command_reads_the_password_from_stdin(runner, app):
    result = runner.invoke(
        args=["create-admin", " Boss@Example.com ", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "Administrator boss@example.com created." in result.output
    assert users(app) == {"boss@example.com": "admin"}
    assert not setup_code_file(app).exists()
    assert sign_in(app.test_client(), "boss@example.com").status_code == 302


def test_create_admin_command_refuses_a_short_password(runner, app):
    result = runner.invoke(args=["create-admin", ADMIN_EMAIL, "--password-stdin"], input="short\n")
    assert result.exit_code != 0
    assert "Use at least 10 characters." in result.output
    assert users(app) == {}


def test_create_admin_command_refuses_an_existing_email(runner, app, admin):
    result = runner.invoke(args=["create-admin", ADMIN_EMAIL, "--password-stdin"], input=PASSWORD)
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_setup_code_command_prints_the_code_the_setup_page_accepts(runner, client, app):
    result = runner.invoke(args=["setup-code"])
    assert result.exit_code == 0
    code = setup_code_file(app).read_text().strip()
    assert code in result.output
    assert submit_setup(client, code).status_code == 302
    assert users(app) == {ADMIN_EMAIL: "admin"}


def test_setup_code_command_once_an_administrator_exists(runner, admin):
    result = runner.invoke(args=["setup-code"])
    assert "An administrator exists already" in result.output


def test_setup_code_command_names_the_file_of_this_instance_folder(runner, app):
    result = runner.invoke(args=["setup-code"])
    assert f"kept in {setup_code_file(app)} until" in result.output


def test_a_user_created_before_any_administrator_leaves_the_setup_open(runner, client, app):
    result = runner.invoke(
        args=["create-user", "first@example.com", "--role", "user", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert client.get("/login").headers["Location"] == "/setup"
    assert runner.invoke(args=["setup-code"]).output.count(setup_code_file(app).read_text().strip()) == 1
    assert submit_setup(client, setup_code_file(app).read_text().strip()).status_code == 302
    assert users(app) == {"first@example.com": "user", ADMIN_EMAIL: "admin"}
    assert not setup_code_file(app).exists()


def test_an_administrator_created_from_the_command_line_ends_the_setup(runner, client, app):
    result = runner.invoke(
        args=["create-user", "boss@example.com", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert not setup_code_file(app).exists()
    assert client.get("/setup").headers["Location"] == "/login"


# Sign-in


def test_login_with_the_right_password(client, admin):
    response = sign_in(client, "  ADMIN@example.com")
    assert response.status_code == 302
    assert client.get(SETTINGS_PAGE).status_code == 200


def test_login_with_a_wrong_password(client, admin, app):
    response = sign_in(client, admin, "wrong password")
    assert response.status_code == 422
    assert "The e-mail address or the password is wrong." in response.get_data(as_text=True)
    assert client.get(SETTINGS_PAGE).status_code == 302
    with app.app_context():
        assert db.session.execute(db.select(LoginFailure.email)).scalars().all() == [ADMIN_EMAIL]


def test_login_with_an_unknown_email(client, admin):
    response = sign_in(client, "nobody@example.com")
    assert response.status_code == 422
    assert "The e-mail address or the password is wrong." in response.get_data(as_text=True)


@pytest.mark.app_config(LOGIN_FAILURES_ALLOWED=3)
def test_repeated_failures_are_slowed_down_even_for_the_right_password(client, admin):
    for _ in range(3):
        assert sign_in(client, admin, "wrong password").status_code == 422
    response = sign_in(client, admin)
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "Too many failed sign-ins. Wait 1 second before trying again." in page
    assert client.get(SETTINGS_PAGE).status_code == 302


def test_the_wait_grows_with_each_further_failure(client, admin, app):
    with app.app_context():
        for _ in range(8):
            accounts.record_failure(admin, "127.0.0.1")
    response = sign_in(client, admin)
    assert response.status_code == 429
    assert "Wait 8 seconds before trying again." in response.get_data(as_text=True)


def record_failures(app, count: int, email: str, address: str) -> None:
    with app.app_context():
        for _ in range(count):
            accounts.record_failure(email, address)


def from_address(client, address: str):
    """Make every request of this client come from `address`."""
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_failures_from_another_address_never_slow_the_owner_down(client, admin, app):
    record_failures(app, 20, admin, "203.0.113.9")
    assert sign_in(client, admin).status_code == 302


def test_failures_of_one_account_do_not_slow_another_down_at_the_same_address(client, user, app):
    record_failures(app, 5, ADMIN_EMAIL, "127.0.0.1")
    assert sign_in(client, user).status_code == 302
    assert sign_in(app.test_client(), ADMIN_EMAIL).status_code == 429


@pytest.mark.app_config(LOGIN_FAILURES_ALLOWED_PER_ADDRESS=8)
def test_an_address_guessing_many_accounts_is_slowed_down_for_every_account(client, admin, app):
    for number in range(8):
        record_failures(app, 1, f"guess{number}@example.com", "198.51.100.7")
    response = sign_in(from_address(client, "198.51.100.7"), admin)
    assert response.status_code == 429
    assert "Too many failed sign-ins. Wait 1 second before trying again." in response.get_data(as_text=True)
    assert sign_in(from_address(app.test_client(), "192.0.2.1"), admin).status_code == 302


def test_a_refused_sign_in_is_logged_in_one_line_without_the_password(client, admin, app, caplog):
    record_failures(app, 5, admin, "127.0.0.1")
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        assert sign_in(client, admin).status_code == 429
    [line] = [record.getMessage() for record in caplog.records]
    assert line == (
        "Sign-in to admin@example.com from 127.0.0.1 refused for 1 s: 5 failures of this account "
        "from this address and 5 from this address in all, in the last 900 s"
    )
    assert PASSWORD not in caplog.text


def test_failures_beyond_the_budget_are_logged_without_what_was_typed(admin, app, caplog):
    record_failures(app, 5, admin, "127.0.0.1")
    assert caplog.records == []
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        record_failures(app, 1, admin, "127.0.0.1")
        record_failures(app, 50, "my password typed here", "127.0.0.1")
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == (
        "Failed sign-in to admin@example.com from 127.0.0.1 beyond the throttle's budget: "
        "6 failures of this account from this address and 6 from this address in all, "
        "in the last 900 s"
    )
    assert lines[-1] == (
        "Failed sign-in to an unknown account from 127.0.0.1 beyond the throttle's budget: "
        "50 failures of this account from this address and 56 from this address in all, "
        "in the last 900 s"
    )
    assert "typed" not in caplog.text


def test_a_right_password_clears_earlier_failures(client, admin, app):
    sign_in(client, admin, "wrong password")
    assert sign_in(client, admin).status_code == 302
    with app.app_context():
        assert db.session.execute(db.select(LoginFailure)).first() is None


def test_a_csrf_token_from_before_sign_in_is_refused_after_it(client, admin):
    # Whoever planted the pre-login cookie knows its token: signing in must make a new one.
    planted = csrf_token(client)
    assert sign_in(client, admin).status_code == 302
    response = client.post("/logout", data={"csrf_token": planted})
    assert response.status_code == 400
    assert "Reload the page and try again" in response.get_data(as_text=True)
    assert client.get(SETTINGS_PAGE).status_code == 200
    fresh = csrf_token(client, SETTINGS_PAGE)
    assert fresh != planted
    assert client.post("/logout", data={"csrf_token": fresh}).status_code == 302
    assert client.get(SETTINGS_PAGE).status_code == 302


def test_pages_opened_at_once_after_sign_in_share_the_new_csrf_secret(client, admin, app):
    assert sign_in(client, admin).status_code == 302
    other_tab = app.test_client()
    other_tab.set_cookie("session", client.get_cookie("session").value)
    token = csrf_token(other_tab, SETTINGS_PAGE)
    csrf_token(client, SETTINGS_PAGE)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def test_a_csrf_token_from_before_setup_is_refused_after_it(client, app):
    planted = csrf_token(client, "/setup")
    assert submit_setup(client, setup_code_file(app).read_text().strip()).status_code == 302
    assert client.post("/logout", data={"csrf_token": planted}).status_code == 400
    assert client.get(SETTINGS_PAGE).status_code == 200


def test_logout_needs_a_post_with_the_csrf_token(admin_client):
    assert admin_client.get("/logout").status_code == 405
    response = admin_client.post("/logout")
    assert response.status_code == 400
    assert "Reload the page and try again" in response.get_data(as_text=True)
    assert admin_client.get(SETTINGS_PAGE).status_code == 200

    token = csrf_token(admin_client, SETTINGS_PAGE)
    response = admin_client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert "You are signed out." in admin_client.get("/login").get_data(as_text=True)
    assert admin_client.get(SETTINGS_PAGE).status_code == 302


@pytest.mark.parametrize("target", ["/admin/config/integrations/microsoft?tab=1", "/"])
def test_login_follows_a_local_next(client, admin, target):
    response = client.post(
        "/login?" + f"next={target}",
        data={"email": admin, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
        "settings",
    ],
)
def test_login_never_follows_a_next_off_the_site(client, admin, target):
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": admin, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    # Browsers read a backslash as a slash and drop tabs: "/\\host" or "/\t/host" leave the site.
    assert location.startswith("/")
    assert not re.match(r"^/[/\\\s]", location), location


# Roles


def test_a_user_cannot_open_the_settings_page(user_client):
    response = user_client.get(SETTINGS_PAGE)
    assert response.status_code == 403
    assert "Your account is not allowed to open this page" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [field_url("client_id"), field_url("client_id") + "/use-default"])
def test_a_user_cannot_save_a_field(user_client, app, path):
    headers = htmx_headers(user_client, "client_id", token=csrf_token(user_client, "/account"))
    response = user_client.post(path, data={"client_id": CLIENT_ID}, headers=headers)
    assert response.status_code == 403
    assert "Your account is not allowed" in response.get_data(as_text=True)
    assert stored_settings(app)["client_id"] is None


def test_an_admin_demoted_while_signed_in_is_stopped_at_the_next_request(admin_client, app):
    assert admin_client.get(SETTINGS_PAGE).status_code == 200
    with app.app_context():
        db.session.execute(db.update(User).where(User.email == ADMIN_EMAIL).values(role="user"))
        db.session.commit()
    response = admin_client.get(SETTINGS_PAGE)
    assert response.status_code == 403
    assert "Your account is not allowed to open this page" in response.get_data(as_text=True)


def test_an_account_deleted_while_signed_in_is_signed_out(admin_client, app):
    with app.app_context():
        db.session.execute(db.delete(User).where(User.email == ADMIN_EMAIL))
        db.session.commit()
    response = admin_client.get(SETTINGS_PAGE)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


def test_an_anonymous_visitor_is_sent_to_login(client, admin):
    response = client.get(SETTINGS_PAGE)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": [SETTINGS_PAGE]}


def test_an_anonymous_htmx_post_gets_hx_redirect_to_login(client, admin):
    headers = htmx_headers(client, "client_id", token=csrf_token(client))
    response = client.post(field_url("client_id"), data={"client_id": ""}, headers=headers)
    assert response.status_code == 401
    location = urlsplit(response.headers["HX-Redirect"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": [SETTINGS_PAGE]}
    assert "Sign in" not in response.get_data(as_text=True)


def test_setup_reports_every_error_at_once_and_keeps_what_was_typed(client, app):
    client.get("/setup")
    response = client.post(
        "/setup",
        data={
            "setup_code": "000000-000000-000000",
            "email": "not an address",
            "password": "short",
            "password_confirm": "shorter",
            "csrf_token": csrf_token(client, "/setup"),
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    errors = {
        "setup_code": "This is not the setup code.",
        "email": "Enter a valid e-mail address.",
        "password": "Use at least 10 characters.",
        "password_confirm": "The two passwords differ.",
    }
    for name, message in errors.items():
        assert re.search(rf'<p class="error" id="{name}-error" role="alert">{re.escape(message)}', page), name
        assert re.search(rf'<input[^>]*aria-invalid="true"[^>]*id="{name}"|<input[^>]*id="{name}"[^>]*aria-invalid="true"', page), name
    for name, typed in (
        ("setup_code", "000000-000000-000000"),
        ("email", "not an address"),
        ("password", "short"),
        ("password_confirm", "shorter"),
    ):
        assert re.search(rf'<input[^>]*id="{name}"[^>]*value="{typed}"', page), name
    assert users(app) == {}


def test_a_wrong_setup_code_keeps_the_passwords(client, app):
    client.get("/setup")
    page = submit_setup(client, "000000-000000-000000").get_data(as_text=True)
    assert re.search(rf'<input[^>]*id="password"[^>]*value="{PASSWORD}"', page)
    assert re.search(rf'<input[^>]*id="password_confirm"[^>]*value="{PASSWORD}"', page)
    assert "Enter a valid e-mail address." not in page
    assert users(app) == {}
