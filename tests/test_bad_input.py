"""Bad input on every field: each a 4xx with a clear message, nothing stored, nothing 500."""

import io
import re

import pytest

from oroflask.auth import service as accounts
from oroflask.auth.models import LoginFailure, User
from oroflask.encryption import decrypt
from oroflask.extensions import db

from .conftest import (
    SETTINGS_PAGE,
    csrf_token,
    element,
    field_html,
    field_url,
    htmx_headers,
    live_save,
    save_settings,
    sign_in,
    stored_settings,
    submit_setup,
)

EMPTY = {"client_id": None, "client_secret_encrypted": None, "tenant": None}
FIELDS = ("client_id", "client_secret", "tenant")
TOO_LONG = "a" * 300
LIMITS = {"client_id": 64, "client_secret": 256, "tenant": 255}

BAD_VALUES = {
    "too long": (TOO_LONG, "This is too long: at most"),
    "control character": ("abc\x00def", "This contains control characters"),
    "escape sequence": ("abc\x1b[31mdef", "This contains control characters"),
    "zero-width space": ("abc\u200bdef", "This contains control characters"),
    "replacement character": ("abc\ufffddef", "not valid text (not UTF-8)"),
}


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_bad_value_is_refused_by_save_settings(admin_client, app, name, case):
    value, message = BAD_VALUES[case]
    response = save_settings(admin_client, **{name: value})
    assert response.status_code == 422
    assert message in field_html(response.get_data(as_text=True), name)
    assert stored_settings(app) == EMPTY


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_bad_value_is_refused_by_a_live_save(admin_client, app, name, case):
    value, message = BAD_VALUES[case]
    response = live_save(admin_client, name, value)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert stored_settings(app) == EMPTY


@pytest.mark.parametrize("name", FIELDS)
def test_the_message_tells_the_limit(admin_client, name):
    response = live_save(admin_client, name, TOO_LONG)
    message = f"This is too long: at most {LIMITS[name]} characters."
    assert message in response.get_data(as_text=True)


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize("raw", [b"%FF%FE", b"\xff\xfe", b"abc%C3%28", b"%ED%A0%80"])
def test_bytes_that_are_not_utf8_are_refused(admin_client, app, name, raw):
    headers = htmx_headers(admin_client, name)
    response = admin_client.post(
        field_url(name),
        data=name.encode() + b"=" + raw,
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )
    assert response.status_code == 422
    assert "not valid text (not UTF-8)" in response.get_data(as_text=True)

    form = {other: b"" for other in FIELDS} | {name: raw}
    form["csrf_token"] = csrf_token(admin_client, SETTINGS_PAGE).encode()
    response = admin_client.post(
        SETTINGS_PAGE,
        data=b"&".join(key.encode() + b"=" + value for key, value in form.items()),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 422
    assert "not valid text (not UTF-8)" in field_html(response.get_data(as_text=True), name)
    assert stored_settings(app) == EMPTY


PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
]


@pytest.mark.parametrize("name", ["client_id", "tenant"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_html_is_shown_escaped(admin_client, app, name, payload):
    for response in (
        save_settings(admin_client, **{name: payload}),
        live_save(admin_client, name, payload),
    ):
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert element(html, name)["value"] == payload
        for markup in ("<script>", "<img", "<svg"):
            assert markup not in html
    assert stored_settings(app) == EMPTY


@pytest.mark.parametrize("payload", ["<script>alert(1)</script>", "\"><svg/onload=alert(1)>"])
def test_html_in_a_secret_is_stored_but_never_shown(admin_client, app, payload):
    # Older Azure secrets hold punctuation, so a secret is not refused for its characters.
    response = live_save(admin_client, "client_secret", payload)
    assert response.status_code == 200
    assert "alert(1)" not in response.get_data(as_text=True)
    assert "alert(1)" not in admin_client.get(SETTINGS_PAGE).get_data(as_text=True)
    with app.app_context():
        assert decrypt(stored_settings(app)["client_secret_encrypted"]) == payload


def test_a_body_over_the_limit_is_refused_readably(admin_client, app):
    huge = "a" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = save_settings(admin_client, client_id=huge)
    assert response.status_code == 413
    message = "What was sent is larger than this page accepts; nothing was saved."
    assert message in response.get_data(as_text=True)

    response = live_save(admin_client, "tenant", huge)
    assert response.status_code == 413
    assert response.headers["HX-Retarget"] == "#page-alert"
    assert "nothing was saved" in response.get_data(as_text=True)
    assert stored_settings(app) == EMPTY


def test_an_unknown_field_in_save_settings_is_ignored(admin_client, app):
    response = save_settings(admin_client, tenant="common", role="admin", id="7")
    assert response.status_code == 302
    assert stored_settings(app) == {**EMPTY, "tenant": "common"}


def test_a_page_that_does_not_exist_answers_404_readably(admin_client):
    response = admin_client.get(SETTINGS_PAGE + "/nothing")
    assert response.status_code == 404
    assert "There is nothing at this address." in response.get_data(as_text=True)


def test_a_get_on_a_field_endpoint_answers_405_readably(admin_client):
    response = admin_client.get(field_url("tenant"))
    assert response.status_code == 405
    assert "This address does not accept that kind of request." in response.get_data(as_text=True)


def test_a_post_without_login_or_csrf_token_is_refused_readably(client, admin, app):
    response = client.post(
        field_url("tenant"), data={"tenant": "common"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#page-alert"
    assert "sent without its security token" in response.get_data(as_text=True)
    assert stored_settings(app) == EMPTY


def signed_in_headers(client, path: str = SETTINGS_PAGE) -> dict:
    """Return the headers of an htmx request that carries this client's CSRF token."""
    return {"HX-Request": "true", "X-CSRFToken": csrf_token(client, path)}


FORM_ONLY = "This address accepts only what its form sends"


@pytest.mark.parametrize(
    "body, content_type",
    [
        ('{"email": 1, "password": "x"}', "application/json"),
        ('{"email": {"a": 1}}', "application/json"),
        ("[" * 3000, "application/json"),
        ("email=a@example.com", "text/plain"),
        ("<email>a@example.com</email>", "application/xml"),
    ],
)
def test_a_body_that_is_not_a_form_is_refused_on_login(client, admin, body, content_type):
    headers = {"X-CSRFToken": csrf_token(client)}
    response = client.post("/login", data=body, content_type=content_type, headers=headers)
    assert response.status_code == 415
    assert FORM_ONLY in response.get_data(as_text=True)


def test_a_body_that_is_not_a_form_is_refused_as_such_before_its_csrf_token_is_looked_for(client, admin):
    response = client.post("/login", json={"email": 1})
    assert response.status_code == 415
    assert FORM_ONLY in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [SETTINGS_PAGE, field_url("client_id"), field_url("client_id") + "/use-default"])
def test_json_is_refused_on_the_settings_page_as_an_alert(admin_client, app, path):
    response = admin_client.post(
        path, json={"client_id": {"a": 1}, "client_id_use_default": [1]}, headers=signed_in_headers(admin_client)
    )
    assert response.status_code == 415
    assert response.headers["HX-Retarget"] == "#page-alert"
    assert FORM_ONLY in response.get_data(as_text=True)
    assert stored_settings(app) == EMPTY


def test_a_post_with_an_empty_body_is_a_form_without_fields(admin_client):
    response = admin_client.post(field_url("tenant"), headers=signed_in_headers(admin_client))
    assert response.status_code == 200


def file_part(content: bytes = b"contoso.onmicrosoft.com") -> tuple:
    return (io.BytesIO(content), "f.txt", "text/plain")


def test_a_file_in_place_of_the_email_is_refused(client, admin):
    form = {"email": file_part(b"admin@example.com"), "password": "x" * 12, "csrf_token": csrf_token(client)}
    response = client.post("/login", data=form, content_type="multipart/form-data")
    assert response.status_code == 415
    assert FORM_ONLY in response.get_data(as_text=True)


@pytest.mark.parametrize("name", [*FIELDS, "client_secret_expires_on", "client_id_use_default"])
def test_a_file_in_place_of_a_setting_is_refused(admin_client, app, name):
    form = {name: file_part(), "csrf_token": csrf_token(admin_client, SETTINGS_PAGE)}
    response = admin_client.post(SETTINGS_PAGE, data=form, content_type="multipart/form-data")
    assert response.status_code == 415
    assert FORM_ONLY in response.get_data(as_text=True)

    form = {name: file_part()}
    path = field_url(name.removesuffix("_use_default")) + ("/use-default" if name.endswith("_use_default") else "")
    response = admin_client.post(
        path, data=form, content_type="multipart/form-data", headers=signed_in_headers(admin_client)
    )
    assert response.status_code == 415
    assert response.headers["HX-Retarget"] == "#page-alert"
    assert stored_settings(app) == EMPTY


def test_a_multipart_form_without_files_is_accepted(admin_client, app):
    form = {"tenant": "common", "csrf_token": csrf_token(admin_client, SETTINGS_PAGE)}
    response = admin_client.post(SETTINGS_PAGE, data=form, content_type="multipart/form-data")
    assert response.status_code == 302
    assert stored_settings(app) == {**EMPTY, "tenant": "common"}


@pytest.mark.parametrize("target", ["http://%5B", "http://[::1", "/%0aX", "/\\evil.example", "/a%1b[31m", "/%7f"])
def test_a_malformed_next_is_ignored(client, admin, target):
    assert client.get(f"/login?next={target}").status_code == 200
    response = sign_in(client, admin)
    assert response.status_code == 302
    assert client.get(f"/login?next={target}").headers["Location"] == "/"


def test_a_malformed_current_url_of_htmx_is_ignored(client, admin):
    malformed = ("http://[", "http://[::1/x", "http://localhost/\x1b[31m/x", "http://localhost/\\\\evil.example")
    for current in malformed:
        response = client.get(SETTINGS_PAGE, headers={"HX-Request": "true", "HX-Current-URL": current})
        assert response.status_code == 401
        assert response.headers["HX-Redirect"] == "/login"


@pytest.mark.parametrize(
    "path",
    [
        "/oauth/microsoft/attempts/a%00b/authorize",
        "/oauth/microsoft/attempts/a%00b",
        "/oauth/microsoft/attempts/" + "a" * 200 + "/authorize",
    ],
)
def test_an_attempt_id_outside_its_alphabet_is_not_found(admin_client, path):
    response = admin_client.get(path, headers=signed_in_headers(admin_client))
    assert response.status_code == 404
    closed = "/oauth/microsoft/attempts/a%00b/closed"
    response = admin_client.post(closed, headers=signed_in_headers(admin_client))
    assert response.status_code == 404


NOT_ALLOWED = "This contains control characters, which are not allowed"


def error_of(page: str, field_id: str) -> str:
    """Return the message shown under an input of an account page."""
    match = re.search(rf'<p class="error" id="{field_id}-error" role="alert">([^<]*)</p>', page)
    assert match, f"no message under {field_id}"
    return match.group(1)


@pytest.mark.parametrize("email", ["admin@example.com\x00", "a\x1b[31m@example.com", "\x9badmin@example.com"])
def test_control_characters_in_the_email_are_refused_beside_it(client, admin, app, email):
    form = {"email": email, "password": "x" * 12, "csrf_token": csrf_token(client)}
    response = client.post("/login", data=form)
    assert response.status_code == 422
    assert NOT_ALLOWED in error_of(response.get_data(as_text=True), "email")
    with app.app_context():
        assert db.session.execute(db.select(LoginFailure)).first() is None


def test_control_characters_in_setup_are_refused_beside_the_field(client, app):
    with app.app_context():
        code = accounts.setup_code()
    response = submit_setup(client, code, email="first\x00@example.com")
    assert response.status_code == 422
    assert NOT_ALLOWED in error_of(response.get_data(as_text=True), "email")
    with app.app_context():
        assert db.session.execute(db.select(User)).first() is None


@pytest.mark.parametrize("name", [*FIELDS, "client_secret_expires_on"])
def test_a_nul_in_a_setting_is_refused_beside_it(admin_client, app, name):
    response = save_settings(admin_client, **{name: "common\x00"})
    assert response.status_code == 422
    assert "This contains control characters" in field_html(response.get_data(as_text=True), name)
    headers = signed_in_headers(admin_client)
    response = admin_client.post(field_url(name), data={name: "2030-01-01\x00"}, headers=headers)
    assert response.status_code == 422
    assert "This contains control characters" in response.get_data(as_text=True)
    assert stored_settings(app) == EMPTY


@pytest.mark.parametrize("host", ["x" * 300, "a..b"])
def test_a_host_header_that_is_not_a_host_answers_400(client, admin, host):
    response = client.get("/login", headers={"Host": host})
    assert response.status_code == 400
    assert response.get_data(as_text=True) == "Bad request: the Host header is not valid.\n"


@pytest.mark.parametrize("disposition", [b"form-data", b'form-data; name="a"b"; x', b"form-data; name="])
def test_a_multipart_part_without_a_name_is_no_field(client, admin, disposition):
    body = b"--b\r\nContent-Disposition: " + disposition + b"\r\n\r\nvalue\r\n--b--\r\n"
    headers = {"X-CSRFToken": csrf_token(client)}
    response = client.post("/login", data=body, content_type="multipart/form-data; boundary=b", headers=headers)
    assert response.status_code == 422
    assert "This field is required." in error_of(response.get_data(as_text=True), "email")
