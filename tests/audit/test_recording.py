"""The record of setting changes: who, when, which field; a secret only as changed."""

from datetime import datetime, timedelta, timezone

import pytest

from ..conftest import (
    ADMIN_EMAIL,
    CLIENT_ID,
    CLIENT_SECRET,
    DEFAULTS,
    TENANT,
    live_save,
    recorded_changes,
    save_settings,
    toggle_use_default,
)


def summary(app) -> list[tuple[str, str, str]]:
    return [(change.actor_email, change.subject, change.change) for change in recorded_changes(app)]


def test_save_settings_records_each_changed_field(admin_client, app):
    before = datetime.now(timezone.utc)
    save_settings(admin_client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant=TENANT)
    assert summary(app) == [
        (ADMIN_EMAIL, "client_id", f"set to {CLIENT_ID}"),
        (ADMIN_EMAIL, "client_secret", "changed"),
        (ADMIN_EMAIL, "tenant", f"set to {TENANT}"),
    ]
    for change in recorded_changes(app):
        assert change.actor_id is not None
        assert before <= change.at <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_the_secret_is_recorded_only_as_changed(admin_client, app):
    live_save(admin_client, "client_secret", CLIENT_SECRET)
    live_save(admin_client, "client_secret", "New8Q~another.secret_value-123")
    assert summary(app) == [
        (ADMIN_EMAIL, "client_secret", "changed"),
        (ADMIN_EMAIL, "client_secret", "changed"),
    ]
    for change in recorded_changes(app):
        assert CLIENT_SECRET not in change.change
        assert "another.secret" not in change.change


def test_a_live_save_records_its_one_field(admin_client, app):
    live_save(admin_client, "tenant", "Common")
    assert summary(app) == [(ADMIN_EMAIL, "tenant", "set to common")]


def test_nothing_is_recorded_when_nothing_changed(admin_client, app):
    save_settings(admin_client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant=TENANT)
    recorded = len(recorded_changes(app))
    save_settings(admin_client, client_id=CLIENT_ID.upper(), tenant=TENANT)
    live_save(admin_client, "tenant", TENANT)
    live_save(admin_client, "client_secret", "")
    live_save(admin_client, "client_secret", CLIENT_SECRET)
    toggle_use_default(admin_client, "client_id", on=False)
    assert len(recorded_changes(app)) == recorded


def test_nothing_is_recorded_for_a_refused_save(admin_client, app):
    save_settings(admin_client, client_id=CLIENT_ID, tenant="contoso")
    live_save(admin_client, "client_id", "not a guid")
    assert recorded_changes(app) == []


@pytest.mark.app_config(**DEFAULTS)
def test_use_default_toggles_are_recorded(admin_client, app):
    toggle_use_default(admin_client, "tenant", on=False)
    toggle_use_default(admin_client, "tenant", on=True)
    toggle_use_default(admin_client, "client_secret", on=False)
    assert summary(app) == [
        (ADMIN_EMAIL, "tenant", f"set to {DEFAULTS['MICROSOFT_TENANT']}"),
        (ADMIN_EMAIL, "tenant", "reset to default"),
        (ADMIN_EMAIL, "client_secret", "changed"),
    ]
