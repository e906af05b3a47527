"""Fixtures for Enable: the local identity provider on a loopback port, and the app pointed at it."""

import json
from urllib.parse import urlsplit

import pytest
import requests

from oroflask.devidp import create_app as create_identity_provider
from oroflask.devidp.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_VALUE,
    DEFAULT_TENANT_ID,
)
from oroflask.devidp.testing import serve
from tests.conftest import csrf_token
from tests.dovecot.fixtures import identity_provider_settings

from .stand_in import StandIn

PAGE = "/admin/config/integrations/microsoft"
START = PAGE + "/authorization"
CALLBACK = "http://localhost/oauth/microsoft/callback"
ACCOUNT = "adele@contoso.onmicrosoft.com"


@pytest.fixture
def idp():
    """Serve the identity provider over HTTP on loopback; yield its base URL."""
    config = {
        "clients": [
            {
                "client_id": DEFAULT_CLIENT_ID,
                "tenant": DEFAULT_TENANT_ID,
                "secrets": [{"id": DEFAULT_SECRET_ID, "value": DEFAULT_SECRET_VALUE, "expires": "2099-01-01"}],
                "redirect_uris": [CALLBACK],
            },
            {
                "client_id": "11111111-2222-3333-4444-555555555555",
                "tenant": DEFAULT_TENANT_ID,
                "secrets": [{"id": "11111111-0000-0000-0000-000000000001", "value": "Old~secret.value", "expires": "2001-01-01"}],
                "redirect_uris": [CALLBACK],
            },
        ],
    }
    with serve(create_identity_provider(config)) as base_url:
        yield base_url


@pytest.fixture
def config(config, idp):
    config.update(identity_provider_settings(idp))
    return config


@pytest.fixture
def stand_in(idp):
    """Serve a stand-in for some of the provider's endpoints (see stand_in.py); yield it."""
    server = StandIn(idp).start()
    yield server
    server.stop()


def behave(idp: str, **knobs) -> None:
    """Set knobs of the identity provider (token_delay, token_status, id_token, ...)."""
    response = requests.post(f"{idp}/_devidp/behaviour", json=knobs, timeout=5)
    assert response.status_code == 200, response.text


def stats(idp: str) -> dict:
    return requests.get(f"{idp}/_devidp/stats", timeout=5).json()


def htmx(client) -> dict:
    """Return the headers htmx sends from the settings page."""
    return {
        "HX-Request": "true",
        "HX-Current-URL": "http://localhost" + PAGE,
        "X-CSRFToken": csrf_token(client, PAGE),
    }


class Flow:
    """An admin clicking Enable, the popup going to the provider, the provider answering."""

    def __init__(self, client, idp):
        self.client = client
        self.idp = idp

    def start(self):
        response = self.client.post(START, headers=htmx(self.client))
        assert response.status_code == 200, response.get_data(as_text=True)
        self.started = json.loads(response.headers["HX-Trigger"])["authorization-started"]
        self.status_url = self._status_url(response.get_data(as_text=True))
        return response

    def begin(self):
        response = self.client.get(self.started["url"])
        assert response.status_code == 302, response.get_data(as_text=True)
        self.authorize_url = response.headers["Location"]
        return response

    def approve(self, action: str = "accept", email: str | None = None) -> str:
        body = {"authorize_url": self.authorize_url, "action": action}
        if email:
            body["email"] = email
        answer = requests.post(f"{self.idp}/_devidp/approve", json=body, timeout=5)
        assert answer.status_code == 200, answer.text
        self.location = answer.json()["location"]
        return self.location

    def callback(self, location: str | None = None):
        parts = urlsplit(location or self.location)
        return self.client.get(f"{parts.path}?{parts.query}")

    def status(self):
        return self.client.get(self.status_url, headers=htmx(self.client))

    def run(self, action: str = "accept"):
        """Go through the whole flow; return the callback's response."""
        self.start()
        self.begin()
        self.approve(action)
        return self.callback()

    @staticmethod
    def _status_url(fragment: str) -> str:
        marker = 'hx-get="'
        start = fragment.index(marker) + len(marker)
        return fragment[start : fragment.index('"', start)]


@pytest.fixture
def flow(admin_client, idp):
    return Flow(admin_client, idp)
