"""Take the README's screenshots of the settings page, System › Users and the audit log in Debian's Chromium.

Uses the browser tests' setup (tests/browser/harness.py): the app and the local identity provider
on loopback ports with a throw-away instance folder, and the same Chromium. Signs in, and
photographs the page at 1280 px empty, with an error, filled and connected (settings-empty.png,
settings-error.png, settings-filled.png, settings-connected.png), then at phone width (390 px)
connected: its first screen and the whole page (settings-phone.png, settings-connected-phone.png);
then System › Users with a few accounts at both widths (users.png, users-phone.png); last, the
audit log of those changes and of a guessed password, at both widths (audit-log.png,
audit-log-phone.png); then My mailbox connected in the sign-in popup, with the folders its check
listed, at both widths (mailbox.png, mailbox-phone.png); last, System › Email › System mailboxes
with a shared mailbox connected by a delegate and one whose grant ended, and the shared
mailbox's page after a passed check, at both widths (system-mailboxes.png,
system-mailboxes-phone.png, system-mailbox.png, system-mailbox-phone.png); then the compose page
filled in, at both widths (compose.png, compose-phone.png), and a sent message and one refused
with Send As denied (compose-sent.png, compose-refused.png); then Mail with the administrator's
synced mail, a search and a conversation, at both widths (mail.png, mail-phone.png,
mail-search.png, mail-conversation.png, mail-conversation-phone.png):

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

import argparse
import sys
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oroflask.auth import service as accounts  # noqa: E402
from oroflask.auth.models import User  # noqa: E402
from oroflask.database import utcnow  # noqa: E402
from oroflask.extensions import db  # noqa: E402
from oroflask.mailboxes.models import SYSTEM, Mailbox  # noqa: E402
from oroflask.sending.models import OutgoingMessage  # noqa: E402
from oroflask.mailstore import search, store  # noqa: E402
from oroflask.mailstore.models import Message  # noqa: E402
from tests.browser.harness import (  # noqa: E402
    ADMIN,
    CHROMIUM,
    CLIENT_ID,
    CLIENT_SECRET,
    DESKTOP,
    INSTALL_CHROMIUM,
    PASSWORD_HASH,
    PHONE,
    TENANT,
    launch,
    save_field,
    sign_in,
    temporary_live_app,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/screenshots", type=Path)
    out = parser.parse_args().out
    if not CHROMIUM.exists():
        sys.exit(f"Debian's chromium is missing ({CHROMIUM}): {INSTALL_CHROMIUM}")
    out.mkdir(parents=True, exist_ok=True)
    with temporary_live_app() as live, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            photograph(browser.new_page(viewport=DESKTOP), live, out)
            photograph_phone(browser.new_page(viewport=PHONE), live, out)
            add_accounts(live)
            photograph_users(browser.new_page(viewport=DESKTOP), live, out / "users.png")
            photograph_users(browser.new_page(viewport=PHONE), live, out / "users-phone.png")
            guess_a_password(live)
            photograph_audit_log(browser.new_page(viewport=DESKTOP), live, out / "audit-log.png")
            photograph_audit_log(browser.new_page(viewport=PHONE), live, out / "audit-log-phone.png")
            connect_mailbox(browser.new_page(viewport=DESKTOP), live)
            photograph_mailbox(browser.new_page(viewport=DESKTOP), live, out / "mailbox.png")
            photograph_mailbox(browser.new_page(viewport=PHONE), live, out / "mailbox-phone.png")
            sales = add_system_mailboxes(browser.new_page(viewport=DESKTOP), live)
            photograph_system_mailboxes(browser.new_page(viewport=DESKTOP), live, out / "system-mailboxes.png")
            photograph_system_mailboxes(browser.new_page(viewport=PHONE), live, out / "system-mailboxes-phone.png")
            photograph_system_mailbox(browser.new_page(viewport=DESKTOP), live, sales, out / "system-mailbox.png")
            photograph_system_mailbox(browser.new_page(viewport=PHONE), live, sales, out / "system-mailbox-phone.png")
            photograph_compose(browser.new_page(viewport=DESKTOP), live, out / "compose.png")
            photograph_compose(browser.new_page(viewport=PHONE), live, out / "compose-phone.png")
            photograph_outgoing(browser.new_page(viewport=DESKTOP), live, SENT_MESSAGE, out / "compose-sent.png")
            photograph_outgoing(browser.new_page(viewport=DESKTOP), live, REFUSED_MESSAGE, out / "compose-refused.png")
            conversation = store_mail(live)
            photograph_mail(browser.new_page(viewport=DESKTOP), live, "/mail", out / "mail.png")
            photograph_mail(browser.new_page(viewport=PHONE), live, "/mail", out / "mail-phone.png")
            photograph_mail(browser.new_page(viewport=DESKTOP), live, "/mail?q=budget", out / "mail-search.png")
            photograph_mail(browser.new_page(viewport=DESKTOP), live, conversation, out / "mail-conversation.png")
            photograph_mail(browser.new_page(viewport=PHONE), live, conversation, out / "mail-conversation-phone.png")
        finally:
            browser.close()
    print(f"Screenshots written to {out}/")


def photograph(page, live, out: Path) -> None:
    sign_in(page, live)
    shoot(page, out / "settings-empty.png")

    save_field(page, "client_id", CLIENT_ID)
    save_field(page, "client_secret", CLIENT_SECRET)
    save_field(page, "tenant", "contoso")
    expect(page.locator("#tenant-error")).to_be_visible()
    shoot(page, out / "settings-error.png")

    save_field(page, "tenant", TENANT)
    expect(page.get_by_role("button", name="Enable")).to_be_enabled()
    shoot(page, out / "settings-filled.png")

    with page.expect_popup() as opened:
        page.get_by_role("button", name="Enable").click()
    opened.value.get_by_role("button", name="Accept").click()
    expect(page.locator("#authorization-status .alert-success")).to_be_visible(timeout=15_000)
    shoot(page, out / "settings-connected.png")


def photograph_phone(page, live, out: Path) -> None:
    """Photograph the connected page as a phone shows it: its first screen, then all of it."""
    sign_in(page, live)
    expect(page.locator("#field-enable .state-ok")).to_be_visible()
    shoot(page, out / "settings-phone.png", full_page=False)
    shoot(page, out / "settings-connected-phone.png")


def guess_a_password(live) -> None:
    """Fail to sign in from another address until the throttle slows it down (the log records it)."""
    with live.app.app_context():
        for _ in range(live.app.config["LOGIN_FAILURES_ALLOWED"] + 1):
            accounts.record_failure(ADMIN, "203.0.113.9")


def photograph_audit_log(page, live, path: Path) -> None:
    """Photograph System › Audit log: the changes made above, and the guessed password."""
    sign_in(page, live)
    page.goto(live.address("/admin/audit"))
    expect(page.locator(".nobody").first).to_be_visible()
    shoot(page, path)


# The accounts the users page shows beside the administrator: one never signed in, one deactivated.
ACCOUNTS = (
    ("adele.vance@contoso.example", "Adele Vance", "admin", True),
    ("alex.wilber@contoso.example", "Alex Wilber", "user", True),
    ("megan.bowen@contoso.example", "Megan Bowen", "user", False),
)


def add_accounts(live) -> None:
    with live.app.app_context():
        for email, name, role, active in ACCOUNTS:
            db.session.add(User(email=email, name=name, role=role, active=active, password_hash=PASSWORD_HASH))
        db.session.commit()


def photograph_users(page, live, path: Path) -> None:
    sign_in(page, live)
    page.goto(live.address("/admin/users"))
    expect(page.locator("table.users tbody tr")).to_have_count(len(ACCOUNTS) + 1)
    shoot(page, path)


# What Check connection lists of an Exchange mailbox with a folder of folders (see tests/mailboxes).
LISTED_FOLDERS = [
    {"name": name, "delimiter": "/", "special": special, "selectable": name != "Projects"}
    for name, special in (
        ("INBOX", "inbox"), ("Archive", "archive"), ("Deleted Items", "trash"), ("Drafts", "drafts"),
        ("Junk Email", "junk"), ("Projects", None), ("Projects/Alpha", None), ("Sent Items", "sent"),
    )
]


def connect_mailbox(page, live) -> None:
    """Connect the administrator's mailbox in the sign-in popup, and record a passed check's folders."""
    sign_in(page, live)
    page.goto(live.address("/account/mailbox"))
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Connect with Microsoft 365").click()
    opened.value.get_by_role("button", name="Accept").click()
    expect(page.locator("#mailbox .state-ok")).to_be_visible(timeout=15_000)
    with live.app.app_context():
        db.session.execute(
            update(Mailbox).values(listed_folders=LISTED_FOLDERS, checked_at=utcnow(), check_outcome="passed")
        )
        db.session.commit()


def photograph_mailbox(page, live, path: Path) -> None:
    sign_in(page, live)
    page.goto(live.address("/account/mailbox"))
    expect(page.get_by_role("button", name="Save folders")).to_be_visible()
    shoot(page, path)


# What the worker stores of a passed check (see tests/mailboxes).
PASSED_CHECK = {
    "token_problem": None,
    "imap": {"protocol": "IMAP", "summary": "Signed in; 8 folders.", "problem": None},
    "smtp": {"protocol": "SMTP", "summary": "Signed in; nothing was sent.", "problem": None},
}
SYSTEM_MAILBOXES = "/admin/config/email/mailboxes"


def add_system_mailboxes(page, live) -> str:
    """Add Sales, connected in the popup by Adele as a delegate, with a passed check; and Support,
    whose grant ended. Return the path of Sales's page."""
    sign_in(page, live)
    for label, address in (("Sales", "sales@contoso.onmicrosoft.com"), ("Support", "support@contoso.onmicrosoft.com")):
        page.goto(live.address(SYSTEM_MAILBOXES + "/new"))
        page.get_by_label("Label").fill(label)
        page.get_by_label("Address").fill(address)
        page.get_by_role("button", name="Add mailbox").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(label)
    page.goto(live.address(SYSTEM_MAILBOXES))
    page.get_by_role("link", name="Sales").click()
    sales = page.url.removeprefix(live.url)
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Connect with Microsoft 365").click()
    opened.value.get_by_role("button", name="Accept").click()
    expect(page.locator("#mailbox .state-ok")).to_be_visible(timeout=15_000)
    with live.app.app_context():
        db.session.execute(
            update(Mailbox)
            .where(Mailbox.kind == SYSTEM, Mailbox.label == "Sales")
            .values(
                listed_folders=LISTED_FOLDERS, checked_at=utcnow(), check_outcome="passed", check_results=PASSED_CHECK
            )
        )
        support = db.session.execute(select(Mailbox).where(Mailbox.label == "Support")).scalar_one()
        support.grant_ended_reason = (
            "alex.wilber@contoso.example, who connected it, was deactivated in oroflask, so its tokens were "
            "deleted. An administrator connects it again, as the mailbox or as an account with Full Access to it."
        )
        db.session.commit()
    return sales


def photograph_system_mailboxes(page, live, path: Path) -> None:
    sign_in(page, live)
    page.goto(live.address(SYSTEM_MAILBOXES))
    expect(page.locator("#system-mailboxes tbody tr")).to_have_count(2)
    shoot(page, path)


def photograph_system_mailbox(page, live, sales: str, path: Path) -> None:
    sign_in(page, live)
    page.goto(live.address(sales))
    expect(page.get_by_role("button", name="Save folders")).to_be_visible()
    shoot(page, path)


def photograph_compose(page, live, path: Path) -> None:
    sign_in(page, live)
    page.goto(live.address("/mail/compose"))
    page.get_by_label("To", exact=True).fill("Alex Wilber <alex@contoso.onmicrosoft.com>")
    page.get_by_label("Cc", exact=True).fill("lee@contoso, lee@contoso.onmicrosoft.com")
    page.get_by_label("Subject").fill("Quarterly figures")
    page.get_by_label("Message").fill("Hello Alex,\n\nHere are the figures we spoke of.\n\nAdele")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#cc-error")).to_be_visible()
    shoot(page, path)


# Outgoing messages as the worker leaves them: sent, and refused by Exchange for want of Send As.
SENT_MESSAGE = {"state": "sent", "subject": "Quarterly figures"}
REFUSED_MESSAGE = {
    "state": "failed",
    "subject": "Offer for Contoso",
    "error_title": "adele@contoso.onmicrosoft.com may not send as sales@contoso.onmicrosoft.com",
    "error_cause": "Microsoft 365 answered 554 5.2.252 SendAsDenied: the account that signed in has no Send As "
    "permission on the address the message is sent from.",
    "error_action": "Give the account Send As on the sending mailbox: Add-RecipientPermission -Identity "
    "sales@contoso.onmicrosoft.com -Trustee adele@contoso.onmicrosoft.com -AccessRights SendAs.",
    "error_code": "smtp_send_as_denied",
    "error_server_said": "554 5.2.252 SendAsDenied; adele@contoso.onmicrosoft.com not allowed to send as "
    "sales@contoso.onmicrosoft.com; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied",
}


def photograph_outgoing(page, live, fields: dict, path: Path) -> None:
    with live.app.app_context():
        mailbox = db.session.execute(select(Mailbox).where(Mailbox.kind != SYSTEM)).scalars().first()
        message = OutgoingMessage(
            mailbox_id=mailbox.id, message_id="shot@contoso.onmicrosoft.com", recipients=["alex@contoso.onmicrosoft.com"],
            raw=b"", attempts=1, sent_at=utcnow(), **fields,
        )
        db.session.add(message)
        db.session.commit()
        outgoing_id = message.id
    sign_in(page, live)
    page.goto(live.address(f"/mail/outbox/{outgoing_id}"))
    expect(page.locator("#outgoing-state")).to_be_visible()
MAIL = [
    ("Megan Bowen <megan@contoso.com>", "Budget for the spring campaign", "Hi Adele,\n\nThe draft budget is in "
     "the shared folder: https://contoso.example/budget\nCould you look at the travel lines before Friday?\n\nMegan"),
    ("Adele Vance <adele@contoso.onmicrosoft.com>", "Re: Budget for the spring campaign",
     "Looks fine to me; the hotel costs went down since last year.\n\nAdele"),
    ("Megan Bowen <megan@contoso.com>", "Re: Budget for the spring campaign",
     "Thanks, I'll send it to Lee for approval."),
    ("Lee Gu <lee@contoso.com>", "Release notes 4.2", "The release notes for 4.2 are ready for review."),
    ("Contoso News <news@contoso.com>", "This week at Contoso", None),
    ("Nestor Wilke <nestor@contoso.com>", "Server maintenance on Saturday", "The mail server restarts at 22:00."),
    ("Diego Siciliani <diego@contoso.com>", "Invoice 2026-114", "Please find the invoice attached."),
    ("Isaiah Langer <isaiah@contoso.com>", "Lunch on Thursday?", "The new place on Pine Street?"),
]


def store_mail(live) -> str:
    """Store a few conversations in the administrator's mailbox as a sync would; return one's path."""

    with live.app.app_context():
        mailbox = db.session.execute(select(Mailbox).where(Mailbox.kind != SYSTEM)).scalar_one()
        folder = store.folder(mailbox.id, "INBOX")
        fetched = []
        for uid, (sender, subject, body) in enumerate(MAIL, start=1):
            message = EmailMessage()
            message["From"], message["Subject"] = sender, subject
            message["To"] = "Adele Vance <adele@contoso.onmicrosoft.com>"
            message["Message-ID"] = f"<screenshot-{uid}@contoso.com>"
            if subject.startswith("Re:"):
                message["In-Reply-To"] = message["References"] = f"<screenshot-{uid - 1}@contoso.com>"
            if body is None:
                message.set_content("This week at Contoso.")
                message.add_alternative(
                    "<h2 style='color:#0b5cad'>This week at Contoso</h2><p>The <b>spring campaign</b> starts "
                    "on Monday. <a href='https://contoso.example/news'>Read more</a></p>"
                    "<p><img src='https://contoso.example/banner.png' alt='Banner'></p>", subtype="html")
            else:
                message.set_content(body)
            if subject.startswith("Invoice"):
                message.add_attachment(
                    b"%PDF-1.4", maintype="application", subtype="pdf", filename="Invoice 2026-114.pdf"
                )
            flags = ("\\Seen",) if uid in (1, 2, 4, 6) else ("\\Flagged",) if uid == 7 else ()
            arrived = utcnow() - timedelta(hours=len(MAIL) - uid)
            raw = message.as_bytes()
            fetched.append(SimpleNamespace(uid=uid, raw=raw, flags=flags, internaldate=arrived, size=len(raw)))
        store.add_messages(folder, fetched)
        db.session.commit()
        search.index_pending()
        first = db.session.execute(select(Message).where(Message.uid == 1)).scalar_one()
        return f"/mail/conversations/{first.conversation_id}"


def photograph_mail(page, live, path_in_app: str, path: Path) -> None:
    sign_in(page, live)
    page.goto(live.address(path_in_app))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    shoot(page, path)


def shoot(page, path: Path, full_page: bool = True) -> None:
    # From the top: the page header is sticky and would stand wherever the page was scrolled to.
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=path, full_page=full_page)


if __name__ == "__main__":
    main()
