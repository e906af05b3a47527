"""Account commands: `flask --app wsgi create-admin`, `flask --app wsgi setup-code`."""

import sys

import click

from ..extensions import db
from . import bp, service


@bp.cli.command("create-admin")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_admin(email: str, password_stdin: bool) -> None:
    """Create an administrator account."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        service.create_user(email, password, role="admin")
        db.session.commit()
    except service.AccountError as error:
        raise click.ClickException(f"{error.field}: {error}") from None
    service.retire_setup_code()
    click.echo(f"Administrator {service.normalize_email(email)} created.")


@bp.cli.command("setup-code")
def print_setup_code() -> None:
    """Print the one-time code that creates the first administrator, while none exists."""
    if service.has_administrator():
        click.echo("An administrator exists already: sign in at /login.")
        return
    click.echo(
        "\n  First start: open the app and create the administrator with this setup code:\n\n"
        f"      {service.setup_code()}\n\n"
        f"  (kept in {service.setup_code_path()} until the first administrator exists)\n"
    )
