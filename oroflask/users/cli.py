"""Account commands: `flask --app wsgi create-user`, `flask --app wsgi reset-password`."""

import sys

import click
from flask import current_app

from ..auth.models import ROLES
from ..auth.service import AccountError, retire_setup_code
from . import bp, service


def _echo_link(token: str) -> None:
    url = service.link_url(token, None)
    if url:
        click.echo(url)
        return
    click.echo(service.link_path(token))
    click.echo(
        "No public address is configured or pinned yet: put the address oroflask is reached at "
        "in front of this path (such as https://mail.example.com).",
        err=True,
    )


@bp.cli.command("create-user")
@click.argument("email")
@click.option("--role", required=True, help=" or ".join(ROLES) + ".")
@click.option("--name", default="", help="The person's name, as the users page shows it.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create an account; without --password-stdin print a one-time link that sets its password."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        user, token = service.create(None, email, name, role, password)
    except AccountError as error:
        raise click.ClickException(f"{error.field}: {error}") from None
    if user.role == "admin":
        retire_setup_code()
    click.echo(f"Account {user.email} ({service.ROLE_NAMES[user.role].lower()}) created.")
    if token:
        hours = current_app.config["PASSWORD_LINK_HOURS"]
        click.echo(f"Pass on this link: it sets the password, once, within {hours} hours.")
        _echo_link(token)


@bp.cli.command("reset-password")
@click.argument("email")
def reset_password(email: str) -> None:
    """Print a one-time link that sets a new password; the old one and the sessions end now."""
    user = service.account_by_email(email)
    if user is None:
        raise click.ClickException(f"No account has the e-mail address {email.strip()!r}.")
    try:
        token = service.reset_password(None, user)
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    hours = current_app.config["PASSWORD_LINK_HOURS"]
    click.echo(f"The password of {user.email} no longer works and its sessions ended.")
    click.echo(f"Pass on this link: it sets a new password, once, within {hours} hours.")
    _echo_link(token)
