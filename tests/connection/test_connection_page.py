"""The connection row of the settings page: state on load, Verify, Disable, secret expiry."""

import re
from datetime import date, timedelta

import pytest

from oroflask.connection.service import site_grant
from oroflask.connection.service import secret_expiry_warning
from oroflask.devidp.directory import DEFAULT_CLIENT_ID, DEFAULT_SECRET_ID, DEFAULT_TENANT_ID
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.audit.models import AuditEvent
from oroflask.settings.models import MicrosoftSettings
from tests.conftest import csrf_token, live_save, toggle_use_default

from .conftest import ACCOUNT, PAGE, htmx

VERIFY = PAGE + "/verify"
DISABLE = PAGE + "/disable"
EXPIRY = PAGE + "/fields/client_secret_expires_on"


def test_page_says_not_connected_before_enable(admin_client):
    page = admin_client.get(PAGE).get_data(as_text=True)
    assert "Not connected." in page
    assert 'id="enable"' in page and ">Enable<" in page


def test_page_shows_the_connection_with_its_scopes(flow):
    flow.run()
    page = flow.client.get(PAGE).get_data(as_text=True)
    assert f"Connected as <strong>{ACCOUNT}</strong> since" in page
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in page


def test_changing_the_client_id_needs_a_reconnect(flow):
    flow.run()
    live_save(flow.client, "client_id", "11111111-2222-3333-4444-555555555555", confirmed=True)
    page = flow.client.get(PAGE).get_data(as_text=True)
    assert "Reconnect needed" in page and "Application (Client) ID changed" in page
    assert ">Reconnect<" in page


def test_changing_the_tenant_needs_a_reconnect(flow):
    flow.run()
    live_save(flow.client, "tenant", "fabrikam.onmicrosoft.com", confirmed=True)
    page = flow.client.get(PAGE).get_data(as_text=True)
    assert "Directory (tenant) ID changed" in page


def test_changing_only_the_secret_keeps_the_connection(flow):
    flow.run()
    live_save(flow.client, "client_secret", "Another~secret.value")
    page = flow.client.get(PAGE).get_data(as_text=True)
    assert f"Connected as <strong>{ACCOUNT}</strong>" in page
    assert "Reconnect needed" not in page


def test_verify_accepts_good_credentials(admin_client):
    response = admin_client.post(VERIFY, headers=htmx(admin_client))
    assert "are valid" in response.get_data(as_text=True)


def test_verify_puts_a_wrong_secret_under_the_secret(admin_client):
    live_save(admin_client, "client_secret", "Wrong~secret.value")
    text = admin_client.post(VERIFY, headers=htmx(admin_client)).get_data(as_text=True)
    assert 'id="field-client_secret" hx-swap-oob="true"' in text
    assert "The client secret is wrong (AADSTS7000215)" in text
    assert "Wrong~secret.value" not in text


def test_verify_names_the_secret_id_mistake(admin_client):
    live_save(admin_client, "client_secret", DEFAULT_SECRET_ID)
    text = admin_client.post(VERIFY, headers=htmx(admin_client)).get_data(as_text=True)
    assert "not its Secret ID" in text


def test_verify_puts_an_unknown_tenant_under_the_tenant(admin_client):
    live_save(admin_client, "tenant", "99999999-9999-9999-9999-999999999999")
    text = admin_client.post(VERIFY, headers=htmx(admin_client)).get_data(as_text=True)
    assert 'id="field-tenant" hx-swap-oob="true"' in text and "AADSTS90002" in text


def test_verify_puts_an_unknown_client_under_the_client_id(admin_client):
    live_save(admin_client, "client_id", "99999999-9999-9999-9999-999999999999")
    text = admin_client.post(VERIFY, headers=htmx(admin_client)).get_data(as_text=True)
    assert 'id="field-client_id" hx-swap-oob="true"' in text and "AADSTS700016" in text


def test_verify_reports_an_expired_secret(admin_client):
    live_save(admin_client, "client_id", "11111111-2222-3333-4444-555555555555")
    live_save(admin_client, "client_secret", "Old~secret.value")
    text = admin_client.post(VERIFY, headers=htmx(admin_client)).get_data(as_text=True)
    assert "The client secret has expired" in text


def test_verify_without_javascript_flashes_the_result(admin_client):
    response = admin_client.post(VERIFY, data={"csrf_token": csrf_token(admin_client, PAGE)}, follow_redirects=True)
    assert "are valid" in response.get_data(as_text=True)


def test_verify_without_javascript_names_the_refused_setting(admin_client):
    live_save(admin_client, "client_secret", "Wrong~secret.value")
    response = admin_client.post(VERIFY, data={"csrf_token": csrf_token(admin_client, PAGE)}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Verification failed: the Client Secret was refused." in page
    assert "Client Secret: The client secret is wrong (AADSTS7000215)." in page
    assert "marked" not in page


def test_disable_asks_then_deletes_the_tokens(app, flow):
    flow.run()
    confirm = flow.client.get(DISABLE, headers=htmx(flow.client)).get_data(as_text=True)
    assert "delete the stored tokens?" in confirm
    response = flow.client.post(DISABLE, data={"csrf_token": csrf_token(flow.client, PAGE)})
    assert response.status_code == 302
    with app.app_context():
        assert site_grant() is None
        assert not db.session.get(MicrosoftSettings, 1).emails_sync_enabled
    page = flow.client.get(PAGE).get_data(as_text=True)
    assert "Emails sync is disabled and the stored tokens are deleted." in page
    assert "Not connected." in page


def test_disable_without_the_token_deletes_nothing(app, flow):
    flow.run()
    response = flow.client.post(DISABLE, data={})
    assert response.status_code == 400
    with app.app_context():
        assert site_grant() is not None


def test_enable_without_javascript_goes_through_the_same_window(app, flow):
    response = flow.client.post(PAGE + "/authorization", data={"csrf_token": csrf_token(flow.client, PAGE)})
    assert response.status_code == 302 and "window=same" in response.headers["Location"]
    flow.authorize_url = flow.client.get(response.headers["Location"]).headers["Location"]
    flow.approve()
    back = flow.callback()
    assert back.status_code == 302 and back.headers["Location"].endswith(PAGE)
    page = flow.client.get(PAGE).get_data(as_text=True)
    assert f"Authorization succeeded: connected as {ACCOUNT}" in page


@pytest.mark.parametrize(
    "days, expected",
    [(45, None), (30, "expires in 30 days"), (1, "expires in 1 day "), (0, "expires today"), (-3, "expired on")],
)
def test_secret_expiry_warning(days, expected):
    today = date(2026, 11, 23)
    warning = secret_expiry_warning(today + timedelta(days=days), today)
    if expected is None:
        assert warning is None
    else:
        assert expected in warning and "Certificates & secrets" in warning


def test_secret_expiry_is_saved_live_and_warned(app, admin_client):
    soon = (date.today() + timedelta(days=10)).isoformat()
    response = admin_client.post(EXPIRY, data={"client_secret_expires_on": soon}, headers=htmx(admin_client))
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "Saved" in text and "expires in 10 days" in text
    with app.app_context():
        assert db.session.get(MicrosoftSettings, 1).client_secret_expires_on.isoformat() == soon
        change = db.session.execute(db.select(AuditEvent)).scalars().all()[-1]
        assert change.subject == "client_secret_expires_on" and soon in change.change
    assert "expires in 10 days" in admin_client.get(PAGE).get_data(as_text=True)


def test_secret_expiry_refuses_a_malformed_date(app, admin_client):
    response = admin_client.post(EXPIRY, data={"client_secret_expires_on": "next year"}, headers=htmx(admin_client))
    assert response.status_code == 422
    assert "YYYY-MM-DD" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(MicrosoftSettings, 1).client_secret_expires_on is None


@pytest.mark.parametrize("key, value", [("MICROSOFT_TENANT", "consumers"), ("MICROSOFT_CLIENT_ID", "not-a-guid")])
def test_an_invalid_configured_default_is_reported_not_used(app, admin_client, key, value):
    app.config[key] = value
    page = admin_client.get(PAGE).get_data(as_text=True)
    assert f"The configured default (OROFLASK_{key}) is not used" in page
    assert "To enable, enter:" in page


# Changing what a working connection belongs to asks first

OTHER_CLIENT_ID = "11111111-2222-3333-4444-555555555555"


def connection_state(app) -> tuple[str | None, str | None]:
    with app.app_context():
        settings = db.session.get(MicrosoftSettings, 1)
        return settings.client_id, settings.tenant


def test_a_live_save_that_would_end_the_connection_asks_first(app, flow):
    flow.run()
    before = connection_state(app)
    response = live_save(flow.client, "client_id", OTHER_CLIENT_ID)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Change the Application (Client) ID of the working connection?" in text
    assert f"The stored authorization (connected as {ACCOUNT}) belongs to the application" in text
    assert "mail sync stops until someone clicks Enable again" in text
    assert "Saved" not in text
    assert connection_state(app) == before
    page = flow.client.get(PAGE).get_data(as_text=True)
    assert f"Connected as <strong>{ACCOUNT}</strong>" in page and "Reconnect needed" not in page


def test_declining_keeps_the_value_and_the_connection(app, flow):
    flow.run()
    live_save(flow.client, "client_id", OTHER_CLIENT_ID)
    declined = flow.client.post(PAGE + "/fields/client_id", headers=htmx(flow.client))
    text = declined.get_data(as_text=True)
    assert "working connection?" not in text and OTHER_CLIENT_ID not in text
    assert f"Connected as <strong>{ACCOUNT}</strong>" in text
    with app.app_context():
        events = db.session.execute(db.select(AuditEvent)).scalars().all()
        assert [(event.area, event.change) for event in events] == [("connection", f"connected as {ACCOUNT}")]


def test_confirming_saves_and_the_connection_needs_a_reconnect(app, flow):
    flow.run()
    response = live_save(flow.client, "tenant", "fabrikam.onmicrosoft.com", confirmed=True)
    assert "Saved" in response.get_data(as_text=True)
    assert connection_state(app)[1] == "fabrikam.onmicrosoft.com"
    assert "Reconnect needed" in response.get_data(as_text=True)


def test_a_change_that_keeps_the_connection_does_not_ask(app, flow):
    flow.run()
    response = live_save(flow.client, "client_id", DEFAULT_CLIENT_ID.upper())
    assert "working connection?" not in response.get_data(as_text=True)
    assert connection_state(app)[0] == DEFAULT_CLIENT_ID


def test_without_a_working_connection_nothing_asks(app, admin_client):
    response = live_save(admin_client, "client_id", OTHER_CLIENT_ID)
    assert "working connection?" not in response.get_data(as_text=True)
    assert connection_state(app)[0] == OTHER_CLIENT_ID


def test_use_default_that_would_end_the_connection_asks_first(app, flow):
    live_save(flow.client, "tenant", DEFAULT_TENANT_ID)
    flow.run()
    app.config["MICROSOFT_TENANT"] = "organizations"
    asked = toggle_use_default(flow.client, "tenant", on=True).get_data(as_text=True)
    assert "Use the default Directory (tenant) ID?" in asked
    assert f"belongs to the directory {DEFAULT_TENANT_ID}" in asked
    assert connection_state(app)[1] == DEFAULT_TENANT_ID

    toggle_use_default(flow.client, "tenant", on=True, confirmed=True)
    assert connection_state(app)[1] is None
    assert "Reconnect needed" in flow.client.get(PAGE).get_data(as_text=True)


def test_save_settings_that_would_end_the_connection_asks_first(app, flow):
    flow.run()
    form = {"client_id": OTHER_CLIENT_ID, "client_secret": "New8Q~a.typed-secret_value.for-the-other", "tenant": ""}
    response = flow.client.post(PAGE, data={**form, "csrf_token": csrf_token(flow.client, PAGE)})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Save these settings and end the working connection?" in text
    assert f'value="{OTHER_CLIENT_ID}"' in text
    assert form["client_secret"] not in text
    assert connection_state(app)[0] is None
    pending = re.search(r'name="client_secret_pending" value="([^"]+)"', text).group(1)

    confirmed = {**form, "client_secret": "", "client_secret_pending": pending, "confirmed": "y"}
    response = flow.client.post(PAGE, data={**confirmed, "csrf_token": csrf_token(flow.client, PAGE)})
    assert response.status_code == 302
    assert connection_state(app)[0] == OTHER_CLIENT_ID
    with app.app_context():
        assert decrypt(db.session.get(MicrosoftSettings, 1).client_secret_encrypted) == form["client_secret"]
    assert "Reconnect needed" in flow.client.get(PAGE).get_data(as_text=True)
