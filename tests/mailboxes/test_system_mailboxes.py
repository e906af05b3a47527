"""System mailboxes: added with their fields checked, connected through the real callback as the
mailbox's delegate, checked by the worker against the real Dovecot (Adele has Full Access to
Sales, Alex has not), reconnected with the same account or replaced, given readers, removed, and
told as Reconnect needed to admins when their grant ends."""

import json
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, func, select, update

from oroflask.audit.models import AuditEvent
from oroflask.auth.access import SignedInUser
from oroflask.auth.models import User
from oroflask.connection.models import MAILBOX, MicrosoftGrant
from oroflask.database import utcnow
from oroflask.encryption import encrypt
from oroflask.extensions import db
from oroflask.mailboxes import system_service, tasks
from oroflask.mailboxes.models import SYSTEM, Mailbox, MailboxReader
from oroflask.mailstore.models import MailFolder
from oroflask.sync.models import MailboxSync
from tests.conftest import ADMIN_EMAIL, USER_EMAIL, csrf_token, element, make_user
from tests.worker.conftest import start_worker  # noqa: F401

from .conftest import authorize, connect, finished_check, htmx, signed_in

LIST = "/admin/config/email/mailboxes"
SALES = "sales@contoso.onmicrosoft.com"
ADELE = "adele@contoso.onmicrosoft.com"
ALEX = "alex@contoso.onmicrosoft.com"


def add(browser, label: str = "Sales", address: str = SALES):
    """Click Add mailbox and save `label` and `address`; return the answer."""
    return browser.post(
        LIST + "/new", data={"csrf_token": csrf_token(browser, LIST + "/new"), "label": label, "address": address}
    )


def added(app, browser, label: str = "Sales", address: str = SALES) -> str:
    """Add a system mailbox; return its page's path."""
    answer = add(browser, label, address)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return answer.headers["Location"]


def connect_system(browser, identity_provider: str, page: str, email: str, replace: bool = False, action="accept"):
    """Click Connect (or Reconnect) on a system mailbox's page and sign in as `email`."""
    data = {"replace": "1"} if replace else None
    return authorize(browser, identity_provider, page + "/connect", page, email, data, action)


def checked_after_connecting(app, browser, page: str) -> str:
    """Follow the check that connecting queued, with no click: the page polls while it waits, the
    worker runs it; return the panel the poll then shows."""
    waiting = browser.get(page).get_data(as_text=True)
    assert 'id="check-waiting"' in waiting and 'hx-trigger="every 1s"' in waiting
    return finished_check(app, browser, page)


def submit(browser, path: str, **fields):
    """Post a form of the admin pages to `path`, with the session's CSRF token."""
    return browser.post(path, data={"csrf_token": csrf_token(browser, LIST), **fields})


def system_mailbox(app, address: str = SALES) -> Mailbox | None:
    with app.app_context():
        mailbox = db.session.execute(select(Mailbox).where(Mailbox.address == address)).scalar_one_or_none()
        if mailbox is not None:
            db.session.expunge(mailbox)
        return mailbox


def grant_account(app, mailbox: Mailbox) -> str | None:
    with app.app_context():
        grant = db.session.get(MicrosoftGrant, mailbox.grant_id) if mailbox.grant_id else None
        return grant.account if grant else None


def audit_changes(app, subject: str) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(
                select(AuditEvent.change).where(AuditEvent.subject == subject).order_by(AuditEvent.id)
            ).scalars()
        )


def signed_in_user(app, email: str) -> SignedInUser:
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == email)).scalar_one()
        return SignedInUser(user.id, user.email, user.role, 0)


def readable(app, email: str) -> set[str]:
    with app.app_context():
        ids = system_service.readable_mailboxes(signed_in_user(app, email))
        return set(db.session.execute(select(Mailbox.address).where(Mailbox.id.in_(ids))).scalars())


def test_add_mailbox_checks_each_field_beside_it(app, admin_client):
    for label, address, field, message in [
        ("", SALES, "label", "Enter a label"),
        ("Sales", "not an address", "address", "Enter a valid e-mail address."),
        ("x" * 101, SALES, "label", "100 characters"),
        ("Sales\x1b", SALES, "label", "control characters"),
    ]:
        answer = add(admin_client, label, address)
        assert answer.status_code == 422, (label, address)
        page = answer.get_data(as_text=True)
        assert element(page, f"{field}-error") is not None and message in page, (label, address)

    assert added(app, admin_client, " Sales ", "Sales@Contoso.onmicrosoft.com").endswith(
        f"/{system_mailbox(app).id}"
    )
    twice = add(admin_client, "Sales again", "SALES@contoso.onmicrosoft.com")
    assert twice.status_code == 422
    assert f"{SALES} is already a system mailbox." in twice.get_data(as_text=True)
    mailbox = system_mailbox(app)
    assert (mailbox.kind, mailbox.label, mailbox.owner_id, mailbox.grant_id) == (SYSTEM, "Sales", None, None)
    assert audit_changes(app, f"system mailbox {SALES}") == ["added as 'Sales', read by administrators"]

    listed = admin_client.get(LIST).get_data(as_text=True)
    assert "Not connected yet" in listed and "Administrators" in listed and ">Sales</a>" in listed
    assert 'aria-current="page">System mailboxes</a>' in listed


def test_a_delegate_with_full_access_connects_the_shared_mailbox_and_it_is_checked(
    app, dovecot, enabled, mail_identity_provider
):
    page = added(app, enabled)

    result = connect_system(enabled, mail_identity_provider, page, ADELE)

    assert result.status_code == 200, result.get_data(as_text=True)
    assert "Back to System mailboxes" in result.get_data(as_text=True)
    mailbox = system_mailbox(app)
    assert grant_account(app, mailbox) == ADELE
    shown = enabled.get(page).get_data(as_text=True)
    assert f"signed in as <strong>{ADELE}</strong>, a delegate of\n      <strong>{SALES}</strong>" in shown
    assert "Reconnect needed" not in shown
    assert audit_changes(app, f"system mailbox {SALES}")[-1] == f"connected: signed in by {ADELE}, a delegate"

    panel = checked_after_connecting(app, enabled, page)

    assert "<strong>IMAP:</strong> Signed in; 6 folders." in panel
    assert "<strong>SMTP:</strong> Signed in; nothing was sent." in panel
    assert "checked" in element(panel, "folder-1") and element(panel, "folder-1")["value"] == "INBOX"
    saved = enabled.post(
        page + "/folders",
        data={"csrf_token": csrf_token(enabled, page), "folders": ["INBOX"], "sync": "everything", "sync_from": ""},
    )
    assert saved.status_code == 302
    assert system_mailbox(app).folders == ["INBOX"]
    # The sign-in's status poll sends the admin to this mailbox's page.
    listed = enabled.get(LIST).get_data(as_text=True)
    assert f"signed in as {ADELE}, a delegate" in listed and ": passed" in listed


def test_an_account_without_full_access_is_refused_with_the_reason(app, dovecot, enabled, mail_identity_provider):
    page = added(app, enabled)
    connect_system(enabled, mail_identity_provider, page, ALEX)

    panel = checked_after_connecting(app, enabled, page)

    assert f"IMAP: The IMAP server refused the sign-in to {SALES}." in panel
    assert "has no Full Access" in panel
    assert "The server said: <code>" in panel
    assert system_mailbox(app).check_outcome == "failed"


def test_a_reconnect_must_use_the_same_account_unless_it_replaces_it(app, enabled, mail_identity_provider):
    page = added(app, enabled)
    connect_system(enabled, mail_identity_provider, page, ADELE)

    wrong = connect_system(enabled, mail_identity_provider, page, ALEX)

    assert wrong.status_code == 400
    text = wrong.get_data(as_text=True)
    assert f"You signed in as {ALEX}, but {SALES} is connected with {ADELE}" in text
    assert grant_account(app, system_mailbox(app)) == ADELE
    asked = enabled.get(page + "/replace").get_data(as_text=True)
    assert f"in place of {ADELE}?" in asked

    replaced = connect_system(enabled, mail_identity_provider, page, ALEX, replace=True)

    assert replaced.status_code == 200
    assert grant_account(app, system_mailbox(app)) == ALEX
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(MicrosoftGrant).where(
            MicrosoftGrant.purpose == MAILBOX)).scalar_one() == 1


def test_readers_decide_who_reads_a_system_mailbox(app, admin_client, user):
    make_user(app, "carol@example.com", "user")
    page = added(app, admin_client)
    added(app, admin_client, "Support", "support@contoso.onmicrosoft.com")

    assert readable(app, ADMIN_EMAIL) == {SALES, "support@contoso.onmicrosoft.com"}
    assert readable(app, USER_EMAIL) == set()

    with app.app_context():
        user_id = db.session.execute(select(User.id).where(User.email == USER_EMAIL)).scalar_one()
    saved = submit(admin_client, page + "/readers", users=[str(user_id)])

    assert saved.status_code == 302
    assert readable(app, USER_EMAIL) == {SALES}
    assert readable(app, "carol@example.com") == set()
    assert readable(app, ADMIN_EMAIL) == {"support@contoso.onmicrosoft.com"}, "admins read only where listed"
    assert audit_changes(app, f"system mailbox {SALES}")[-2:] == [
        "Administrators may no longer read it",
        f"{USER_EMAIL} may read it",
    ]

    by_role = submit(admin_client, page + "/readers", roles=["user"])
    assert by_role.status_code == 302
    assert readable(app, "carol@example.com") == {SALES} and readable(app, USER_EMAIL) == {SALES}
    shown = admin_client.get(page).get_data(as_text=True)
    assert "checked" in element(shown, "roles-2") and "checked" not in (element(shown, "roles-1") or {})

    for fields in ({"roles": ["owner"]}, {"users": ["999999"]}, {"users": ["x"]}):
        refused = admin_client.post(page + "/readers", data={"csrf_token": csrf_token(admin_client, page), **fields})
        assert refused.status_code == 422, fields
    assert readable(app, "carol@example.com") == {SALES}


def test_readers_are_listed_as_chosen_and_added_by_e_mail(app, admin_client, user):
    for number in range(30):
        make_user(app, f"staff{number:02}@example.com", "user")
    make_user(app, "gone@example.com", "user")
    with app.app_context():
        db.session.execute(update(User).where(User.email == "gone@example.com").values(active=False))
        db.session.commit()
    page = added(app, admin_client)

    shown = admin_client.get(page).get_data(as_text=True)
    assert "staff00@example.com" not in shown and USER_EMAIL not in shown, "every account is listed"
    assert element(shown, "users-none") is not None

    refused = submit(admin_client, page + "/readers", roles=["admin"], add_users="staff01@example.com, gone@example.com nobody@example.com")
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "No active account has the e-mail gone@example.com, nobody@example.com." in text
    assert element(text, "add_users-error") is not None
    assert readable(app, "staff01@example.com") == set()

    saved = submit(admin_client, page + "/readers", roles=["admin"], add_users=" Staff01@example.com;staff02@example.com ")
    assert saved.status_code == 302
    assert readable(app, "staff01@example.com") == {SALES} and readable(app, "staff02@example.com") == {SALES}
    shown = admin_client.get(page).get_data(as_text=True)
    assert "staff01@example.com" in shown and "staff02@example.com" in shown and "staff03@example.com" not in shown
    assert "checked" in element(shown, "users-1") and "checked" in element(shown, "users-2")

    with app.app_context():
        kept = db.session.execute(select(User.id).where(User.email == "staff02@example.com")).scalar_one()
    untick = submit(admin_client, page + "/readers", roles=["admin"], users=[str(kept)], add_users="")
    assert untick.status_code == 302
    assert readable(app, "staff01@example.com") == set() and readable(app, "staff02@example.com") == {SALES}
    assert audit_changes(app, f"system mailbox {SALES}")[-1] == "staff01@example.com may no longer read it"


def test_label_is_changed_and_a_bad_one_refused(app, admin_client):
    page = added(app, admin_client)

    refused = admin_client.post(page + "/label", data={"csrf_token": csrf_token(admin_client, page), "label": " "})
    assert refused.status_code == 422 and element(refused.get_data(as_text=True), "label-error") is not None

    renamed = submit(admin_client, page + "/label", label="Sales team")
    assert renamed.status_code == 302
    assert system_mailbox(app).label == "Sales team"
    assert "label changed from 'Sales' to 'Sales team'" in audit_changes(app, f"system mailbox {SALES}")


def test_remove_asks_then_deletes_the_mailbox_its_tokens_and_readers(app, enabled, mail_identity_provider):
    page = added(app, enabled)
    connect_system(enabled, mail_identity_provider, page, ADELE)

    asked = enabled.get(page + "/remove").get_data(as_text=True)
    assert "its tokens and the mail synced from it are deleted" in asked.replace("\n     ", "").replace(
        "Its tokens", "its tokens"
    )
    done = enabled.post(page + "/remove", data={"csrf_token": csrf_token(enabled, page)})

    assert done.status_code == 302 and done.headers["Location"] == LIST
    assert system_mailbox(app) is None
    with app.app_context():
        assert db.session.execute(select(MicrosoftGrant.purpose)).scalars().all() == ["site"]
        assert db.session.execute(select(MailboxReader)).first() is None
    assert enabled.get(page).status_code == 404
    assert audit_changes(app, f"system mailbox {SALES}")[-1] == (
        "removed; its tokens and the mail synced from it were deleted"
    )


def test_reconnect_needed_of_a_system_mailbox_is_told_to_admins_on_every_page(
    app, enabled, user, mail_identity_provider
):
    page = added(app, enabled)
    connect_system(enabled, mail_identity_provider, page, ADELE)
    assert 'id="system-mailbox-reconnect"' not in enabled.get("/account").get_data(as_text=True)
    with app.app_context():
        db.session.execute(
            update(MicrosoftGrant).where(MicrosoftGrant.purpose == MAILBOX).values(reconnect_reason="Revoked")
        )
        db.session.commit()

    for path in ("/account", "/admin/users", page):
        shown = enabled.get(path).get_data(as_text=True)
        assert "a system mailbox can no longer be opened" in shown, path
    listed = enabled.get(LIST).get_data(as_text=True)
    assert 'id="system-mailbox-reconnect"' not in listed and "Reconnect needed" in listed and "Revoked" in listed
    assert 'id="system-mailbox-reconnect"' not in signed_in(app, user).get("/account").get_data(as_text=True)


def test_a_deactivated_delegate_leaves_the_mailbox_reconnect_needed_with_the_reason(
    app, enabled, mail_identity_provider
):
    make_user(app, "second-admin@example.com", "admin")
    delegate = signed_in(app, "second-admin@example.com")
    page = added(app, enabled)
    connect_system(delegate, mail_identity_provider, page, ADELE)
    with app.app_context():
        delegate_id = db.session.execute(select(User.id).where(User.email == "second-admin@example.com")).scalar_one()

    deactivated = enabled.post(
        f"/admin/users/{delegate_id}",
        data={"csrf_token": csrf_token(enabled, "/admin/users"), "name": "", "role": "admin"},
    )

    assert deactivated.status_code == 302
    mailbox = system_mailbox(app)
    assert mailbox.grant_id is None
    shown = enabled.get(page).get_data(as_text=True)
    assert "Reconnect needed" in shown
    assert "second-admin@example.com, who connected it, was deactivated in oroflask" in shown
    assert 'id="system-mailbox-reconnect"' in enabled.get("/account").get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(MicrosoftGrant.purpose)).scalars().all() == ["site"]


def test_a_deactivated_users_own_mailbox_loses_its_tokens(app, enabled, user, mail_identity_provider):
    owner = signed_in(app, user)
    connect(owner, mail_identity_provider, ALEX)
    with app.app_context():
        user_id = db.session.execute(select(User.id).where(User.email == USER_EMAIL)).scalar_one()

    submit(enabled, f"/admin/users/{user_id}", name="", role="user")

    with app.app_context():
        mailbox = db.session.execute(select(Mailbox).where(Mailbox.owner_id == user_id)).scalar_one()
        assert mailbox.grant_id is None
        assert f"The account {USER_EMAIL} was deactivated" in mailbox.grant_ended_reason
        assert db.session.execute(select(MicrosoftGrant.purpose)).scalars().all() == ["site"]


@pytest.mark.parametrize("method, suffix", [
    ("GET", ""), ("GET", "/new"), ("POST", "/new"), ("GET", "/signed-in"), ("GET", "/{id}"),
    ("POST", "/{id}/connect"), ("GET", "/{id}/replace"), ("POST", "/{id}/check"), ("POST", "/{id}/folders"),
    ("POST", "/{id}/label"), ("POST", "/{id}/readers"), ("GET", "/{id}/remove"), ("POST", "/{id}/remove"),
])  # fmt: skip
def test_a_user_who_is_not_an_admin_reaches_no_system_mailbox_url(app, admin_client, user, method, suffix):
    page = added(app, admin_client)
    mailbox_id = page.rsplit("/", 1)[1]
    browser = signed_in(app, user)
    token = csrf_token(browser, "/account")

    answer = browser.open(
        LIST + suffix.format(id=mailbox_id), method=method, data={"csrf_token": token, "label": "Mine", "roles": "user"}
    )

    assert answer.status_code == 403
    mailbox = system_mailbox(app)
    assert mailbox.label == "Sales" and mailbox.check_outcome is None
    assert readable(app, USER_EMAIL) == set()


def test_a_personal_mailbox_has_no_system_mailbox_page(app, enabled, user, mail_identity_provider):
    connect(signed_in(app, user), mail_identity_provider, ALEX)
    with app.app_context():
        personal_id = db.session.execute(select(Mailbox.id)).scalar_one()

    assert enabled.get(f"{LIST}/{personal_id}").status_code == 404
    assert submit(enabled, f"{LIST}/{personal_id}/remove").status_code == 404
    assert enabled.get(f"{LIST}/2147483648").status_code == 404


def test_sign_in_errors_of_a_mailbox_name_its_own_button(app, enabled, user, mail_identity_provider):
    page = added(app, enabled)
    declined = connect_system(enabled, mail_identity_provider, page, ADELE, action="cancel")
    # The same refusal on My mailbox names the same button.
    own_declined = connect(signed_in(app, user), mail_identity_provider, ALEX, action="cancel")
    assert "Click Connect (or Reconnect) again and accept the permissions" in own_declined.get_data(as_text=True)

    text = declined.get_data(as_text=True)
    assert declined.status_code == 400
    assert "The permissions were declined" in text
    assert "Click Connect (or Reconnect) again and accept the permissions" in text and "Enable" not in text
    assert "Back to System mailboxes" in text
    assert system_mailbox(app).grant_id is None


def test_the_gate_tells_an_admin_what_to_click_and_a_user_whom_to_ask(app, admin_client, user):
    page = added(app, admin_client)

    admin_sees = " ".join(admin_client.get(page).get_data(as_text=True).split())
    user_sees = " ".join(signed_in(app, user).get("/account/mailbox").get_data(as_text=True).split())

    assert "Open Microsoft Settings</a> and click Enable." in admin_sees and 'id="connect"' not in admin_sees
    assert "an administrator must first enable" in user_sees and "click Enable" not in user_sees


def test_readable_mailboxes_hold_ones_own_personal_mailbox_and_no_one_elses(app, admin, user):
    with app.app_context():
        owners = dict(db.session.execute(select(User.email, User.id)).all())
        db.session.add_all(
            Mailbox(kind="personal", owner_id=owners[email], address=address, label=address)
            for email, address in ((USER_EMAIL, "alex@contoso.onmicrosoft.com"), (ADMIN_EMAIL, ADELE))
        )
        db.session.commit()

    assert readable(app, USER_EMAIL) == {"alex@contoso.onmicrosoft.com"}
    assert readable(app, ADMIN_EMAIL) == {ADELE}


def test_check_connection_runs_in_a_real_worker_process(app, dovecot, enabled, mail_identity_provider, start_worker):
    page = added(app, enabled)
    connect_system(enabled, mail_identity_provider, page, ADELE)
    worker = start_worker(
        app,
        settings={
            "MICROSOFT_IMAP_HOST": "localhost",
            "MICROSOFT_IMAP_PORT": str(dovecot.imaps_port),
            "MICROSOFT_IMAP_SECURITY": "tls",
            "MICROSOFT_SMTP_HOST": "localhost",
            "MICROSOFT_SMTP_PORT": str(dovecot.submission_port),
            "MICROSOFT_SMTP_SECURITY": "starttls",
            "MAIL_CA_FILE": str(dovecot.ca_file),
        },
    )
    worker.wait_until_running()

    queued = enabled.post(page + "/check", data={"csrf_token": csrf_token(enabled, page)})

    assert queued.status_code == 303
    deadline = time.monotonic() + 30
    while system_mailbox(app).check_outcome == "running":
        assert time.monotonic() < deadline, "the worker did not check the mailbox:\n" + worker.text()
        time.sleep(0.2)
    shown = enabled.get(page).get_data(as_text=True)
    assert "<strong>IMAP:</strong> Signed in; 6 folders." in shown, worker.text()
    assert "<strong>SMTP:</strong> Signed in; nothing was sent." in shown
    assert worker.stop() == 0 and "Traceback" not in worker.text()


def test_a_system_mailbox_sign_in_is_for_admins_only(app, enabled, mail_identity_provider):
    make_user(app, "second-admin@example.com", "admin")
    second = signed_in(app, "second-admin@example.com")
    page = added(app, enabled)
    started = second.post(page + "/connect", headers=htmx(second, page))
    attempt_url = json.loads(started.headers["HX-Trigger"])["authorization-started"]["url"]
    with app.app_context():
        db.session.execute(update(User).where(User.email == "second-admin@example.com").values(role="user"))
        db.session.commit()

    assert second.get(attempt_url).status_code == 404
    assert second.get(attempt_url.removesuffix("/authorize"), headers={"HX-Request": "true"}).status_code == 404
    assert system_mailbox(app).grant_id is None


def add_connected_mailboxes(app, numbers: range, reader: str) -> None:
    """Store a system mailbox for each of `numbers`, connected by a delegate, read by `reader`, synced once."""
    with app.app_context():
        actor = signed_in_user(app, ADMIN_EMAIL)
        reader_id = signed_in_user(app, reader).id
        for number in numbers:
            mailbox = system_service.add(actor, f"Team {number:02}", f"team{number}@contoso.onmicrosoft.com")
            system_service.set_readers(actor, mailbox, [reader_id], ["admin"])
            grant = MicrosoftGrant(
                purpose=MAILBOX,
                account=ADELE,
                client_id="client",
                tenant="contoso",
                tenant_id="tenant",
                scopes="IMAP.AccessAsUser.All SMTP.Send offline_access",
                access_token_encrypted=encrypt("access token"),
                refresh_token_encrypted=encrypt("refresh token"),
                access_token_expires_at=utcnow() + timedelta(hours=1),
            )
            db.session.add(grant)
            db.session.flush()
            mailbox.grant_id = grant.id
            mailbox.folders = ["INBOX"]
            db.session.add(MailFolder(mailbox_id=mailbox.id, name="INBOX", message_count=3))
            db.session.add(MailboxSync(mailbox_id=mailbox.id, succeeded_at=utcnow()))
        db.session.commit()


def queries_of_list(app, browser) -> tuple[int, str]:
    """Open System mailboxes; return how many SQL statements it ran, and the page."""
    statements = []

    def counted(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        answer = browser.get(LIST)
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    assert answer.status_code == 200
    return len(statements), answer.get_data(as_text=True)


def test_the_list_reads_ten_mailboxes_in_as_many_queries_as_one(app, admin_client, user):
    add_connected_mailboxes(app, range(1), USER_EMAIL)
    queries_of_list(app, admin_client)  # the first request of a client loads what later ones reuse
    for_one, page = queries_of_list(app, admin_client)
    assert page.count(f"signed in as {ADELE}, a delegate") == 1
    assert page.count(f"Administrators, {USER_EMAIL}") == 1

    add_connected_mailboxes(app, range(1, 10), USER_EMAIL)
    for_ten, page = queries_of_list(app, admin_client)

    assert page.count(f"signed in as {ADELE}, a delegate") == 10
    assert page.count(f"Administrators, {USER_EMAIL}") == 10
    assert page.count("<time datetime=") == 10  # each row's Last sync
    assert for_ten == for_one


def test_a_queue_that_cannot_take_the_check_leaves_the_mailbox_connected(
    app, enabled, mail_identity_provider, monkeypatch
):
    def unreachable(*args, **kwargs):
        raise ConnectionError("the queue cannot be reached")

    monkeypatch.setattr(tasks, "check_mailbox", SimpleNamespace(enqueue=unreachable))
    page = added(app, enabled)

    result = connect_system(enabled, mail_identity_provider, page, ADELE)

    assert result.status_code == 200, result.get_data(as_text=True)
    assert grant_account(app, system_mailbox(app)) == ADELE
    assert audit_changes(app, f"system mailbox {SALES}")[-1] == f"connected: signed in by {ADELE}, a delegate"
    assert 'id="check-waiting"' in enabled.get(page).get_data(as_text=True)
