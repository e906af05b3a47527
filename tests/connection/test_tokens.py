"""The token service against the local identity provider: refresh, rotation, the lease, failures."""

import logging
import re
import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import update

from oroflask.connection import service, tokens
from oroflask.connection.models import MicrosoftGrant
from oroflask.database import utcnow
from oroflask.encryption import decrypt
from oroflask.extensions import db
from oroflask.microsoft.errors import MicrosoftError, ProviderUnavailable
from tests.conftest import live_save

from .conftest import ACCOUNT, PAGE, behave, stats

OTHER_CLIENT_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def connected(app, flow):
    """Authorize through the whole flow so that a real connection is stored."""
    response = flow.run()
    assert response.status_code == 200, response.get_data(as_text=True)
    return flow


def stored(app) -> dict:
    """Return the stored connection with its tokens decrypted."""
    with app.app_context():
        connection = service.site_grant()
        return {
            "access_token": decrypt(connection.access_token_encrypted),
            "refresh_token": decrypt(connection.refresh_token_encrypted),
            "access_token_expires_at": connection.access_token_expires_at,
            "connected_at": connection.connected_at,
            "refreshed_at": connection.refreshed_at,
            "reconnect_reason": connection.reconnect_reason,
            "refresh_lease_owner": connection.refresh_lease_owner,
        }


def change_connection(app, **values) -> None:
    with app.app_context():
        db.session.execute(update(MicrosoftGrant).values(**values))
        db.session.commit()


def expire_access_token(app, within: timedelta = timedelta(minutes=-1)) -> None:
    change_connection(app, access_token_expires_at=utcnow() + within)


def access_token(app) -> str:
    with app.app_context():
        return tokens.access_token(service.site_grant().id)


def refreshes(idp: str) -> int:
    return stats(idp)["token_requests"]["refresh_token"]


def introspect(idp: str, token: str) -> dict:
    return requests.post(f"{idp}/_devidp/introspect", json={"access_token": token}, timeout=5).json()


def revoke(idp: str, **body) -> None:
    response = requests.post(f"{idp}/_devidp/revoke", json=body, timeout=5)
    assert response.status_code == 200 and response.json()["revoked"] >= 1, response.text


def test_fresh_access_token_is_returned_without_a_refresh(app, connected, idp):
    before = stored(app)
    assert access_token(app) == before["access_token"]
    assert refreshes(idp) == 0
    assert stored(app)["refreshed_at"] is None


def test_token_about_to_expire_is_refreshed_and_the_rotated_refresh_token_stored(app, connected, idp):
    expire_access_token(app, within=timedelta(minutes=4))
    before = stored(app)

    token = access_token(app)

    after = stored(app)
    assert token != before["access_token"]
    assert token == after["access_token"]
    live = introspect(idp, token)
    assert live["active"] is True and live["email"] == ACCOUNT
    assert after["refresh_token"] and after["refresh_token"] != before["refresh_token"]
    assert after["access_token_expires_at"] > before["access_token_expires_at"] + timedelta(minutes=30)
    assert after["refreshed_at"] is not None and after["refreshed_at"] > utcnow() - timedelta(minutes=1)
    assert after["reconnect_reason"] is None and after["refresh_lease_owner"] is None
    assert refreshes(idp) == 1


def test_simultaneous_callers_share_one_refresh(app, connected, idp):
    expire_access_token(app)
    before = stored(app)
    behave(idp, token_delay=0.5)
    workers = 6
    start = threading.Barrier(workers)
    results: list[str] = []
    failures: list[BaseException] = []

    def call() -> None:
        with app.app_context():
            start.wait()
            try:
                results.append(tokens.access_token(service.site_grant().id))
            except BaseException as error:  # reported by the assertion below
                failures.append(error)

    threads = [threading.Thread(target=call) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not failures, failures
    assert len(results) == workers and len(set(results)) == 1
    assert results[0] != before["access_token"] and results[0] == stored(app)["access_token"]
    assert introspect(idp, results[0])["active"] is True
    assert refreshes(idp) == 1
    assert stored(app)["refresh_lease_owner"] is None


def test_revoked_grant_needs_a_reconnect(app, connected, idp):
    revoke(idp, email=ACCOUNT)
    expire_access_token(app)

    with pytest.raises(MicrosoftError) as raised:
        access_token(app)
    assert raised.value.code == 50173
    reason = stored(app)["reconnect_reason"]
    assert "revoked" in reason and "AADSTS50173" in reason

    with pytest.raises(tokens.ReconnectNeeded):
        access_token(app)
    assert refreshes(idp) == 1

    page = connected.client.get(PAGE).get_data(as_text=True)
    assert "<strong>Reconnect needed</strong>" in page
    assert "The authorization was revoked" in page and "AADSTS50173" in page
    assert re.search(r'<button[^>]*id="enable"[^>]*>Reconnect</button>', page, re.S)


def test_grant_expired_by_inactivity_needs_a_reconnect(app, connected, idp):
    revoke(idp, email=ACCOUNT, expire=True)
    expire_access_token(app)

    with pytest.raises(MicrosoftError) as raised:
        access_token(app)
    assert raised.value.code == 700082
    assert "AADSTS700082" in stored(app)["reconnect_reason"]
    with pytest.raises(tokens.ReconnectNeeded):
        access_token(app)
    assert refreshes(idp) == 1


@pytest.mark.parametrize("knob", [{"token_status": 503}, {"token_delay": 3}], ids=["503", "slow"])
def test_passing_failure_keeps_the_connection(app, connected, idp, knob):
    expire_access_token(app)
    before = stored(app)
    behave(idp, **knob)

    with pytest.raises(ProviderUnavailable):
        access_token(app)
    failed = stored(app)
    assert failed["reconnect_reason"] is None
    assert failed["refresh_token"] == before["refresh_token"]
    assert failed["refresh_lease_owner"] is None

    behave(idp, **dict.fromkeys(knob))
    token = access_token(app)
    assert token != before["access_token"] and introspect(idp, token)["active"] is True
    assert stored(app)["reconnect_reason"] is None


def test_cli_refreshes_an_idle_connection(app, connected, idp, runner):
    change_connection(app, connected_at=utcnow() - timedelta(days=40), refreshed_at=None)
    before = stored(app)

    result = runner.invoke(args=["refresh-tokens"])

    assert result.exit_code == 0, result.output
    assert f"{ACCOUNT}: refreshed" in result.output
    assert refreshes(idp) == 1
    after = stored(app)
    assert after["refresh_token"] != before["refresh_token"] and after["refreshed_at"] is not None


def test_cli_leaves_a_fresh_connection_alone(app, connected, idp, runner):
    result = runner.invoke(args=["refresh-tokens"])

    assert result.exit_code == 0, result.output
    assert "refreshed" not in result.output
    assert refreshes(idp) == 0
    assert stored(app)["refreshed_at"] is None


def test_cli_reports_a_revoked_connection(app, connected, idp, runner):
    revoke(idp, email=ACCOUNT)

    result = runner.invoke(args=["refresh-tokens", "--idle-days", "0"])

    assert result.exit_code == 1
    assert f"{ACCOUNT}: reconnect needed" in result.output and "AADSTS50173" in result.output
    assert "AADSTS50173" in stored(app)["reconnect_reason"]


def test_no_token_reaches_the_log(app, connected, idp, caplog):
    expire_access_token(app)
    before = stored(app)
    caplog.set_level(logging.DEBUG)

    access_token(app)

    after = stored(app)
    assert "Refreshed the Microsoft grant" in caplog.text
    for token in (before["access_token"], before["refresh_token"], after["access_token"], after["refresh_token"]):
        assert token not in caplog.text
        assert not any(token in str(record.args) for record in caplog.records)


def test_changed_client_id_needs_a_reconnect_without_asking_microsoft(app, connected, idp):
    expire_access_token(app)
    response = live_save(connected.client, "client_id", OTHER_CLIENT_ID, confirmed=True)
    assert response.status_code == 200, response.get_data(as_text=True)

    with pytest.raises(tokens.ReconnectNeeded, match="Client"):
        access_token(app)
    assert refreshes(idp) == 0
    assert stored(app)["reconnect_reason"] is None
