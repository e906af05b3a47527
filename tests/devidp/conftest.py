"""A dev identity provider served once on a loopback port, its state reset before every test."""

import pytest
import requests

from oroflask.devidp import create_app
from oroflask.devidp.directory import DEFAULT_CLIENT_ID, DEFAULT_CONFIG, DEFAULT_TENANT_ID
from oroflask.devidp.testing import serve

FABRIKAM = "c4d2e8f1-6a3b-4e7c-9d50-8b1f2a6c3e94"
MULTI_TENANT_CLIENT = "e1b7c3d9-5f2a-4b6e-8c40-3d9a7f1e2b65"
MULTI_TENANT_SECRET = "Mtn8Q~multi.tenant.dev.secret_value_0002"
EXPIRED_SECRET = "Old8Q~this.secret.expired.long.ago_00001"
REDIRECT_URI = "http://127.0.0.1:5000/oauth/microsoft/callback"

# The defaults plus what some tests need: a second tenant, a multi-tenant app, an expired secret.
TEST_CONFIG = {
    "tenants": [
        *DEFAULT_CONFIG["tenants"],
        {"id": FABRIKAM, "name": "Fabrikam (dev)", "domains": ["fabrikam.onmicrosoft.com"]},
    ],
    "clients": [
        {
            **DEFAULT_CONFIG["clients"][0],
            "secrets": [
                *DEFAULT_CONFIG["clients"][0]["secrets"],
                {
                    "id": "7d1e9b3a-2c4f-4a8e-b6d0-5f3c1a9e7b24",
                    "value": EXPIRED_SECRET,
                    "expires": "2020-01-01",
                },
            ],
        },
        {
            "client_id": MULTI_TENANT_CLIENT,
            "name": "multi-tenant app",
            "tenant": DEFAULT_TENANT_ID,
            "multi_tenant": True,
            "secrets": [{"id": "2b8d4f6a-1c3e-4d5f-a7b9-0e2c4a6b8d13", "value": MULTI_TENANT_SECRET}],
            "redirect_uris": [REDIRECT_URI],
        },
    ],
    "users": [
        *DEFAULT_CONFIG["users"],
        {
            "email": "megan@fabrikam.onmicrosoft.com",
            "name": "Megan Bowen",
            "oid": "6f4a2c8e-9b1d-4e3f-a5c7-2d8b6e4f1a39",
            "tenant": FABRIKAM,
        },
    ],
}

assert DEFAULT_CLIENT_ID == TEST_CONFIG["clients"][0]["client_id"]


@pytest.fixture(scope="session")
def devidp_server():
    """Serve the provider with the test directory for the whole session."""
    with serve(create_app(TEST_CONFIG)) as base_url:
        yield base_url


@pytest.fixture
def http():
    """Return a requests session, closed after the test."""
    with requests.Session() as session:
        yield session


@pytest.fixture
def base_url(devidp_server, http):
    """Return the provider's base URL, its codes, tokens, knobs and counters just reset."""
    http.post(f"{devidp_server}/_devidp/reset").raise_for_status()
    return devidp_server
