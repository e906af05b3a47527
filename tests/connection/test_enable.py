"""Enable end to end: the Flask test client against the local identity provider over HTTP."""

import base64
import hashlib
import json
import logging
import zlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous.encoding import base64_decode
from sqlalchemy import select, update

from oroflask.connection.models import AuthorizationAttempt, MicrosoftGrant
from oroflask.connection.service import site_grant
from oroflask.database import utcnow
from oroflask.devidp.directory import DEFAULT_SECRET_VALUE
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.microsoft import identity
from oroflask.settings.models import MicrosoftSettings

from ..conftest import csrf_token, make_user, sign_in
from .conftest import ACCOUNT, CALLBACK, PAGE, START, behave, htmx, stats
from .stand_in import Answer


def stored_connection(app) -> MicrosoftGrant | None:
    with app.app_context():
        connection = site_grant()
        if connection is not None:
            db.session.expunge(connection)
        return connection


def attempts(app) -> list[AuthorizationAttempt]:
    with app.app_context():
        rows = list(db.session.execute(select(AuthorizationAttempt)).scalars())
        for row in rows:
            db.session.expunge(row)
        return rows


def test_the_status_poll_answers_only_the_admin_who_clicked_enable(app, flow, idp):
    flow.run()
    assert ACCOUNT in flow.status().get_data(as_text=True)
    make_user(app, "second-admin@example.com", "admin")
    other = app.test_client()
    assert sign_in(other, "second-admin@example.com").status_code == 302
    answer = other.get(flow.status_url, headers=htmx(other))
    assert answer.status_code == 404
    assert ACCOUNT not in answer.get_data(as_text=True)
    unknown = flow.client.get(flow.status_url.rsplit("/", 1)[0] + "/no-such-attempt", headers=htmx(flow.client))
    assert unknown.status_code == 404


def test_enable_connects_and_reports_success(app, flow, idp):
    flow.start()
    pending = flow.status().get_data(as_text=True)
    assert "Waiting for Microsoft" in pending and 'hx-trigger="every 2s"' in pending

    flow.begin()
    query = parse_qs(urlsplit(flow.authorize_url).query)
    assert query["response_type"] == ["code"]
    assert query["response_mode"] == ["query"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [CALLBACK]
    assert query["nonce"][0] and query["state"][0]
    assert set(query["scope"][0].split()) == {
        "openid", "profile", "email", "offline_access",
        "https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send",
    }

    flow.approve()
    popup = flow.callback()
    assert popup.status_code == 200
    assert f"Authorization succeeded: connected as {ACCOUNT}" in popup.get_data(as_text=True)

    finished = flow.status().get_data(as_text=True)
    assert f"Authorization succeeded: connected as {ACCOUNT}" in finished
    assert "hx-trigger" not in finished.split('id="field-enable"')[0]

    connection = stored_connection(app)
    assert connection.account == ACCOUNT
    assert connection.tenant_id and connection.object_id
    assert "https://outlook.office.com/SMTP.Send" in connection.scopes
    with app.app_context():
        access = decrypt(connection.access_token_encrypted)
        assert access and access not in connection.access_token_encrypted
        assert decrypt(connection.refresh_token_encrypted)
        assert db.session.get(MicrosoftSettings, 1).emails_sync_enabled

    page = flow.client.get(PAGE).get_data(as_text=True)
    assert f"Connected as <strong>{ACCOUNT}</strong>" in page
    assert "Emails sync is on" in page
    assert stats(idp)["token_requests"]["authorization_code"] == 1


def test_cancel_shows_an_explained_error(app, flow):
    popup = flow.run(action="cancel")
    assert popup.status_code == 400
    text = flow.status().get_data(as_text=True)
    assert "The sign-in was cancelled or the permissions were declined" in text or "declined" in text
    assert 'hx-trigger' not in text
    assert stored_connection(app) is None


def test_tampered_state_is_refused(app, flow):
    flow.start()
    flow.begin()
    location = flow.approve()
    tampered = location.replace("state=", "state=x")
    response = flow.callback(tampered)
    assert response.status_code == 400
    assert "belongs to no authorization started here" in response.get_data(as_text=True)
    assert stored_connection(app) is None
    assert attempts(app)[0].status == "pending"


def test_replayed_callback_is_refused(app, flow):
    assert flow.run().status_code == 200
    again = flow.callback()
    assert again.status_code == 400
    assert "already used" in again.get_data(as_text=True)


def test_callback_from_another_session_is_refused(app, flow, client, idp):
    flow.start()
    flow.begin()
    location = flow.approve()
    other = app.test_client()
    sign_in(other, "admin@example.com")
    response = other.get(location.replace("http://localhost", ""))
    assert response.status_code == 400
    assert "started from another browser session" in response.get_data(as_text=True)
    assert stored_connection(app) is None
    assert attempts(app)[0].status == "pending"
    assert f"Authorization succeeded: connected as {ACCOUNT}" in flow.callback().get_data(as_text=True)


def session_cookie_text(client) -> str:
    """Return the session cookie as anyone who holds it can read it, without the key."""
    value = client.get_cookie("session").value
    payload = value.removeprefix(".").split(".")[0]
    data = base64_decode(payload)
    return (zlib.decompress(data) if value.startswith(".") else data).decode()


def stored_verifier_and_nonce(app) -> tuple[str, str]:
    [attempt] = [row for row in attempts(app) if row.code_verifier_encrypted]
    with app.app_context():
        return decrypt(attempt.code_verifier_encrypted), decrypt(attempt.nonce_encrypted)


def test_the_verifier_and_the_nonce_stay_on_the_server_encrypted(app, flow):
    flow.start()
    flow.begin()
    query = parse_qs(urlsplit(flow.authorize_url).query)
    cookie = session_cookie_text(flow.client)
    assert "_user_id" in cookie  # the decoding works: the signed-in session is there
    assert query["nonce"][0] not in cookie and "code_verifier" not in cookie

    verifier, nonce = stored_verifier_and_nonce(app)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == [challenge] and query["nonce"] == [nonce]
    assert verifier not in cookie
    [attempt] = attempts(app)
    for secret in (verifier, nonce):
        assert secret not in attempt.code_verifier_encrypted + attempt.nonce_encrypted

    flow.approve()
    assert f"Authorization succeeded: connected as {ACCOUNT}" in flow.callback().get_data(as_text=True)
    [attempt] = attempts(app)
    assert attempt.code_verifier_encrypted is None and attempt.nonce_encrypted is None


def test_expired_attempt_stops_polling(app, flow):
    flow.start()
    flow.begin()
    flow.approve()
    with app.app_context():
        db.session.execute(update(AuthorizationAttempt).values(created_at=utcnow() - timedelta(minutes=11)))
        db.session.commit()
    text = flow.status().get_data(as_text=True)
    assert "longer than 10 minutes" in text and "hx-trigger" not in text
    response = flow.callback()
    assert "longer than 10 minutes" in response.get_data(as_text=True)
    assert stored_connection(app) is None


def test_closed_popup_stops_polling(app, flow):
    flow.start()
    response = flow.client.post(flow.started["closedUrl"], headers=htmx(flow.client))
    text = response.get_data(as_text=True)
    assert "window was closed" in text and "hx-trigger" not in text


@pytest.mark.parametrize("tamper", ["nonce", "issuer", "audience", "signature", "expired"])
def test_id_token_that_fails_a_check_is_refused(app, flow, idp, tamper):
    behave(idp, id_token=tamper)
    response = flow.run()
    assert response.status_code == 400
    assert "failed a security check" in response.get_data(as_text=True)
    assert stored_connection(app) is None


def test_code_redeemed_twice_is_explained(app, flow, idp):
    import requests

    flow.start()
    flow.begin()
    location = flow.approve()
    code = parse_qs(urlsplit(location).query)["code"][0]
    verifier = stored_verifier_and_nonce(app)[0]
    from oroflask.devidp.directory import DEFAULT_CLIENT_ID, DEFAULT_SECRET_VALUE, DEFAULT_TENANT_ID

    first = requests.post(
        f"{idp}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": CALLBACK, "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_SECRET_VALUE,
        },
        timeout=5,
    )
    assert first.status_code == 200
    response = flow.callback()
    text = response.get_data(as_text=True)
    assert "This authorization was already used" in text and "AADSTS54005" in text
    assert stored_connection(app) is None


def test_wrong_secret_is_explained_with_trace_ids(app, flow, config):
    with app.app_context():
        settings = db.session.get(MicrosoftSettings, 1)
        from oroflask.encryption import encrypt

        settings.client_secret_encrypted = encrypt("Wrong~secret.value")
        db.session.commit()
    response = flow.run()
    text = response.get_data(as_text=True)
    assert "The client secret is wrong" in text and "AADSTS7000215" in text
    assert "Trace ID" in text
    assert "Wrong~secret.value" not in text


def test_slow_provider_fails_cleanly(app, flow, idp):
    behave(idp, token_delay=3)
    response = flow.run()
    assert response.status_code == 400
    assert "did not answer in time" in response.get_data(as_text=True)


def test_provider_server_error_fails_cleanly(app, flow, idp):
    behave(idp, token_status=503)
    response = flow.run()
    assert response.status_code == 400
    assert "503" in response.get_data(as_text=True)


def test_provider_down_fails_cleanly(app, flow, config):
    app.config["MICROSOFT_AUTHORITY"] = "http://127.0.0.1:9"
    flow.start()
    response = flow.client.get(flow.started["url"])
    assert response.status_code == 400
    assert "could not be reached" in response.get_data(as_text=True)


def test_missing_scopes_are_reported(app, flow, idp):
    behave(idp, granted_scopes="openid profile email offline_access https://outlook.office.com/IMAP.AccessAsUser.All")
    response = flow.run()
    text = response.get_data(as_text=True)
    assert "fewer permissions than needed" in text and "SMTP.Send" in text
    assert stored_connection(app) is None


def test_redirect_uri_mismatch_names_the_uri_to_register(app, flow, idp):
    behave(idp, authorize_error={"error": "invalid_request", "code": 50011, "description": "The redirect URI does not match"})
    response = flow.run()
    text = response.get_data(as_text=True)
    assert "AADSTS50011" in text and CALLBACK in text


def test_enable_without_settings_says_what_is_missing(app, admin_client, config):
    app.config["MICROSOFT_CLIENT_SECRET"] = ""
    response = admin_client.post(START, headers=htmx(admin_client))
    assert response.status_code == 422
    assert "Client Secret" in response.get_data(as_text=True)


def test_plain_authority_is_refused_for_a_remote_host(app, admin_client):
    app.config["MICROSOFT_AUTHORITY"] = "http://login.example.com"
    response = admin_client.post(START, headers=htmx(admin_client))
    assert response.status_code == 422
    assert "https://" in response.get_data(as_text=True)


@pytest.fixture
def multi_tenant_idp():
    """A provider whose application accepts accounts of any directory."""
    from oroflask.devidp import create_app as create_identity_provider
    from oroflask.devidp.directory import DEFAULT_SECRET_ID, DEFAULT_SECRET_VALUE, DEFAULT_TENANT_ID
    from oroflask.devidp.testing import serve

    client = {
        "client_id": "22222222-3333-4444-5555-666666666666",
        "tenant": DEFAULT_TENANT_ID,
        "multi_tenant": True,
        "secrets": [{"id": DEFAULT_SECRET_ID, "value": DEFAULT_SECRET_VALUE, "expires": "2099-01-01"}],
        "redirect_uris": [CALLBACK],
    }
    with serve(create_identity_provider({"clients": [client]})) as base_url:
        yield base_url


@pytest.mark.parametrize("tenant", ["organizations", "common"])
def test_multi_tenant_issuer_is_checked_against_the_tokens_tenant(app, admin_client, multi_tenant_idp, tenant):
    from .conftest import Flow

    app.config.update(
        MICROSOFT_AUTHORITY=multi_tenant_idp,
        MICROSOFT_CLIENT_ID="22222222-3333-4444-5555-666666666666",
        MICROSOFT_TENANT=tenant,
    )
    flow = Flow(admin_client, multi_tenant_idp)
    response = flow.run()
    assert f"Authorization succeeded: connected as {ACCOUNT}" in response.get_data(as_text=True)
    connection = stored_connection(app)
    assert connection.tenant == tenant and connection.tenant_id != tenant


def test_multi_tenant_wrong_issuer_is_refused(app, admin_client, multi_tenant_idp):
    from .conftest import Flow

    app.config.update(
        MICROSOFT_AUTHORITY=multi_tenant_idp,
        MICROSOFT_CLIENT_ID="22222222-3333-4444-5555-666666666666",
        MICROSOFT_TENANT="organizations",
    )
    behave(multi_tenant_idp, id_token="issuer")
    response = Flow(admin_client, multi_tenant_idp).run()
    assert "failed a security check" in response.get_data(as_text=True)
    assert stored_connection(app) is None


def test_opening_the_sign_in_twice_is_refused(app, flow):
    flow.start()
    flow.begin()
    again = flow.client.get(flow.started["url"])
    assert again.status_code == 400
    assert "already opened in another window" in again.get_data(as_text=True)


@pytest.mark.app_config(LOG_LEVEL="DEBUG")
def test_at_debug_level_no_code_verifier_state_or_token_is_logged(app, flow, caplog, capsys):
    with caplog.at_level(logging.DEBUG):
        flow.start()
        flow.begin()
        verifier, nonce = stored_verifier_and_nonce(app)
        query = parse_qs(urlsplit(flow.approve()).query)
        assert flow.callback().status_code == 200
    connection = stored_connection(app)
    with app.app_context():
        tokens = [decrypt(connection.access_token_encrypted), decrypt(connection.refresh_token_encrypted)]
    written = caplog.text + capsys.readouterr().err
    assert f"Microsoft connected as {ACCOUNT}" in written
    for secret in (verifier, nonce, query["code"][0], query["state"][0], *tokens, DEFAULT_SECRET_VALUE):
        assert secret not in written


def test_abandoned_sign_ins_do_not_grow_the_session(app, flow):
    for _ in range(6):
        flow.start()
        flow.begin()
    with flow.client.session_transaction() as session:
        kept = {key: value for key, value in session.items() if "microsoft" in key}
    assert kept == {"microsoft_sign_in": flow.started["url"].split("/")[-2]}
    flow.approve()
    assert f"Authorization succeeded: connected as {ACCOUNT}" in flow.callback().get_data(as_text=True)


def test_a_replaced_sign_in_is_refused(app, flow):
    flow.start()
    flow.begin()
    first = flow.approve()
    flow.start()
    flow.begin()
    response = flow.callback(first)
    assert response.status_code == 400
    assert "a newer one replaced it" in response.get_data(as_text=True)


def test_an_answer_with_neither_code_nor_error_fails_the_attempt_at_once(app, flow):
    flow.start()
    flow.begin()
    state = parse_qs(urlsplit(flow.approve()).query)["state"][0]
    response = flow.callback(f"{CALLBACK}?state={state}")
    assert response.status_code == 400
    assert "carries neither an authorization code nor an error" in response.get_data(as_text=True)
    status = flow.status().get_data(as_text=True)
    assert "Microsoft&#39;s answer could not be used" in status and "hx-trigger" not in status
    assert [attempt.status for attempt in attempts(app)] == ["failed"]


TOKEN = {"access_token": "an-access-token", "token_type": "Bearer", "expires_in": 3600}


SECURITY_CHECK = "Microsoft&#39;s answer failed a security check."
UNUSABLE = "Microsoft&#39;s answer could not be used."


@pytest.mark.parametrize(
    "endpoint, answer, title, reason",
    [
        ("token_endpoint", Answer(200, {**TOKEN, "id_token": "not-a-jwt"}), SECURITY_CHECK, "(DecodeError)"),
        ("token_endpoint", Answer(200, {**TOKEN, "id_token": "e30.e30.e30"}), SECURITY_CHECK, "(MissingAlgorithmError)"),
        ("token_endpoint", Answer(200, TOKEN), SECURITY_CHECK, "Microsoft returned no id_token"),
        ("token_endpoint", Answer(200, ["not", "an", "object"]), "Microsoft answered with unexpected JSON.", ""),
        ("jwks_uri", Answer(200, {"keys": [{"kty": "nonsense"}]}), SECURITY_CHECK, "(MissingKeyError)"),
        ("jwks_uri", Answer(200, ["not", "an", "object"]), UNUSABLE, "malformed (TypeError)"),
        ("jwks_uri", Answer(500, {"error": "server_error"}), "Microsoft answered HTTP 500.", ""),
    ],
)
def test_a_malformed_answer_fails_the_attempt_with_its_reason(app, flow, stand_in, endpoint, answer, title, reason):
    app.config["MICROSOFT_AUTHORITY"] = stand_in.authority
    stand_in.answers[endpoint] = answer
    response = flow.run()
    assert response.status_code == 400
    status = flow.status().get_data(as_text=True)
    assert f"<strong>{title}</strong>" in status and reason in status
    assert "hx-trigger" not in status
    assert [attempt.status for attempt in attempts(app)] == ["failed"]
    assert stored_connection(app) is None


def test_an_unexpected_error_during_redemption_still_ends_the_attempt(app, flow, monkeypatch):
    def fails_unexpectedly(*args, **kwargs):
        raise RuntimeError("an error nobody foresaw")

    monkeypatch.setattr(identity, "complete_authorization", fails_unexpectedly)
    response = flow.run()
    assert response.status_code == 500
    assert "an error nobody foresaw" not in response.get_data(as_text=True)
    status = flow.status().get_data(as_text=True)
    assert "The authorization could not be completed" in status and "hx-trigger" not in status
    assert [attempt.status for attempt in attempts(app)] == ["failed"]
def test_answers_about_an_older_attempt_show_the_newest_one(app, flow):
    flow.start()
    first = dict(flow.started, status_url=flow.status_url)
    flow.start()
    second_status_url = flow.status_url

    waiting = flow.client.get(first["status_url"], headers=htmx(flow.client)).get_data(as_text=True)
    assert f'hx-get="{second_status_url}"' in waiting

    flow.begin()
    flow.approve()
    flow.callback()
    closed = flow.client.post(first["closedUrl"], headers=htmx(flow.client)).get_data(as_text=True)
    assert f"Authorization succeeded: connected as {ACCOUNT}" in closed
    assert "window was closed" not in closed
    polled = flow.client.get(first["status_url"], headers=htmx(flow.client)).get_data(as_text=True)
    assert f"Authorization succeeded: connected as {ACCOUNT}" in polled
    assert [attempt.status for attempt in sorted(attempts(app), key=lambda a: a.created_at)] == [
        "closed",
        "succeeded",
    ]


OTHER_CLIENT_ID = "11111111-2222-3333-4444-555555555555"


def test_enable_saves_and_uses_the_settings_the_page_shows(app, flow):
    response = flow.client.post(START, data={"client_id": OTHER_CLIENT_ID}, headers=htmx(flow.client))
    assert response.status_code == 200
    [attempt] = attempts(app)
    assert attempt.client_id == OTHER_CLIENT_ID
    with app.app_context():
        assert db.session.get(MicrosoftSettings, 1).client_id == OTHER_CLIENT_ID
    flow.started = json.loads(response.headers["HX-Trigger"])["authorization-started"]
    flow.begin()
    assert parse_qs(urlsplit(flow.authorize_url).query)["client_id"] == [OTHER_CLIENT_ID]


@pytest.mark.parametrize(
    "shown, field, explanation",
    [
        ({"client_id": "not-a-guid"}, "client_id", "The Application (Client) ID is a GUID"),
        ({"client_secret_expires_on": "2027-02-30"}, "client_secret_expires_on", "Enter the date as YYYY-MM-DD"),
    ],
)
def test_enable_with_a_refused_setting_starts_nothing_and_marks_the_field(app, flow, shown, field, explanation):
    response = flow.client.post(START, data=shown, headers=htmx(flow.client))
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Nothing was started: correct the marked settings." in text
    assert f'id="field-{field}" hx-swap-oob="true"' in text
    assert explanation in text
    assert attempts(app) == []
    with app.app_context():
        settings = db.session.get(MicrosoftSettings, 1)
        assert settings is None or (settings.client_id, settings.client_secret_expires_on) == (None, None)


def test_enable_without_javascript_with_a_refused_setting_shows_the_page(app, flow):
    response = flow.client.post(
        START, data={"client_id": "not-a-guid", "csrf_token": csrf_token(flow.client, PAGE)}
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "<h1>Microsoft Settings</h1>" in text and "The Application (Client) ID is a GUID" in text
    assert 'value="not-a-guid"' in text
    assert attempts(app) == []


def test_verify_checks_the_settings_the_page_shows_without_saving_them(app, flow):
    text = flow.client.post(
        PAGE + "/verify", data={"client_secret": "Wrong~secret.value.that-is-long-enough"}, headers=htmx(flow.client)
    ).get_data(as_text=True)
    assert 'id="field-client_secret" hx-swap-oob="true"' in text
    assert "The client secret is wrong (AADSTS7000215)" in text
    with app.app_context():
        settings = db.session.get(MicrosoftSettings, 1)
        assert settings is None or settings.client_secret_encrypted is None


def test_verify_with_a_refused_setting_checks_nothing(app, flow):
    response = flow.client.post(PAGE + "/verify", data={"tenant": "contoso"}, headers={**htmx(flow.client), "HX-Target": "verify-result"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert '<div id="verify-result" class="verify-result"><div class="alert alert-error">Nothing was checked' in text
    assert 'id="field-tenant" hx-swap-oob="true"' in text
