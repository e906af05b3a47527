"""`flask --app wsgi refresh-tokens`: keep unused connections from expiring."""

from datetime import timedelta

import click

from ..microsoft import tokens
from ..microsoft.errors import MicrosoftError, ProviderUnavailable, explain
from . import bp, service


@bp.cli.command("refresh-tokens")
@click.option(
    "--idle-days",
    default=30,
    show_default=True,
    type=click.IntRange(0, 80),
    help="Refresh connections whose refresh token was not used for this many days.",
)
def refresh_tokens(idle_days: int) -> None:
    """Refresh idle Microsoft connections so that the 90-day inactivity window never closes."""
    failed = False
    for connection in tokens.idle_connections(timedelta(days=idle_days)):
        try:
            tokens.refresh_now(service.registration(), connection.id)
        except service.NotReady as error:
            click.echo(f"{connection.account}: not refreshed: {error}", err=True)
            failed = True
        except tokens.ReconnectNeeded as error:
            click.echo(f"{connection.account}: reconnect needed: {error}", err=True)
            failed = True
        except MicrosoftError as error:
            explanation = explain(error)
            verdict = "reconnect needed" if error.reconnect_needed else "not refreshed"
            click.echo(f"{connection.account}: {verdict}: {explanation.title} ({explanation.code})", err=True)
            failed = True
        except ProviderUnavailable as error:
            click.echo(f"{connection.account}: not refreshed, will retry: {error}", err=True)
            failed = True
        else:
            click.echo(f"{connection.account}: refreshed")
    if failed:
        raise SystemExit(1)
