"""The protocol package on its own: endpoints, the XOAUTH2 string, folder roles, and its imports."""

import ast
import sys
from pathlib import Path

import pytest

import oroflask.mailservers
from oroflask.mailservers import MICROSOFT_IMAP, MICROSOFT_SMTP, Endpoint, xoauth2
from oroflask.mailservers.errors import MailServerError, explain, redact
from oroflask.mailservers.folders import folder_from_list

PACKAGE = Path(oroflask.mailservers.__file__).parent
# What the package may import: the standard library, IMAPClient, and itself.
ALLOWED = set(sys.stdlib_module_names) | {"imapclient"}


def imported_modules(path: Path) -> set[str]:
    """Return the top-level names of the absolute imports in a module; relative ones stay inside."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 1:
            names.add("." * node.level + (node.module or ""))
    return names


def test_the_package_imports_nothing_of_flask_the_database_or_the_rest_of_the_app():
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 5

    imported = {name: path.name for path in modules for name in imported_modules(path)}

    outside = {name: where for name, where in imported.items() if name.split(".")[0] not in ALLOWED}
    assert outside == {}
    assert "imapclient" in imported and "smtplib" in imported


def test_the_import_walk_catches_a_forbidden_import(tmp_path):
    module = tmp_path / "spoiled.py"
    module.write_text("import ssl\nfrom flask import current_app\nfrom ..connection import models\n")

    assert imported_modules(module) == {"ssl", "flask", "..connection"}


def test_microsoft_365_defaults():
    assert MICROSOFT_IMAP == Endpoint("outlook.office365.com", 993, "tls")
    assert MICROSOFT_SMTP == Endpoint("smtp.office365.com", 587, "starttls")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.8.9.10"])
def test_no_tls_is_allowed_on_loopback(host):
    assert Endpoint(host, 143, "none").security == "none"


@pytest.mark.parametrize(
    ("host", "port", "security", "message"),
    [
        ("mail.example.com", 143, "none", "loopback"),
        ("10.0.0.5", 143, "none", "loopback"),
        ("", 993, "tls", "host"),
        ("mail example.com", 993, "tls", "host"),
        ("mail.example.com", 0, "tls", "port"),
        ("mail.example.com", 70000, "tls", "port"),
        ("mail.example.com", True, "tls", "port"),
        ("mail.example.com", 993, "ssl", "security"),
    ],
)
def test_a_bad_endpoint_is_refused_saying_why(host, port, security, message):
    with pytest.raises(ValueError, match=message):
        Endpoint(host, port, security)


def test_the_xoauth2_string_names_the_mailbox_opened_not_the_token_owner():
    assert xoauth2("sales@contoso.com", "T0KEN") == "user=sales@contoso.com\x01auth=Bearer T0KEN\x01\x01"


@pytest.mark.parametrize(
    ("flags", "name", "role"),
    [
        ((b"\\HasNoChildren", b"\\Sent"), "Envoyé", "sent"),
        ((b"\\Trash",), "Corbeille", "trash"),
        ((b"\\Junk",), "Pourriel", "junk"),
        ((b"\\Archive",), "Old", "archive"),
        ((b"\\Drafts",), "Projects/Drafts", "drafts"),
        ((), "Sent", "sent"),
        ((), "Spam", "junk"),
        ((), "Trash", "trash"),
        ((), "junk email", "junk"),
        ((), "Gesendete Elemente", "sent"),
        ((), "Éléments supprimés", "trash"),
        ((), "Correo no deseado", "junk"),
        ((), "Verzonden items", "sent"),
        ((), "Inbox", "inbox"),
        ((), "Projects/Sent Items", None),
        ((), "Newsletters", None),
    ],
)
def test_a_folders_role_comes_from_special_use_else_from_a_top_level_name(flags, name, role):
    assert folder_from_list(flags, b"/", name).special == role


def test_a_noselect_folder_is_marked_and_a_nested_one_has_its_parent():
    assert folder_from_list((b"\\Noselect", b"\\HasChildren"), b"/", "Projects").selectable is False
    assert folder_from_list((b"\\NonExistent",), b"/", "Gone").selectable is False
    nested = folder_from_list((b"\\HasNoChildren",), b".", "Projects.2026.Q1")
    assert nested.parent == "Projects.2026" and nested.delimiter == "." and nested.selectable is True
    assert folder_from_list((), None, "INBOX").parent is None


def test_token_like_text_is_hidden():
    jwt_like = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL291dGxvb2sifQ.c2lnbmF0dXJl"

    assert redact(f"NO token {jwt_like} refused") == "NO token [hidden] refused"
    assert redact("AUTH dXNlcj1hZGVsZUBjb250b3NvLmNvbQFhdXRoPUJlYXJlcg==") == "AUTH [hidden]"
    assert redact("535 5.7.139 [MW4PR03CA0001.namprd03.prod.outlook.com 2026-12-02T08:00:00.000Z]") == (
        "535 5.7.139 [MW4PR03CA0001.namprd03.prod.outlook.com 2026-12-02T08:00:00.000Z]"
    )
    assert redact("535 5.7.3 Authentication unsuccessful [MW4PR03CA0001.prod]") == (
        "535 5.7.3 Authentication unsuccessful [MW4PR03CA0001.prod]"
    )
    assert redact("echo: short-secret!", ["short-secret"]) == "echo: [hidden]!"


def test_an_error_repr_shows_no_words_from_the_server():
    error = explain(
        "IMAP", "imap_refused", MICROSOFT_IMAP, "adele@contoso.com", server_said="BAD token=abc",
        secrets=["abc"],
    )

    assert isinstance(error, MailServerError) and error.server_said == "BAD token=[hidden]"
    assert repr(error) == (
        "MailServerError(protocol='IMAP', kind='imap_refused', "
        "title='The IMAP server refused a request for adele@contoso.com')"
    )
