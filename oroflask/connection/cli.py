"""`flask --app wsgi refresh-tokens`: keep unused grants from expiring."""

from datetime import timedelta

import click

from ..failures import EXPLAINED, explain
from . import bp, tokens


@bp.cli.command("refresh-tokens")
@click.option(
    "--idle-days",
    default=30,
    show_default=True,
    type=click.IntRange(0, 80),
    help="Refresh grants whose refresh token was not used for this many days.",
)
def refresh_tokens(idle_days: int) -> None:
    """Refresh idle Microsoft grants (the site's and every mailbox's) so that the 90-day
    inactivity window never closes."""
    failed = False
    for grant in tokens.idle_grants(timedelta(days=idle_days)):
        try:
            tokens.refresh_now(grant.id)
        except EXPLAINED as error:
            explanation = explain(error)
            if explanation.reconnect:
                verdict = "reconnect needed"
            elif explanation.retry_after is not None:
                verdict = "not refreshed, will retry"
            else:
                verdict = "not refreshed"
            click.echo(f"{grant.account}: {verdict}: {explanation.summary}", err=True)
            failed = True
        else:
            click.echo(f"{grant.account}: refreshed")
    if failed:
        raise SystemExit(1)
