"""My mailbox without the mail servers: the gate, connecting through the real callback, a
reconnect with another account, using the connection made with Enable, a dead grant,
disconnecting, and one user's mailbox out of another's reach."""

from sqlalchemy import select, update

from oroflask.connection.models import MAILBOX, SITE, AuthorizationAttempt, MicrosoftGrant
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.mailboxes.models import Mailbox
from tests.conftest import USER_EMAIL, csrf_token

from .conftest import MAILBOX_PAGE, connect, signed_in, stored_mailbox

ADELE = "adele@contoso.onmicrosoft.com"
ALEX = "alex@contoso.onmicrosoft.com"
LEE = "lee@contoso.onmicrosoft.com"


def grant_of(app, mailbox: Mailbox) -> MicrosoftGrant | None:
    with app.app_context():
        grant = db.session.get(MicrosoftGrant, mailbox.grant_id) if mailbox.grant_id else None
        if grant is not None:
            db.session.expunge(grant)
        return grant


def test_before_enable_the_page_says_so_and_offers_no_sign_in(user_client, app):
    page = user_client.get(MAILBOX_PAGE).get_data(as_text=True)

    assert "Mailboxes cannot be connected now: an administrator must first enable" in page
    assert 'id="connect"' not in page

    answer = user_client.post(MAILBOX_PAGE + "/connect", data={"csrf_token": csrf_token(user_client, MAILBOX_PAGE)})
    assert answer.status_code == 302
    with app.app_context():
        assert db.session.execute(select(AuthorizationAttempt)).first() is None


def test_the_page_is_linked_from_my_account_and_the_top_bar(user_client):
    page = user_client.get("/account").get_data(as_text=True)
    assert page.count(f'href="{MAILBOX_PAGE}"') == 2


def test_a_user_connects_through_the_microsoft_sign_in(app, enabled, user, mail_identity_provider):
    browser = signed_in(app, user)

    result = connect(browser, mail_identity_provider, ALEX)

    assert result.status_code == 200
    assert f"connected as {ALEX}" in result.get_data(as_text=True)
    assert "Back to My mailbox" in result.get_data(as_text=True)
    mailbox = stored_mailbox(app, user)
    grant = grant_of(app, mailbox)
    assert (mailbox.kind, mailbox.address, mailbox.folders) == ("personal", ALEX, None)
    assert (grant.purpose, grant.account) == (MAILBOX, ALEX)
    with app.app_context():
        assert decrypt(grant.refresh_token_encrypted)
    page = browser.get(MAILBOX_PAGE).get_data(as_text=True)
    assert f"Connected as <strong>{ALEX}</strong>" in page
    assert "IMAP.AccessAsUser.All" in page and 'id="check"' in page


def test_the_status_poll_of_a_mailbox_sign_in_serves_its_user_and_sends_the_page_again(
    app, enabled, user, mail_identity_provider
):
    browser = signed_in(app, user)
    connect(browser, mail_identity_provider, ALEX)
    with app.app_context():
        attempt_id = db.session.execute(
            select(AuthorizationAttempt.id).where(AuthorizationAttempt.purpose == MAILBOX)
        ).scalar_one()
    status_url = f"/oauth/microsoft/attempts/{attempt_id}"

    poll = browser.get(status_url, headers={"HX-Request": "true"})
    assert poll.status_code == 200 and poll.headers["HX-Redirect"] == MAILBOX_PAGE
    # The admin may not read another user's attempt.
    assert enabled.get(status_url, headers={"HX-Request": "true"}).status_code == 404


def test_a_reconnect_with_another_account_is_refused_and_replace_asks_first(
    app, enabled, user, mail_identity_provider
):
    browser = signed_in(app, user)
    connect(browser, mail_identity_provider, ALEX)

    refused = connect(browser, mail_identity_provider, LEE)

    assert refused.status_code == 400
    assert f"You signed in as {LEE}, but this mailbox is {ALEX}" in refused.get_data(as_text=True)
    assert stored_mailbox(app, user).address == ALEX
    asked = browser.get(MAILBOX_PAGE + "/replace").get_data(as_text=True)
    assert f"replace {ALEX}?" in asked and 'name="replace"' in asked

    replaced = connect(browser, mail_identity_provider, LEE, replace=True)

    assert replaced.status_code == 200
    mailbox = stored_mailbox(app, user)
    assert mailbox.address == LEE and grant_of(app, mailbox).account == LEE
    with app.app_context():
        assert len(db.session.execute(select(MicrosoftGrant).where(MicrosoftGrant.purpose == MAILBOX)).all()) == 1


def test_an_admin_uses_the_connection_made_with_enable_until_it_is_disabled(app, enabled):
    page = enabled.get(MAILBOX_PAGE).get_data(as_text=True)
    assert f"Use the connection made with Enable ({ADELE})" in page

    used = enabled.post(
        MAILBOX_PAGE + "/use-enable-connection", data={"csrf_token": csrf_token(enabled, MAILBOX_PAGE)}
    )

    assert used.status_code == 302
    mailbox = stored_mailbox(app, "admin@example.com")
    assert mailbox.address == ADELE and grant_of(app, mailbox).purpose == SITE
    page = enabled.get(MAILBOX_PAGE).get_data(as_text=True)
    assert "Uses the connection made with Enable" in page and "Use the connection made with Enable (" not in page

    enabled.post(
        "/admin/config/integrations/microsoft/disable",
        data={"csrf_token": csrf_token(enabled, MAILBOX_PAGE)},
    )

    page = enabled.get(MAILBOX_PAGE).get_data(as_text=True)
    assert "Reconnect needed" in page and "The connection made with Enable, which this mailbox used, was disabled" in page
    # Disabled, Enable is the gate again: no sign-in is offered.
    assert "Mailboxes cannot be connected now" in page and 'id="connect"' not in page


def test_a_dead_grant_shows_reconnect_needed_with_its_reason(app, enabled, user, mail_identity_provider):
    browser = signed_in(app, user)
    connect(browser, mail_identity_provider, ALEX)
    with app.app_context():
        db.session.execute(
            update(MicrosoftGrant)
            .where(MicrosoftGrant.purpose == MAILBOX)
            .values(reconnect_reason="The refresh token was revoked (AADSTS50173)")
        )
        db.session.commit()

    page = browser.get(MAILBOX_PAGE).get_data(as_text=True)

    assert "<strong>Reconnect needed</strong> The refresh token was revoked (AADSTS50173)" in page
    assert 'id="connect"' in page


def test_disconnect_asks_then_deletes_the_mailbox_and_its_tokens(app, enabled, user, mail_identity_provider):
    browser = signed_in(app, user)
    connect(browser, mail_identity_provider, ALEX)

    asked = browser.get(MAILBOX_PAGE + "/disconnect").get_data(as_text=True)
    assert f"Disconnect {ALEX} and delete its tokens?" in asked
    done = browser.post(MAILBOX_PAGE + "/disconnect", data={"csrf_token": csrf_token(browser, MAILBOX_PAGE)})

    assert done.status_code == 302
    assert stored_mailbox(app, user) is None
    with app.app_context():
        purposes = db.session.execute(select(MicrosoftGrant.purpose)).scalars().all()
    assert purposes == [SITE]
    assert f"Your mailbox {ALEX} is disconnected" in browser.get(MAILBOX_PAGE).get_data(as_text=True)


def test_one_user_cannot_see_or_change_another_users_mailbox(app, enabled, user, admin, mail_identity_provider):
    owner = signed_in(app, user)
    connect(owner, mail_identity_provider, ALEX)
    other = enabled  # the admin, without a mailbox of their own
    token = csrf_token(other, MAILBOX_PAGE)

    assert ALEX not in other.get(MAILBOX_PAGE).get_data(as_text=True)
    for action in ("/check", "/folders", "/disconnect"):
        answer = other.post(MAILBOX_PAGE + action, data={"csrf_token": token, "folders": "INBOX"})
        assert answer.status_code == 404, action
    assert other.get(MAILBOX_PAGE + "/disconnect").status_code == 404
    assert stored_mailbox(app, USER_EMAIL).address == ALEX


def test_reconnect_needed_is_told_to_the_owner_on_every_page_only(app, enabled, user, mail_identity_provider):
    owner = signed_in(app, user)
    connect(owner, mail_identity_provider, ALEX)
    assert 'id="mailbox-reconnect"' not in owner.get("/account").get_data(as_text=True)
    with app.app_context():
        db.session.execute(
            update(MicrosoftGrant).where(MicrosoftGrant.purpose == MAILBOX).values(reconnect_reason="Revoked")
        )
        db.session.commit()

    for path in ("/account", "/"):
        page = owner.get(path, follow_redirects=True).get_data(as_text=True)
        assert "<strong>Reconnect needed:</strong> your mailbox can no longer be opened." in page, path
    # The page of the mailbox says it in full, once.
    assert 'id="mailbox-reconnect"' not in owner.get(MAILBOX_PAGE).get_data(as_text=True)
    assert 'id="mailbox-reconnect"' not in enabled.get("/account").get_data(as_text=True)
