"""`flask --app wsgi set-public-url URL`: change the public address the Redirect URI is built on."""

import click
from flask import current_app

from . import bp, service


@bp.cli.command("set-public-url")
@click.argument("url")
def set_public_url(url: str) -> None:
    """Pin URL (https://host[:port]) as the address users reach the app at."""
    try:
        pinned = service.set_public_url(url)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"The public address is now {pinned}. Register {pinned}{service.CALLBACK_PATH} as a Redirect "
        "URI of the application in Azure (Authentication › Web), then click Enable again."
    )
    if current_app.config["PUBLIC_URL"]:
        click.echo(
            f"OROFLASK_PUBLIC_URL is set ({current_app.config['PUBLIC_URL']}) and overrides the "
            "pinned address while it is: remove it for this one to count.",
            err=True,
        )
