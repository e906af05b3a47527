"""Keep idle Microsoft grants alive from the worker's schedule, as `flask refresh-tokens` does from cron."""

from datetime import timedelta

from flask import current_app
from huey import crontab

from ..failures import EXPLAINED, explain
from ..worker import periodic_task
from . import tokens

IDLE = timedelta(days=30)


# Daily, at an odd minute so that many installations do not call Microsoft at the same moment.
@periodic_task(crontab(minute="17", hour="3"))
def refresh_idle_grants() -> None:
    """Refresh every grant unused for 30 days, so that its refresh token never dies of inactivity."""
    for grant in tokens.idle_grants(IDLE):
        # The token store logs the refresh; a grant another worker is refreshing is left to it.
        try:
            tokens.refresh_now(grant.id)
        except EXPLAINED as error:
            # The token store has marked a dead grant Reconnect needed; the others are retried tomorrow.
            current_app.logger.warning(
                "The idle grant %s of %s was not refreshed: %s", grant.id, grant.account, explain(error).summary
            )
