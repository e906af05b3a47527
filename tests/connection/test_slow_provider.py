"""A provider that answers a byte at a time: every call to it ends when MICROSOFT_HTTP_DEADLINE
(1 s here) has passed, though each byte comes soon enough never to trip the read time-out."""

import pytest

from oroflask.connection import tokens
from oroflask.connection.service import site_grant
from oroflask.microsoft.errors import ProviderUnavailable

from .conftest import PAGE, htmx
from .stand_in import DISCOVERY, DRIBBLE_BODY, DRIBBLE_HEADERS
from .test_enable import attempts, stored_connection
from .test_tokens import expire_access_token

pytestmark = [
    pytest.mark.app_config(MICROSOFT_HTTP_DEADLINE=1),
    pytest.mark.parametrize("dribbled", [DRIBBLE_HEADERS, DRIBBLE_BODY]),
]

TOO_SLOW = "Microsoft did not answer in time"


@pytest.fixture
def slow(app, stand_in):
    """Point the application at the stand-in; return it, for the test to say what dribbles."""
    app.config["MICROSOFT_AUTHORITY"] = stand_in.authority
    return stand_in


def verify(client) -> str:
    return client.post(PAGE + "/verify", headers=htmx(client)).get_data(as_text=True)


def test_enable_fails_at_once_when_discovery_dribbles(app, flow, slow, dribbled):
    slow.answers[DISCOVERY] = dribbled
    flow.start()
    response = flow.client.get(flow.started["url"])
    assert response.status_code == 400
    assert TOO_SLOW in response.get_data(as_text=True)
    status = flow.status().get_data(as_text=True)
    assert TOO_SLOW in status and "hx-trigger" not in status
    assert [attempt.status for attempt in attempts(app)] == ["failed"]


def test_verify_says_so_when_discovery_dribbles(admin_client, slow, dribbled):
    slow.answers[DISCOVERY] = dribbled
    assert f"{TOO_SLOW}. Try again in a moment." in verify(admin_client)


def test_verify_says_so_when_the_credentials_check_dribbles(admin_client, slow, dribbled):
    slow.answers["token_endpoint"] = dribbled
    assert f"{TOO_SLOW}. Try again in a moment." in verify(admin_client)


@pytest.mark.parametrize("endpoint", ["token_endpoint", "jwks_uri"])
def test_the_callback_fails_the_attempt_when_redemption_dribbles(app, flow, slow, dribbled, endpoint):
    slow.answers[endpoint] = dribbled
    response = flow.run()
    assert response.status_code == 400
    assert TOO_SLOW in response.get_data(as_text=True)
    status = flow.status().get_data(as_text=True)
    assert TOO_SLOW in status and "hx-trigger" not in status
    assert [attempt.status for attempt in attempts(app)] == ["failed"]
    assert stored_connection(app) is None


def test_a_refresh_that_dribbles_fails_and_the_connection_stays_usable(app, flow, stand_in, dribbled):
    assert flow.run().status_code == 200
    expire_access_token(app)
    app.config["MICROSOFT_AUTHORITY"] = stand_in.authority
    stand_in.answers["token_endpoint"] = dribbled
    with app.app_context(), pytest.raises(ProviderUnavailable, match=TOO_SLOW):
        tokens.access_token(site_grant().id)
    with app.app_context():
        connection = site_grant()
        assert connection.reconnect_reason is None and connection.refresh_lease_owner is None
    page = flow.client.get(PAGE).get_data(as_text=True)
    assert "Connected as" in page and "Reconnect needed" not in page
