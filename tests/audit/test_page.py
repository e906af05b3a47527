"""System › Audit log: who changed what, newest first, paged by id, filtered; for administrators."""

import re
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from oroflask.audit import service

from ..conftest import (
    ADMIN_EMAIL,
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT,
    element,
    live_save,
    save_settings,
)
from .conftest import HTMX, PAGE, add_events, read_log, shown_ids


def test_an_administrator_sees_who_changed_what(admin_client):
    save_settings(admin_client, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, tenant=TENANT)
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<nav class="breadcrumb" aria-label="Breadcrumb">System › Audit log</nav>' in page
    assert 'href="/admin/audit" aria-current="page">Audit log</a>' in page
    rows, older = read_log(page)
    assert [cells[1:] for _id, cells in rows] == [
        [ADMIN_EMAIL, "Microsoft Settings", "Directory (tenant) ID", f"set to {TENANT}"],
        [ADMIN_EMAIL, "Microsoft Settings", "Client Secret", "changed"],
        [ADMIN_EMAIL, "Microsoft Settings", "Application (Client) ID", f"set to {CLIENT_ID}"],
    ]
    assert older is None
    when = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert datetime.fromisoformat(when.group(1)).utcoffset().total_seconds() == 0
    assert when.group(1).startswith(when.group(2).replace(" ", "T"))
    assert response.headers["Vary"].startswith("HX-Request")


def test_the_secret_shows_only_as_changed(admin_client):
    live_save(admin_client, "client_secret", CLIENT_SECRET)
    live_save(admin_client, "client_secret", "New8Q~another.secret_value-123")
    page = admin_client.get(PAGE).get_data(as_text=True)
    assert [cells[3:] for _id, cells in read_log(page)[0]] == [["Client Secret", "changed"]] * 2
    assert CLIENT_SECRET not in page
    assert "another.secret" not in page


def test_a_user_is_refused_and_a_visitor_sent_to_sign_in(app, client, user, user_client):
    add_events(app, 1)
    assert user_client.get(PAGE).status_code == 403
    visitor = app.test_client()
    response = visitor.get(PAGE)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


def test_nothing_recorded_says_so(admin_client):
    page = admin_client.get(PAGE).get_data(as_text=True)
    assert "Nothing has been recorded yet." in page
    assert "<table" not in page


def test_what_nobody_signed_in_did_says_so(admin_client, app):
    add_events(app, 1, area="sign-in", subject="an unknown account", change="6 failed sign-ins")
    [(_id, cells)] = read_log(admin_client.get(PAGE).get_data(as_text=True))[0]
    assert cells[1:] == ["Nobody signed in", "Sign-in", "an unknown account", "6 failed sign-ins"]


def older(client, url: str) -> str:
    """Press Show older as htmx does: the rows that replace the button, and the next button."""
    response = client.get(url, headers=HTMX)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith("<tr"), fragment[:200]
    return fragment


def test_show_older_pages_through_without_repeats_or_gaps_while_events_arrive(admin_client, app):
    ids = add_events(app, 120)
    newest_first = ids[::-1]
    first = admin_client.get(PAGE).get_data(as_text=True)
    rows, next_url = read_log(first)
    assert shown_ids(first) == newest_first[:50]
    assert rows[0][1][4] == "change 119"

    arrived = add_events(app, 7)
    second = older(admin_client, next_url)
    assert shown_ids(second) == newest_first[50:100]
    next_url = read_log(second)[1]

    add_events(app, 3)
    third = older(admin_client, next_url)
    assert shown_ids(third) == newest_first[100:]
    assert read_log(third)[1] is None
    assert 'id="show-older"' not in third

    # A fresh look starts from the newest again, those that arrived meanwhile included.
    assert shown_ids(admin_client.get(PAGE).get_data(as_text=True))[3:10] == arrived[::-1]


def test_without_javascript_the_link_opens_the_next_page(admin_client, app):
    ids = add_events(app, 60)
    _rows, next_url = read_log(admin_client.get(PAGE).get_data(as_text=True))
    response = admin_client.get(next_url)
    page = response.get_data(as_text=True)
    assert page.lstrip().startswith("<!doctype html>")
    assert shown_ids(page) == ids[:10][::-1]
    assert read_log(page)[1] is None
    assert 'href="/admin/audit">Back to the newest events</a>' in page


def test_a_page_beyond_the_last_says_there_is_nothing_older(admin_client, app):
    [first] = add_events(app, 1)
    page = admin_client.get(f"{PAGE}?before={first}").get_data(as_text=True)
    assert "No older events." in page


@pytest.mark.parametrize("before", ["abc", "0", "-5", "99999999999999999999999", "1e3"])
def test_a_meaningless_before_shows_the_newest(admin_client, app, before):
    ids = add_events(app, 3)
    response = admin_client.get(PAGE, query_string={"before": before})
    assert response.status_code == 200
    assert shown_ids(response.get_data(as_text=True)) == ids[::-1]


@pytest.fixture
def mixed_log(app):
    """A log of two administrators, failed sign-ins and a connection, over three days."""
    day = lambda number, hour=12: datetime(2026, 11, number, hour, tzinfo=timezone.utc)  # noqa: E731
    return {
        "admin settings 1st": add_events(app, 2, at=day(1), actor_email=ADMIN_EMAIL),
        "other settings 1st": add_events(app, 1, at=day(1, 23), actor_email="other@example.com"),
        "nobody sign-in 2nd": add_events(app, 3, at=day(2, 0), area="sign-in", subject="an unknown account"),
        "admin connection 2nd": add_events(app, 1, at=day(2, 23), actor_email=ADMIN_EMAIL, area="connection"),
        "other settings 3rd": add_events(app, 2, at=day(3, 0), actor_email="other@example.com"),
    }


def expected(log: dict, *groups: str) -> list[int]:
    return sorted((event_id for group in groups for event_id in log[group]), reverse=True)


@pytest.mark.parametrize(
    "filters, groups",
    [
        ({"account": ADMIN_EMAIL}, ["admin settings 1st", "admin connection 2nd"]),
        ({"account": "nobody"}, ["nobody sign-in 2nd"]),
        ({"area": "settings"}, ["admin settings 1st", "other settings 1st", "other settings 3rd"]),
        ({"area": "connection"}, ["admin connection 2nd"]),
        ({"since": "2026-11-02"}, ["nobody sign-in 2nd", "admin connection 2nd", "other settings 3rd"]),
        ({"until": "2026-11-02"}, ["admin settings 1st", "other settings 1st", "nobody sign-in 2nd", "admin connection 2nd"]),
        ({"since": "2026-11-02", "until": "2026-11-02"}, ["nobody sign-in 2nd", "admin connection 2nd"]),
        ({"account": "other@example.com", "area": "settings", "since": "2026-11-02"}, ["other settings 3rd"]),
        ({"account": ADMIN_EMAIL, "area": "sign-in"}, []),
    ],
)
def test_each_filter_and_their_combination(admin_client, mixed_log, filters, groups):
    response = admin_client.get(PAGE, query_string=filters)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert shown_ids(page) == expected(mixed_log, *groups)
    if not groups:
        assert "Nothing recorded matches these filters." in page
    for name, value in filters.items():
        chosen = element(page, name)
        if chosen["tag"] == "input":
            assert chosen["value"] == value
        else:
            assert f'<option selected value="{value}">' in page


def test_the_account_list_holds_everyone_in_the_log_and_nobody(admin_client, mixed_log):
    page = admin_client.get(PAGE).get_data(as_text=True)
    select = re.search(r'<select [^>]*id="account"[^>]*>(.*?)</select>', page).group(1)
    assert re.findall(r">([^<]+)</option>", select) == [
        "All accounts", "Nobody signed in", ADMIN_EMAIL, "other@example.com",
    ]


def count_line(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", re.search(r'<p class="audit-count">(.*?)</p>', page, re.S).group(1))).strip()


def test_the_page_says_how_many_events_match(admin_client, mixed_log, monkeypatch):
    assert count_line(admin_client.get(PAGE).get_data(as_text=True)) == "9 events recorded."
    page = admin_client.get(PAGE, query_string={"area": "connection"}).get_data(as_text=True)
    assert count_line(page) == "1 event matches these filters. Clear the filters"
    page = admin_client.get(PAGE, query_string={"account": "nobody"}, headers=HTMX).get_data(as_text=True)
    assert count_line(page) == "3 events match these filters. Clear the filters"
    monkeypatch.setattr(service, "COUNT_UP_TO", 5)
    assert count_line(admin_client.get(PAGE).get_data(as_text=True)) == "more than 5 events recorded."


def test_filters_apply_to_the_older_pages(admin_client, app):
    mine = add_events(app, 60, actor_email=ADMIN_EMAIL)
    add_events(app, 60, actor_email="other@example.com")
    first = admin_client.get(PAGE, query_string={"account": ADMIN_EMAIL, "area": "settings"}).get_data(as_text=True)
    assert shown_ids(first) == mine[::-1][:50]
    next_url = read_log(first)[1]
    assert parse_qs(urlsplit(next_url).query) == {
        "account": [ADMIN_EMAIL], "area": ["settings"], "before": [str(mine[10])],
    }
    assert shown_ids(older(admin_client, next_url)) == mine[:10][::-1]


def test_a_filter_change_from_htmx_gets_the_events_and_the_filters_messages(admin_client, mixed_log):
    response = admin_client.get(PAGE, query_string={"area": "connection"}, headers=HTMX)
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="audit-results"')
    assert "<html" not in fragment
    assert "<form" not in fragment
    assert shown_ids(fragment) == mixed_log["admin connection 2nd"]
    for name in ("account", "area", "since", "until"):
        message = element(fragment, f"{name}-error")
        assert message["hx-swap-oob"] == "innerHTML"
        assert message["data-field"] == name
    announced = re.search(r'<div id="live-status" hx-swap-oob="innerHTML">([^<]*)</div>', fragment).group(1)
    assert announced.strip() == "1 event matches these filters."
    assert response.headers["Vary"].startswith("HX-Request")


def error_text(page: str, field: str) -> str:
    return re.search(rf'<p class="error" id="{field}-error"[^>]*>([^<]*)</p>', page).group(1)


@pytest.mark.parametrize(
    "filters, field, message",
    [
        ({"since": "2026-02-30"}, "since", "Enter a date that exists, as YYYY-MM-DD."),
        ({"until": "2026-13-01"}, "until", "Enter a date that exists, as YYYY-MM-DD."),
        ({"since": "yesterday"}, "since", "Enter a date that exists, as YYYY-MM-DD."),
        ({"since": "2026-11-03", "until": "2026-11-01"}, "until", "The end date is before the start date."),
        ({"account": "stranger@example.com"}, "account", "Choose one of the list."),
        ({"area": "mail"}, "area", "Choose one of the list."),
    ],
)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_bad_filter_is_explained_beside_its_field_and_shows_nothing(admin_client, mixed_log, filters, field, message, htmx):
    response = admin_client.get(PAGE, query_string=filters, headers=HTMX if htmx else {})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert error_text(page, field) == message
    others = {"account", "area", "since", "until"} - {field}
    assert [error_text(page, other) for other in others] == ["", "", ""]
    if not htmx:
        assert element(page, field)["aria-describedby"] == f"{field}-error"
        assert element(page, field)["aria-invalid"] == "true"
        assert all("aria-invalid" not in element(page, other) for other in others)
    assert shown_ids(page) == []
    assert "Correct the filters marked above to see the events." in page


def test_the_last_day_of_the_calendar_is_a_day_like_any_other(admin_client, mixed_log):
    response = admin_client.get(PAGE, query_string={"since": "0001-01-01", "until": "9999-12-31"})
    assert response.status_code == 200
    assert len(shown_ids(response.get_data(as_text=True))) == 9
