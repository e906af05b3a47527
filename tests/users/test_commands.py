"""The create-user and reset-password commands: links printed, clear errors, exit codes."""

import re

import pytest

from oroflask.auth.models import UNUSABLE_PASSWORD_HASH

from ..conftest import ADMIN_EMAIL, PASSWORD, USER_EMAIL, sign_in
from ..test_sessions import is_signed_in, signed_in
from .helpers import account, account_events, links_of

LINK_PATH = re.compile(r"^(\S*)/password/([A-Za-z0-9_-]{43})$", re.M)


def printed_link(output: str) -> tuple[str, str]:
    """Return the address part and the token of the link a command printed."""
    match = LINK_PATH.search(output)
    assert match, output
    return match.group(1), match.group(2)


def test_create_user_prints_a_one_time_link_that_sets_the_password(runner, app, admin):
    result = runner.invoke(args=["create-user", " Ann@Example.com ", "--role", "user", "--name", "Ann Example"])
    assert result.exit_code == 0, result.output
    assert "Account ann@example.com (user) created." in result.output
    assert "within 24 hours" in result.output
    address, token = printed_link(result.stdout)
    assert address == ""  # nothing configured or pinned: the path, and what to put in front of it
    assert "put the address oroflask is reached at in front of this path" in result.stderr
    stored = account(app, "ann@example.com")
    assert (stored.name, stored.role, stored.password_hash) == ("Ann Example", "user", UNUSABLE_PASSWORD_HASH)
    assert account_events(app) == [("", "ann@example.com", "created (user, with a one-time link) (command line)")]

    visitor = app.test_client()
    assert visitor.get(f"/password/{token}").status_code == 200


@pytest.mark.app_config(PUBLIC_URL="https://mail.example.com")
def test_the_link_is_built_on_the_configured_address(runner, app, admin):
    result = runner.invoke(args=["create-user", "ann@example.com", "--role", "admin"])
    assert result.exit_code == 0, result.output
    address, _ = printed_link(result.stdout)
    assert address == "https://mail.example.com"
    assert account(app, "ann@example.com").role == "admin"


def test_the_link_is_built_on_the_pinned_address(runner, app, admin):
    assert runner.invoke(args=["set-public-url", "https://oro.example.org"]).exit_code == 0
    result = runner.invoke(args=["create-user", "ann@example.com", "--role", "user"])
    assert printed_link(result.stdout)[0] == "https://oro.example.org"


def test_create_user_with_a_password_from_stdin(runner, app, admin):
    result = runner.invoke(
        args=["create-user", "ann@example.com", "--role", "user", "--password-stdin"], input="a fine long password\n"
    )
    assert result.exit_code == 0, result.output
    assert "/password/" not in result.output
    assert links_of(app, "ann@example.com") == []
    assert sign_in(app.test_client(), "ann@example.com", "a fine long password").status_code == 302


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["create-user", "ann@example.com", "--role", "owner"], None, "role: The role must be one of: admin, user."),
        (["create-user", "ann@example.com"], None, "Missing option '--role'"),
        (["create-user", "not an address", "--role", "user"], None, "email: Enter a valid e-mail address."),
        (["create-user", ADMIN_EMAIL, "--role", "user"], None, "email: An account with this e-mail address already exists."),
        (["create-user", "ann@example.com", "--role", "user", "--password-stdin"], "short\n", "password: Use at least 10 characters."),
        (["create-user", "ann@example.com", "--role", "user", "--name", "a\x1bb"], None, "name: This contains control characters"),
    ],
)
def test_create_user_refuses_with_a_clear_error(runner, app, admin, args, stdin, message):
    result = runner.invoke(args=args, input=stdin)
    assert result.exit_code == (2 if "Missing option" in message else 1)  # 2: click's usage error
    assert message in result.output
    assert "Traceback" not in result.output
    assert account(app, "ann@example.com") is None
    assert account_events(app) == []


def test_reset_password_prints_a_link_ends_the_password_and_the_sessions(runner, app, user):
    browser = signed_in(app, USER_EMAIL)
    result = runner.invoke(args=["reset-password", USER_EMAIL.upper()])
    assert result.exit_code == 0, result.output
    _, token = printed_link(result.stdout)
    assert not is_signed_in(browser)
    assert sign_in(app.test_client(), USER_EMAIL, PASSWORD).status_code == 422
    assert account_events(app) == [("", USER_EMAIL, "password reset (link made, 1 session ended) (command line)")]
    assert app.test_client().get(f"/password/{token}").status_code == 200


def test_reset_password_of_an_unknown_account_is_a_clear_error(runner, app, admin):
    result = runner.invoke(args=["reset-password", "nobody@example.com"])
    assert result.exit_code == 1
    assert "No account has the e-mail address 'nobody@example.com'." in result.output
    assert "Traceback" not in result.output


def test_create_admin_still_works(runner, app):
    result = runner.invoke(args=["create-admin", "boss@example.com", "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert account(app, "boss@example.com").role == "admin"
