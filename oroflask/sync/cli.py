"""`flask --app wsgi sync-mail [--mailbox ID]`: one sync pass in the foreground, for cron or a first import."""

import sys

import click
from sqlalchemy import select

from ..extensions import db
from ..failures import EXPLAINED, explain
from ..mailboxes.models import Mailbox
from . import bp, engine


@bp.cli.command("sync-mail")
@click.option("--mailbox", "mailbox_id", type=int, help="Sync only the mailbox of this number (default: every one).")
def sync_mail(mailbox_id: int | None) -> None:
    """Sync the chosen folders of every connected mailbox (or one) now, showing progress."""
    query = select(Mailbox.id, Mailbox.address).order_by(Mailbox.id)
    if mailbox_id is not None:
        query = query.where(Mailbox.id == mailbox_id)
    mailboxes = db.session.execute(query).all()
    if not mailboxes:
        click.echo(f"There is no mailbox {mailbox_id}." if mailbox_id is not None else "No mailbox is connected.")
        raise SystemExit(1 if mailbox_id is not None else 0)
    failed = False
    for number, address in mailboxes:
        failed |= not _sync_one(number, address)
    if failed:
        raise SystemExit(1)


def _sync_one(mailbox_id: int, address: str) -> bool:
    """Sync one mailbox, with a progress bar on a terminal and plain lines otherwise; tell whether it worked."""
    on_terminal = _on_terminal()
    bar = None
    shown = [0]

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if on_terminal:
            if bar is None:
                bar = click.progressbar(length=total, label=address, show_pos=True)
                bar.__enter__()
            bar.length = total
            bar.update(done - shown[0])
        else:
            click.echo(f"{address}: {done} of {total} messages")
        shown[0] = done

    try:
        report = engine.sync_mailbox(mailbox_id, progress=progress)
    except EXPLAINED as error:
        explained = explain(error)
        click.echo(f"{address}: {explained.sentence}", err=True)
        if explained.server_said:
            click.echo(f"  The server said: {explained.server_said}", err=True)
        return False
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if report.note:
        click.echo(f"{address}: {report.note}")
        return True
    for folder in report.folders:
        if folder.missing:
            click.echo(f"{address}: {folder.name}: not on the server any more; its stored mail is kept")
            continue
        renamed = f" (renamed from {folder.renamed_from})" if folder.renamed_from else ""
        click.echo(
            f"{address}: {folder.name}{renamed}: {folder.fetched} new, {folder.flags_changed} flags changed, "
            f"{folder.removed} removed"
        )
    return True


def _on_terminal() -> bool:
    return sys.stdout.isatty()
