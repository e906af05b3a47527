"""Configuration: defaults, test configuration, instance folder, OROFLASK_* variables."""

import stat

import pytest

from oroflask import create_app
from oroflask.config import POSITIVE_NUMBERS


def test_defaults_then_test_config(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "MICROSOFT_TENANT": "common"})
    assert app.config["MICROSOFT_TENANT"] == "common"
    assert app.config["MICROSOFT_AUTHORITY"] == "https://login.microsoftonline.com"
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'oroflask.sqlite'}"


def test_keys_are_generated_once_into_the_instance_folder(tmp_path):
    instance = tmp_path / "instance"
    first = create_app({"INSTANCE_PATH": str(instance)})
    for name in ("secret_key", "encryption.keys"):
        assert stat.S_IMODE((instance / name).stat().st_mode) == 0o600
    second = create_app({"INSTANCE_PATH": str(instance)})
    assert first.config["SECRET_KEY"]
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert second.config["ENCRYPTION_KEYS"] == first.config["ENCRYPTION_KEYS"]
    assert (instance / "secret_key").read_text().strip() == first.config["SECRET_KEY"]


def test_test_config_keys_are_not_written_to_the_instance_folder(app, config, tmp_path):
    assert app.config["SECRET_KEY"] == config["SECRET_KEY"]
    assert not (tmp_path / "instance" / "secret_key").exists()


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """Point OROFLASK_INSTANCE_PATH at a fresh folder; return that folder."""
    instance = tmp_path / "instance"
    monkeypatch.setenv("OROFLASK_INSTANCE_PATH", str(instance))
    return instance


def test_environment_variables_configure_the_app(environment, monkeypatch):
    monkeypatch.setenv("OROFLASK_MICROSOFT_TENANT", "contoso.onmicrosoft.com")
    monkeypatch.setenv("OROFLASK_PUBLIC_URL", "https://mail.example.com/")
    monkeypatch.setenv("OROFLASK_LOGIN_FAILURES_ALLOWED", "3")
    app = create_app()
    assert app.instance_path == str(environment)
    assert app.config["MICROSOFT_TENANT"] == "contoso.onmicrosoft.com"
    assert app.config["PUBLIC_URL"] == "https://mail.example.com"
    assert app.config["LOGIN_FAILURES_ALLOWED"] == 3
    assert (environment / "secret_key").exists()


def test_environment_overrides_instance_config_file(environment, monkeypatch):
    environment.mkdir()
    (environment / "config.py").write_text(
        'MICROSOFT_TENANT = "common"\nMICROSOFT_CLIENT_ID = "from-file"\n'
    )
    monkeypatch.setenv("OROFLASK_MICROSOFT_TENANT", "organizations")
    app = create_app()
    assert app.config["MICROSOFT_CLIENT_ID"] == "from-file"
    assert app.config["MICROSOFT_TENANT"] == "organizations"


@pytest.mark.parametrize("text", ["123", "0.50", "1e3", "true", "null", "[1,2]", '{"a": 1}'])
def test_json_looking_variables_stay_text(environment, monkeypatch, text):
    monkeypatch.setenv("OROFLASK_MICROSOFT_CLIENT_SECRET", text)
    monkeypatch.setenv("OROFLASK_MICROSOFT_CLIENT_ID", text)
    app = create_app()
    assert app.config["MICROSOFT_CLIENT_SECRET"] == text
    assert app.config["MICROSOFT_CLIENT_ID"] == text


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [("https://mail.example.com", True), ("http://localhost:5000", False), ("", False)],
)
def test_cookies_are_secure_when_the_public_url_is_https(tmp_path, public_url, secure):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "PUBLIC_URL": public_url})
    assert app.config["SESSION_COOKIE_SECURE"] is secure
    assert app.config["REMEMBER_COOKIE_SECURE"] is secure
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_strict_same_site_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Lax"):
        create_app({"INSTANCE_PATH": str(tmp_path), "SESSION_COOKIE_SAMESITE": "Strict"})


def test_proxy_settings_are_off_by_default(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["TRUSTED_HOSTS"] is None
    assert set(app.config["PROXY_FIX"].values()) == {0}
    assert app.config["LOG_LEVEL"] == "INFO"


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("mail.example.com", ["mail.example.com"]),
        ("mail.example.com, .example.org", ["mail.example.com", ".example.org"]),
        ('["Mail.Example.com", "localhost"]', ["mail.example.com", "localhost"]),
        ("", None),
    ],
)
def test_trusted_hosts_from_the_environment(environment, monkeypatch, text, hosts):
    monkeypatch.setenv("OROFLASK_TRUSTED_HOSTS", text)
    assert create_app().config["TRUSTED_HOSTS"] == hosts


@pytest.mark.parametrize(
    ("text", "hops"),
    [
        ("1", {"x_for": 1, "x_proto": 1, "x_host": 0, "x_port": 0, "x_prefix": 0}),
        ("2", {"x_for": 2, "x_proto": 2, "x_host": 0, "x_port": 0, "x_prefix": 0}),
        ('{"x_for": 1, "x_proto": 1, "x_host": 1}', {"x_for": 1, "x_proto": 1, "x_host": 1, "x_port": 0, "x_prefix": 0}),
    ],
)
def test_proxy_fix_from_the_environment(environment, monkeypatch, text, hops):
    monkeypatch.setenv("OROFLASK_PROXY_FIX", text)
    assert create_app().config["PROXY_FIX"] == hops


@pytest.mark.parametrize("text", ["-1", "yes", "true", '{"x_forwarded_for": 1}', '{"x_for": "1"}', "[1]"])
def test_a_wrong_proxy_fix_stops_the_start(environment, monkeypatch, text):
    monkeypatch.setenv("OROFLASK_PROXY_FIX", text)
    with pytest.raises(ValueError, match="PROXY_FIX must be a number of proxies"):
        create_app()


def test_log_level_from_the_environment(environment, monkeypatch):
    monkeypatch.setenv("OROFLASK_LOG_LEVEL", "debug")
    assert create_app().config["LOG_LEVEL"] == "DEBUG"
    monkeypatch.setenv("OROFLASK_LOG_LEVEL", "verbose")
    with pytest.raises(ValueError, match="LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"):
        create_app()


@pytest.mark.parametrize("value", [0, -1, 20, "soon", True, None, float("nan")])
def test_an_http_deadline_out_of_range_is_refused(tmp_path, value):
    with pytest.raises(ValueError, match="MICROSOFT_HTTP_DEADLINE must be a number of seconds"):
        create_app({"INSTANCE_PATH": str(tmp_path), "MICROSOFT_HTTP_DEADLINE": value})


def test_the_http_deadline_comes_from_the_environment(environment, monkeypatch):
    assert create_app().config["MICROSOFT_HTTP_DEADLINE"] == 15
    monkeypatch.setenv("OROFLASK_MICROSOFT_HTTP_DEADLINE", "12.5")
    assert create_app().config["MICROSOFT_HTTP_DEADLINE"] == 12.5
def test_sign_in_throttle_from_the_environment(environment, monkeypatch):
    monkeypatch.setenv("OROFLASK_LOGIN_FAILURES_ALLOWED_PER_ADDRESS", "200")
    app = create_app()
    assert app.config["LOGIN_FAILURES_ALLOWED_PER_ADDRESS"] == 200
    assert app.config["LOGIN_FAILURES_ALLOWED"] == 5


@pytest.mark.parametrize("key", POSITIVE_NUMBERS)
@pytest.mark.parametrize("text", ["0", "-3", "2.5", "many", "true"])
def test_a_wrong_count_stops_the_start(environment, monkeypatch, key, text):
    monkeypatch.setenv(f"OROFLASK_{key}", text)
    with pytest.raises(ValueError, match=f"{key} must be a whole number of at least 1"):
        create_app()


def test_mail_servers_default_to_microsoft_365(tmp_path):
    config = create_app({"INSTANCE_PATH": str(tmp_path)}).config
    assert (config["MICROSOFT_IMAP_HOST"], config["MICROSOFT_IMAP_PORT"], config["MICROSOFT_IMAP_SECURITY"]) == (
        "outlook.office365.com", 993, "tls"
    )
    assert (config["MICROSOFT_SMTP_HOST"], config["MICROSOFT_SMTP_PORT"], config["MICROSOFT_SMTP_SECURITY"]) == (
        "smtp.office365.com", 587, "starttls"
    )


def test_mail_servers_come_from_the_environment(environment, monkeypatch):
    monkeypatch.setenv("OROFLASK_MICROSOFT_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("OROFLASK_MICROSOFT_IMAP_PORT", "1143")
    monkeypatch.setenv("OROFLASK_MICROSOFT_IMAP_SECURITY", "none")
    config = create_app().config
    assert (config["MICROSOFT_IMAP_HOST"], config["MICROSOFT_IMAP_PORT"], config["MICROSOFT_IMAP_SECURITY"]) == (
        "127.0.0.1", 1143, "none"
    )


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"MICROSOFT_SMTP_SECURITY": "none"}, "without TLS is allowed to this machine"),
        ({"MICROSOFT_IMAP_PORT": 0}, "port is a whole number"),
        ({"MICROSOFT_IMAP_SECURITY": "ssl"}, "security is one of"),
        ({"MICROSOFT_SMTP_HOST": "smtp office365.com"}, "without spaces"),
    ],
)
def test_an_unusable_mail_server_stops_the_start(tmp_path, settings, message):
    with pytest.raises(ValueError, match=message) as refused:
        create_app({"INSTANCE_PATH": str(tmp_path), **settings})
    assert "do not make a usable" in str(refused.value)


def test_a_missing_mail_ca_file_stops_the_start(tmp_path):
    with pytest.raises(ValueError, match="MAIL_CA_FILE must name a readable certificate file"):
        create_app({"INSTANCE_PATH": str(tmp_path), "MAIL_CA_FILE": str(tmp_path / "missing.pem")})


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://mail.example.com/", "https://mail.example.com"),
        (" http://localhost:5000 ", "http://localhost:5000"),
        ("https://intranet.example.com/mail/", "https://intranet.example.com/mail"),
        ("", ""),
    ],
)
def test_the_public_url_is_kept_without_its_final_slash(tmp_path, given, kept):
    assert create_app({"INSTANCE_PATH": str(tmp_path), "PUBLIC_URL": given}).config["PUBLIC_URL"] == kept


@pytest.mark.parametrize(
    "public_url",
    [
        "mail.example.com",
        "ftp://mail.example.com",
        "https://",
        "https://mail.example.com:99999",
        "https://mail.example.com:port",
        "https://user@mail.example.com",
        "https://mail.example.com/?next=/",
        "https://mail.example.com/#top",
        "https://mail example.com",
    ],
)
def test_a_public_url_that_is_no_address_is_refused(tmp_path, public_url):
    with pytest.raises(ValueError, match="PUBLIC_URL must be the address users reach the app at"):
        create_app({"INSTANCE_PATH": str(tmp_path), "PUBLIC_URL": public_url})
