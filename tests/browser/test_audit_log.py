"""System › Audit log in Chromium: Show older appends rows in place, a filter updates the table,
and without JavaScript the plain links page through."""

from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from oroflask.audit.models import AuditEvent
from oroflask.extensions import db

from .harness import ADMIN, settled

AUDIT_LOG = "/admin/audit"
ROWS = "tr[id^='event-']"
NO_JAVASCRIPT = pytest.mark.parametrize("context_options", [{"java_script_enabled": False}], ids=["no-js"])


def record(live, count: int, *, actor_email: str = ADMIN, area: str = "settings", subject: str = "tenant",
           day: int = 2) -> None:
    """Write `count` events into the log of the live app, numbered in their change."""
    with live.app.app_context():
        db.session.add_all(
            AuditEvent(
                at=datetime(2026, 11, day, 9, tzinfo=timezone.utc),
                actor_email=actor_email,
                area=area,
                subject=subject,
                change=f"set to value {number}",
            )
            for number in range(1, count + 1)
        )
        db.session.commit()


def open_audit_log(page) -> None:
    """Go from Microsoft Settings to the audit log through the System Configuration tree."""
    page.get_by_role("navigation", name="System Configuration").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    # htmx is a deferred script: a filter changed before it set up would go unnoticed.
    page.wait_for_load_state()


def remember_this_document(page) -> None:
    page.evaluate("() => { window.sameDocument = true; }")


def still_the_same_document(page) -> bool:
    return page.evaluate("() => window.sameDocument === true")


@pytest.mark.every_width
def test_show_older_appends_the_next_rows_in_place(admin_page, live, check_accessibility):
    # The oldest event has the longest e-mail and subject there can be: they wrap, the page does not widen.
    record(live, 1, actor_email="a" * 120 + "@" + "b" * 120 + ".example", subject="s" * 254, day=1)
    record(live, 70)
    page = admin_page
    open_audit_log(page)
    rows = page.locator(ROWS)
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("set to value 70")
    check_accessibility(page, "the audit log")
    remember_this_document(page)

    page.get_by_role("link", name="Show older").click()
    expect(rows).to_have_count(71)
    expect(rows.last).to_contain_text("s" * 254)
    expect(page.get_by_role("link", name="Show older")).to_have_count(0)
    expect(rows.nth(50)).to_be_focused()
    assert still_the_same_document(page)
    assert page.url == live.address(AUDIT_LOG)
    changes = [text.strip() for text in page.locator(f"{ROWS} td:last-child").all_inner_texts()]
    assert changes == [f"set to value {number}" for number in range(70, 0, -1)] + ["set to value 1"]
    check_accessibility(page, "the audit log after Show older")


@pytest.mark.every_width
@pytest.mark.expected_failed_responses(422)
def test_a_filter_updates_the_table(admin_page, live, check_accessibility):
    record(live, 3)
    record(live, 2, actor_email="", area="sign-in", subject="an unknown account", day=3)
    page = admin_page
    open_audit_log(page)
    rows = page.locator(ROWS)
    expect(rows).to_have_count(5)
    remember_this_document(page)

    page.get_by_label("Area").focus()
    page.get_by_label("Area").select_option(label="Sign-in")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Nobody signed in")
    expect(page.locator("#live-status")).to_have_text("2 events match these filters.")
    expect(page).to_have_url(live.address(AUDIT_LOG + "?account=&area=sign-in&since=&until="))
    expect(page.get_by_label("Area")).to_be_focused()

    page.get_by_label("Area").select_option(label="All areas")
    page.get_by_label("From").fill("2026-11-04")
    expect(page.locator(".empty-state")).to_have_text("Nothing recorded matches these filters. Clear the filters")
    expect(rows).to_have_count(0)
    check_accessibility(page, "no event matching the filters")

    page.get_by_label("From").fill("2026-11-02")
    page.get_by_label("To").fill("2026-11-01")
    error = page.locator("#until-error")
    expect(error).to_have_text("The end date is before the start date.")
    expect(page.get_by_label("To")).to_have_attribute("aria-invalid", "true")
    expect(rows).to_have_count(0)
    check_accessibility(page, "a refused date")

    page.get_by_label("To").fill("2026-11-02")
    expect(rows).to_have_count(3)
    expect(error).to_have_text("")
    expect(page.get_by_label("To")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator(".audit-count")).to_have_text("3 events match these filters. Clear the filters")
    settled(page)
    assert still_the_same_document(page)


@pytest.mark.every_width
def test_a_date_typed_slowly_digit_by_digit_is_kept_whole(admin_page, live):
    record(live, 3)
    record(live, 2, day=4)
    page = admin_page
    open_audit_log(page)
    since = page.get_by_label("From")
    since.focus()
    # Slower than the filters' delay: the table updates while the year is still being typed.
    since.press_sequentially("11042026", delay=600)
    expect(since).to_have_value("2026-11-04")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page).to_have_url(live.address(AUDIT_LOG + "?account=&area=&since=2026-11-04&until="))
    expect(since).to_be_focused()


@pytest.mark.every_width
@NO_JAVASCRIPT
def test_without_javascript_the_links_page_through_and_the_filters_apply(admin_page, live):
    record(live, 120)
    record(live, 2, actor_email="", area="sign-in", subject="an unknown account", day=3)
    page = admin_page
    open_audit_log(page)
    rows = page.locator(ROWS)
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("an unknown account")

    page.get_by_role("link", name="Show older").click()
    expect(page).to_have_url(live.address(AUDIT_LOG + "?before=73"))
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("set to value 72")

    page.get_by_role("link", name="Show older").click()
    expect(rows).to_have_count(22)
    expect(rows.last).to_contain_text("set to value 1")
    expect(page.get_by_role("link", name="Show older")).to_have_count(0)

    page.get_by_role("link", name="Back to the newest events").click()
    page.get_by_label("Account").select_option(label="Nobody signed in")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_label("Account")).to_have_value("nobody")
