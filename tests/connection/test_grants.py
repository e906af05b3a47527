"""Many grants, one token store: each grant refreshes on its own, under its own lease, and dies
alone; the site's connection made, ended and declared dead is in the audit log."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from oroflask.audit.models import CONNECTION, AuditEvent
from oroflask.auth.models import User
from oroflask.connection import service, tokens
from oroflask.connection.models import MAILBOX, SITE, AuthorizationAttempt, MicrosoftGrant
from oroflask.database import utcnow
from oroflask.devidp.directory import DEFAULT_TENANT_ID
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.microsoft.errors import MicrosoftError
from tests.conftest import ADMIN_EMAIL, csrf_token, live_save, toggle_use_default

from .conftest import ACCOUNT, PAGE, behave
from .test_tokens import OTHER_CLIENT_ID, introspect, refreshes, revoke

OTHER_ACCOUNT = "alex@contoso.onmicrosoft.com"
SITE_SUBJECT = "oAuth 2.0 for Office 365 emails sync"


def connect_as(flow, email: str) -> None:
    """Click Enable and sign in at the identity provider as `email`."""
    flow.start()
    flow.begin()
    flow.approve(email=email)
    response = flow.callback()
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.fixture
def two_grants(app, flow):
    """Return the ids of the site's grant (Alex's) and a mailbox grant (Adele's), both with live tokens.

    Adele signs in with Enable first; her grant is copied as a mailbox's, then Alex's sign-in
    replaces the site's tokens.
    """
    connect_as(flow, ACCOUNT)
    with app.app_context():
        site = service.site_grant()
        mailbox = MicrosoftGrant(
            purpose=MAILBOX,
            **{
                column: getattr(site, column)
                for column in (
                    "account", "client_id", "tenant", "tenant_id", "object_id", "scopes",
                    "access_token_encrypted", "refresh_token_encrypted", "access_token_expires_at",
                )
            },
        )
        db.session.add(mailbox)
        db.session.commit()
        mailbox_id = mailbox.id
    connect_as(flow, OTHER_ACCOUNT)
    with app.app_context():
        site_id = service.site_grant().id
    assert site_id != mailbox_id
    return site_id, mailbox_id


def grant(app, grant_id: int) -> dict:
    with app.app_context():
        row = db.session.get(MicrosoftGrant, grant_id)
        return {
            "purpose": row.purpose,
            "account": row.account,
            "access_token": decrypt(row.access_token_encrypted),
            "refresh_token": decrypt(row.refresh_token_encrypted),
            "refreshed_at": row.refreshed_at,
            "reconnect_reason": row.reconnect_reason,
            "refresh_lease_owner": row.refresh_lease_owner,
        }


def change_grant(app, grant_id: int, **values) -> None:
    with app.app_context():
        db.session.execute(update(MicrosoftGrant).where(MicrosoftGrant.id == grant_id).values(**values))
        db.session.commit()


def access_token(app, grant_id: int) -> str:
    with app.app_context():
        return tokens.access_token(grant_id)


def connection_events(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        events = db.session.execute(
            select(AuditEvent).where(AuditEvent.area == CONNECTION).order_by(AuditEvent.id)
        ).scalars()
        return [(event.actor_email, event.subject, event.change) for event in events]


def test_each_grant_keeps_its_own_account_and_tokens(app, two_grants, idp):
    site_id, mailbox_id = two_grants
    site, mailbox = grant(app, site_id), grant(app, mailbox_id)
    assert (site["purpose"], site["account"]) == (SITE, OTHER_ACCOUNT)
    assert (mailbox["purpose"], mailbox["account"]) == (MAILBOX, ACCOUNT)
    assert introspect(idp, access_token(app, site_id))["email"] == OTHER_ACCOUNT
    assert introspect(idp, access_token(app, mailbox_id))["email"] == ACCOUNT
    assert refreshes(idp) == 0


def test_two_grants_refresh_independently_at_the_same_time(app, two_grants, idp):
    site_id, mailbox_id = two_grants
    before = {grant_id: grant(app, grant_id) for grant_id in two_grants}
    for grant_id in two_grants:
        change_grant(app, grant_id, access_token_expires_at=utcnow() - timedelta(minutes=1))
    behave(idp, token_delay=0.5)
    callers_per_grant = 3
    start = threading.Barrier(2 * callers_per_grant)
    results: dict[int, list[str]] = {site_id: [], mailbox_id: []}
    failures: list[BaseException] = []

    def call(grant_id: int) -> None:
        with app.app_context():
            start.wait()
            try:
                results[grant_id].append(tokens.access_token(grant_id))
            except BaseException as error:  # reported by the assertion below
                failures.append(error)

    threads = [threading.Thread(target=call, args=(grant_id,)) for grant_id in two_grants * callers_per_grant]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not failures, failures
    # One refresh per grant, each shared by that grant's callers only.
    assert refreshes(idp) == 2
    for grant_id, email in ((site_id, OTHER_ACCOUNT), (mailbox_id, ACCOUNT)):
        after = grant(app, grant_id)
        assert len(results[grant_id]) == callers_per_grant and set(results[grant_id]) == {after["access_token"]}
        assert after["access_token"] != before[grant_id]["access_token"]
        assert after["refresh_token"] != before[grant_id]["refresh_token"]
        assert introspect(idp, after["access_token"])["email"] == email
        assert after["refresh_lease_owner"] is None


def test_a_lease_on_one_grant_does_not_hold_up_another(app, two_grants, idp):
    site_id, mailbox_id = two_grants
    for grant_id in two_grants:
        change_grant(app, grant_id, access_token_expires_at=utcnow() - timedelta(minutes=1))
    change_grant(app, site_id, refresh_lease_owner="another-worker", refresh_lease_until=utcnow() + timedelta(minutes=1))

    token = access_token(app, mailbox_id)

    assert introspect(idp, token)["email"] == ACCOUNT
    assert refreshes(idp) == 1
    assert grant(app, site_id)["refresh_lease_owner"] == "another-worker"
    assert grant(app, mailbox_id)["refresh_lease_owner"] is None


def test_a_dead_grant_does_not_affect_another(app, two_grants, idp, flow):
    site_id, mailbox_id = two_grants
    revoke(idp, email=ACCOUNT)
    for grant_id in two_grants:
        change_grant(app, grant_id, access_token_expires_at=utcnow() - timedelta(minutes=1))

    with pytest.raises(MicrosoftError):
        access_token(app, mailbox_id)
    with pytest.raises(tokens.ReconnectNeeded, match="AADSTS50173"):
        access_token(app, mailbox_id)

    assert "AADSTS50173" in grant(app, mailbox_id)["reconnect_reason"]
    assert grant(app, site_id)["reconnect_reason"] is None
    assert introspect(idp, access_token(app, site_id))["email"] == OTHER_ACCOUNT
    page = flow.client.get(PAGE).get_data(as_text=True)
    assert f"Connected as <strong>{OTHER_ACCOUNT}</strong>" in page and "Reconnect needed" not in page


def test_refresh_tokens_covers_every_grant_and_reports_each(app, two_grants, idp, runner):
    site_id, mailbox_id = two_grants
    revoke(idp, email=ACCOUNT)

    result = runner.invoke(args=["refresh-tokens", "--idle-days", "0"])

    assert result.exit_code == 1
    assert f"{OTHER_ACCOUNT}: refreshed" in result.output
    assert f"{ACCOUNT}: reconnect needed: The authorization was revoked" in result.output
    assert grant(app, site_id)["refreshed_at"] is not None and grant(app, site_id)["reconnect_reason"] is None
    assert "AADSTS50173" in grant(app, mailbox_id)["reconnect_reason"]

    again = runner.invoke(args=["refresh-tokens", "--idle-days", "0"])
    assert again.exit_code == 0 and ACCOUNT not in again.output


def test_the_grant_remembers_who_signed_in_and_a_new_sign_in_renews_it(app, flow):
    connect_as(flow, ACCOUNT)
    connect_as(flow, OTHER_ACCOUNT)
    with app.app_context():
        site = service.site_grant()
        assert site.account == OTHER_ACCOUNT and db.session.get(User, site.user_id).email == ADMIN_EMAIL
        attempts = db.session.execute(select(AuthorizationAttempt).order_by(AuthorizationAttempt.created_at)).scalars().all()
        assert [(attempt.purpose, attempt.grant_id) for attempt in attempts] == [(SITE, site.id), (SITE, site.id)]
        assert db.session.execute(select(db.func.count(MicrosoftGrant.id))).scalar_one() == 1


def test_connecting_and_disable_are_recorded(app, flow):
    connect_as(flow, ACCOUNT)
    response = flow.client.post(PAGE + "/disable", data={"csrf_token": csrf_token(flow.client, PAGE)})
    assert response.status_code == 302
    assert connection_events(app) == [
        (ADMIN_EMAIL, SITE_SUBJECT, f"connected as {ACCOUNT}"),
        (ADMIN_EMAIL, SITE_SUBJECT, f"ended by Disable (was connected as {ACCOUNT})"),
    ]


def test_a_failed_sign_in_records_nothing(app, flow):
    flow.start()
    flow.begin()
    flow.approve("cancel")
    flow.callback()
    assert connection_events(app) == []


def test_a_setting_that_ends_the_connection_is_recorded_with_the_setting(app, flow):
    connect_as(flow, ACCOUNT)
    asked = live_save(flow.client, "client_id", OTHER_CLIENT_ID)
    assert "working connection?" in asked.get_data(as_text=True)
    assert len(connection_events(app)) == 1  # asking ends nothing

    assert live_save(flow.client, "client_id", OTHER_CLIENT_ID, confirmed=True).status_code == 200

    assert connection_events(app)[1:] == [
        (ADMIN_EMAIL, SITE_SUBJECT, f"ended: the Application (Client) ID changed (was connected as {ACCOUNT})")
    ]
    # Ended already: changing the tenant too ends nothing more.
    live_save(flow.client, "tenant", "fabrikam.onmicrosoft.com", confirmed=True)
    assert len(connection_events(app)) == 2


def test_save_settings_that_ends_the_connection_is_recorded(app, flow):
    connect_as(flow, ACCOUNT)
    form = {"client_id": OTHER_CLIENT_ID, "client_secret": "", "tenant": "", "confirmed": "y"}
    response = flow.client.post(PAGE, data={**form, "csrf_token": csrf_token(flow.client, PAGE)})
    assert response.status_code == 302
    assert connection_events(app)[1:] == [
        (ADMIN_EMAIL, SITE_SUBJECT, f"ended: the Application (Client) ID changed (was connected as {ACCOUNT})")
    ]


def test_use_default_that_ends_the_connection_is_recorded(app, flow):
    live_save(flow.client, "tenant", DEFAULT_TENANT_ID)
    connect_as(flow, ACCOUNT)
    app.config["MICROSOFT_TENANT"] = "organizations"
    toggle_use_default(flow.client, "tenant", on=True)
    assert len(connection_events(app)) == 1  # asking ends nothing

    assert toggle_use_default(flow.client, "tenant", on=True, confirmed=True).status_code == 200

    assert connection_events(app)[1:] == [
        (ADMIN_EMAIL, SITE_SUBJECT, f"ended: the Directory (tenant) ID changed (was connected as {ACCOUNT})")
    ]


def test_a_grant_declared_dead_is_recorded_without_an_actor(app, flow, idp):
    connect_as(flow, ACCOUNT)
    revoke(idp, email=ACCOUNT)
    with app.app_context():
        site_id = service.site_grant().id
    change_grant(app, site_id, access_token_expires_at=utcnow() - timedelta(minutes=1))

    with pytest.raises(MicrosoftError):
        access_token(app, site_id)

    events = connection_events(app)
    assert events[-1][0] == "" and events[-1][1] == SITE_SUBJECT
    assert events[-1][2].startswith("reconnect needed: The authorization was revoked") and "AADSTS50173" in events[-1][2]
    with app.app_context():
        assert db.session.execute(select(AuditEvent.actor_id).order_by(AuditEvent.id.desc())).first()[0] is None


def test_refresh_tokens_says_which_failures_pass_and_which_need_the_settings(app, flow, idp, runner):
    connect_as(flow, ACCOUNT)
    behave(idp, token_status=503)
    passing = runner.invoke(args=["refresh-tokens", "--idle-days", "0"])
    assert passing.exit_code == 1
    assert f"{ACCOUNT}: not refreshed, will retry: Microsoft" in passing.output

    behave(idp, token_status=None)
    app.config["MICROSOFT_CLIENT_SECRET"] = ""
    unset = runner.invoke(args=["refresh-tokens", "--idle-days", "0"])
    assert unset.exit_code == 1
    assert f"{ACCOUNT}: not refreshed: Enter the Client Secret first." in unset.output
    with app.app_context():
        assert service.site_grant().reconnect_reason is None


def test_a_grant_outlives_the_account_that_made_it(app, flow, idp):
    connect_as(flow, ACCOUNT)
    with app.app_context():
        site_id = service.site_grant().id
        db.session.execute(db.delete(User).where(User.email == ADMIN_EMAIL))
        db.session.commit()
        assert db.session.get(MicrosoftGrant, site_id).user_id is None
    assert introspect(idp, access_token(app, site_id))["email"] == ACCOUNT
