"""System › Users: the list, its search (plain and htmx), its pages, and who may open it."""

import re

import pytest
from werkzeug.routing import Rule

from oroflask.auth.models import User
from oroflask.extensions import db

from ..conftest import ADMIN_EMAIL, PASSWORD_HASH, USER_EMAIL, csrf_token
from .helpers import USERS


def add_accounts(app, *accounts: tuple[str, str]) -> None:
    with app.app_context():
        for email, name in accounts:
            db.session.add(User(email=email, name=name, role="user", password_hash=PASSWORD_HASH))
        db.session.commit()


def listed(page: str) -> list[str]:
    return re.findall(r'<td data-label="E-mail"><a href="[^"]+">([^<]+)</a>', page)


def test_the_page_lists_every_account_with_its_columns(admin_client, app, user):
    add_accounts(app, ("ann@example.com", "Ann Example"))
    response = admin_client.get(USERS)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert listed(page) == [ADMIN_EMAIL, "ann@example.com", USER_EMAIL]
    assert "System › Users" in page
    assert '<a class="tree-leaf" href="/admin/users" aria-current="page">Users</a>' in page
    for column in ("E-mail", "Name", "Role", "Active", "Last sign-in", "Created"):
        assert f'<th scope="col">{column}</th>' in page
    assert "Ann Example" in page
    assert "Administrator" in page and "Never" in page


def test_search_finds_by_e_mail_or_name_in_any_case(admin_client, app, user):
    add_accounts(app, ("ann@example.com", "Ann Example"), ("bob@other.test", "Bob ANNISTON"))
    page = admin_client.get(USERS, query_string={"q": "ANN"}).get_data(as_text=True)
    assert listed(page) == ["ann@example.com", "bob@other.test"]
    assert 'value="ANN"' in page
    page = admin_client.get(USERS, query_string={"q": "other.TEST"}).get_data(as_text=True)
    assert listed(page) == ["bob@other.test"]


@pytest.mark.parametrize("query", ["%", "_", "\\"])
def test_search_takes_like_wildcards_literally(admin_client, app, admin, query):
    add_accounts(app, ("a_b@example.com", "Fifty % off"), ("back\\slash@example.com", ""))
    page = admin_client.get(USERS, query_string={"q": query}).get_data(as_text=True)
    expected = {"%": ["a_b@example.com"], "_": ["a_b@example.com"], "\\": ["back\\slash@example.com"]}
    assert listed(page) == expected[query]


def test_a_search_that_finds_nothing_says_so(admin_client):
    page = admin_client.get(USERS, query_string={"q": "nobody"}).get_data(as_text=True)
    assert listed(page) == []
    assert "No account's e-mail or name contains “nobody”." in page


def test_htmx_gets_the_table_alone(admin_client, app, user):
    response = admin_client.get(
        USERS, query_string={"q": "user@"}, headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/admin/users"}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert listed(body) == [USER_EMAIL]
    assert "<html" not in body and "System Configuration" not in body
    assert '<div id="live-status" class="visually-hidden" aria-live="polite" hx-swap-oob="innerHTML">1 account found.</div>' in body


def test_a_search_with_control_characters_is_refused_beside_the_field(admin_client, admin):
    response = admin_client.get(USERS, query_string={"q": "a\x1bb"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="q-error"' in page and "control characters" in page
    assert listed(page) == []


def test_more_than_fifty_accounts_are_paged_with_plain_links(admin_client, app, admin):
    add_accounts(app, *((f"person{number:03}@example.com", "") for number in range(60)))
    first = admin_client.get(USERS).get_data(as_text=True)
    assert len(listed(first)) == 50
    assert "Page 1 of 2" in first
    assert 'href="/admin/users?page=2" rel="next"' in first
    second = admin_client.get(USERS, query_string={"page": 2}).get_data(as_text=True)
    assert len(listed(second)) == 11
    assert 'href="/admin/users?page=1" rel="prev"' in second
    searched = admin_client.get(USERS, query_string={"q": "person", "page": "2"}).get_data(as_text=True)
    assert listed(searched) == [f"person{number:03}@example.com" for number in range(50, 60)]
    assert 'href="/admin/users?q=person&amp;page=1"' in searched
    beyond = admin_client.get(USERS, query_string={"page": str(10**30)}).get_data(as_text=True)
    assert "Page 2 of 2" in beyond


def test_an_unknown_account_is_not_found(admin_client, admin):
    assert admin_client.get(f"{USERS}/9999").status_code == 404
    assert admin_client.get(f"{USERS}/9999/reset-password").status_code == 404
    assert admin_client.get(f"{USERS}/{10**30}").status_code == 404


def _sample(rule: Rule) -> str:
    values = {name: 1 if "int" in type(converter).__name__.lower() else "x" for name, converter in rule._converters.items()}
    return rule.build(values)[1]


def test_a_user_gets_403_on_every_admin_address_and_method(app, user_client):
    token = csrf_token(user_client, "/account")
    admin_rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")]
    assert any(rule.endpoint.startswith("users.") for rule in admin_rules)
    for rule in admin_rules:
        path = _sample(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = user_client.open(path, method=method, data={"csrf_token": token}, headers={"X-CSRFToken": token})
            assert response.status_code == 403, (method, path, response.status_code)


def test_a_visitor_is_sent_to_login(client, admin):
    response = client.get(USERS)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
