"""Configuration defaults and the keys that are generated once into the instance folder."""

import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from flask import Flask

from .mailservers import Endpoint

SECRET_KEY_FILE = "secret_key"
ENCRYPTION_KEYS_FILE = "encryption.keys"
DATABASE_FILE = "oroflask.sqlite"
ENVIRONMENT_PREFIX = "OROFLASK"
# Where app.extensions records the keys file, when the keys come from one (see encryption.py).
ENCRYPTION_KEYS_SOURCE = "oroflask.encryption_keys_file"

# Values that must stay text even when an environment variable looks like JSON
# (Flask's from_prefixed_env would turn OROFLASK_MICROSOFT_CLIENT_SECRET=123 into an int).
TEXT_KEYS = (
    "SECRET_KEY",
    "ENCRYPTION_KEYS",
    "MICROSOFT_CLIENT_ID",
    "MICROSOFT_CLIENT_SECRET",
    "MICROSOFT_TENANT",
    "MICROSOFT_AUTHORITY",
    "PUBLIC_URL",
    "LOG_LEVEL",
    "QUEUE_URL",
    "QUEUE_NAME",
    "QUEUE_WORKER_TYPE",
    "MICROSOFT_IMAP_HOST",
    "MICROSOFT_IMAP_SECURITY",
    "MICROSOFT_SMTP_HOST",
    "MICROSOFT_SMTP_SECURITY",
    "MAIL_CA_FILE",
    "SENT_COPY",
)
# The mail servers that mailboxes are checked (and later synced) with, by protocol: the keys
# MICROSOFT_<PROTOCOL>_HOST, _PORT and _SECURITY.
MAIL_PROTOCOLS = ("IMAP", "SMTP")

# Settings that are counts or durations: whole numbers of at least 1.
POSITIVE_NUMBERS = (
    "LOGIN_FAILURES_ALLOWED",
    "LOGIN_FAILURES_ALLOWED_PER_ADDRESS",
    "LOGIN_FAILURE_WINDOW_SECONDS",
    "SESSION_IDLE_DAYS",
    "SESSION_LIFETIME_DAYS",
    "PASSWORD_LINK_HOURS",
    "QUEUE_WORKERS",
    "QUEUE_SHUTDOWN_SECONDS",
    "SYNC_POLL_MINUTES",
    "SYNC_CONNECTIONS_PER_MAILBOX",
    "SYNC_BATCH_MESSAGES",
    "SYNC_BATCH_BYTES",
    "SYNC_PIPELINE",
    "SYNC_IDLE_MINUTES",
    "MAIL_ATTACHMENT_MAX_MB",
    "MAIL_POLL_SECONDS",
)
# Exchange Online ends an IDLE after 29 minutes: the push renews it sooner.
MAX_IDLE_MINUTES = 28
SENT_COPIES = ("server", "append")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The X-Forwarded-* headers that OROFLASK_PROXY_FIX counts hops of, as Werkzeug's ProxyFix names
# them. A bare number trusts only the two that every proxy sets (For, Proto): a proxy that passes
# a client's X-Forwarded-Host on unchanged would otherwise let it choose the host.
PROXY_HEADERS = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")
PROXY_HEADERS_OF_A_NUMBER = ("x_for", "x_proto")
# A request makes at most three calls to Microsoft (the Redirect URI's discovery, token and keys):
# with this deadline each, it still answers before gunicorn's 60 s worker timeout (gunicorn.conf.py).
MAX_HTTP_DEADLINE = 19
# Where the task queue may live: empty for a SQLite file in the instance folder, a Redis server, or
# a PostgreSQL database (written as the database's own URL is, with or without SQLAlchemy's driver).
REDIS_QUEUE_SCHEMES = ("redis", "rediss", "unix")
POSTGRESQL_QUEUE_SCHEMES = ("postgresql", "postgresql+psycopg")
QUEUE_SCHEMES = REDIS_QUEUE_SCHEMES + POSTGRESQL_QUEUE_SCHEMES
WORKER_TYPES = ("thread", "process")


def defaults(instance_path: str) -> dict:
    """Return the built-in configuration, overridden by instance/config.py and OROFLASK_* variables."""
    return {
        "SECRET_KEY": "",
        "ENCRYPTION_KEYS": "",
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + os.path.join(instance_path, DATABASE_FILE),
        "MICROSOFT_CLIENT_ID": "",
        "MICROSOFT_CLIENT_SECRET": "",
        "MICROSOFT_TENANT": "",
        "MICROSOFT_AUTHORITY": "https://login.microsoftonline.com",
        "MICROSOFT_HTTP_TIMEOUT": (3.05, 10.0),
        "MICROSOFT_HTTP_DEADLINE": 15,
        "PUBLIC_URL": "",
        "TRUSTED_HOSTS": None,
        "PROXY_FIX": 0,
        "LOG_LEVEL": "INFO",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": None,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": None,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "MAX_CONTENT_LENGTH": 64 * 1024,
        "LOGIN_FAILURES_ALLOWED": 5,
        "LOGIN_FAILURES_ALLOWED_PER_ADDRESS": 50,
        "LOGIN_FAILURE_WINDOW_SECONDS": 15 * 60,
        "SESSION_IDLE_DAYS": 7,
        "SESSION_LIFETIME_DAYS": 30,
        "PASSWORD_LINK_HOURS": 24,
        "QUEUE_URL": "",
        "QUEUE_NAME": "oroflask",
        # Tasks mostly wait on Microsoft and mail servers: threads, two of them for two cores.
        "QUEUE_WORKERS": 2,
        "QUEUE_WORKER_TYPE": "thread",
        "QUEUE_SHUTDOWN_SECONDS": 30,
        # Microsoft 365's own servers (mailservers.MICROSOFT_IMAP and MICROSOFT_SMTP).
        "MICROSOFT_IMAP_HOST": "outlook.office365.com",
        "MICROSOFT_IMAP_PORT": 993,
        "MICROSOFT_IMAP_SECURITY": "tls",
        "MICROSOFT_SMTP_HOST": "smtp.office365.com",
        "MICROSOFT_SMTP_PORT": 587,
        "MICROSOFT_SMTP_SECURITY": "starttls",
        # A CA certificate file that mail servers' certificates are checked against, instead of
        # the system's: for test servers with a certificate of their own.
        "MAIL_CA_FILE": "",
        # Mail sync: how often each mailbox is synced, at most how many IMAP connections one
        # mailbox may hold, and the size of a downloaded batch, committed at once; SYNC_PIPELINE
        # UID FETCH commands are kept in flight, which hides the round trip on a slow link.
        "SYNC_POLL_MINUTES": 5,
        "SYNC_CONNECTIONS_PER_MAILBOX": 3,
        "SYNC_BATCH_MESSAGES": 200,
        "SYNC_BATCH_BYTES": 2 * 1024 * 1024,
        "SYNC_PIPELINE": 3,
        # Push: the worker keeps an IDLE connection on each mailbox's Inbox and stores new mail as
        # it arrives; each IDLE is renewed after SYNC_IDLE_MINUTES.
        "SYNC_PUSH": True,
        "SYNC_IDLE_MINUTES": 25,
        # Sending: the attachments of one message at most, in megabytes; and where a copy of what is
        # sent is kept: "server" leaves it to the server (Exchange Online saves what SMTP AUTH
        # submits in the signed-in account's Sent Items), "append" stores one in the Sent folder over
        # IMAP, for servers that keep none (Dovecot, most others).
        "MAIL_ATTACHMENT_MAX_MB": 25,
        # How often an open Mail list asks whether new mail has arrived (one indexed query).
        "MAIL_POLL_SECONDS": 15,
        "SENT_COPY": "server",
    }


def finalize(app: Flask) -> None:
    """Fill in generated keys and the settings that follow from others."""
    for key in TEXT_KEYS:
        value = app.config.get(key)
        if not isinstance(value, str):
            # from_prefixed_env parsed the variable as JSON (1.50 -> 1.5, true -> True,
            # null -> None): take back the text as it was written.
            written = os.environ.get(f"{ENVIRONMENT_PREFIX}_{key}")
            if written is None:
                written = "" if value is None else str(value)
            app.config[key] = written
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = read_or_create(
            instance / SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48)
        )
    if not app.config["ENCRYPTION_KEYS"]:
        keys_file = instance / ENCRYPTION_KEYS_FILE
        app.config["ENCRYPTION_KEYS"] = read_or_create(
            keys_file, lambda: Fernet.generate_key().decode()
        )
        # Recorded so that the keys are re-read when rotate-key rewrites the file.
        app.extensions[ENCRYPTION_KEYS_SOURCE] = keys_file
    app.config["PUBLIC_URL"] = public_url(app.config["PUBLIC_URL"])
    secure = app.config["PUBLIC_URL"].startswith("https://")
    for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if app.config[key] is None:
            app.config[key] = secure
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config["TRUSTED_HOSTS"])
    app.config["PROXY_FIX"] = proxy_hops(app.config["PROXY_FIX"])
    app.config["MICROSOFT_HTTP_DEADLINE"] = http_deadline(app.config["MICROSOFT_HTTP_DEADLINE"])
    for key in POSITIVE_NUMBERS:
        value = app.config[key]
        if isinstance(value, str) and value.strip().isdigit():
            value = app.config[key] = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{key} must be a whole number of at least 1, not {value!r}")
    if app.config["SYNC_IDLE_MINUTES"] > MAX_IDLE_MINUTES:
        raise ValueError(
            f"SYNC_IDLE_MINUTES must be at most {MAX_IDLE_MINUTES}: Exchange ends an IDLE after 29 minutes"
        )
    if not isinstance(app.config["SYNC_PUSH"], bool):
        raise ValueError(f"SYNC_PUSH must be true or false, not {app.config['SYNC_PUSH']!r}")
    for protocol in MAIL_PROTOCOLS:
        mail_endpoint(app.config, protocol)
    ca_file = app.config["MAIL_CA_FILE"]
    if ca_file and not os.path.isfile(ca_file):
        raise ValueError(f"MAIL_CA_FILE must name a readable certificate file, not {ca_file!r}")
    sent_copy = app.config["SENT_COPY"].strip().lower()
    if sent_copy not in SENT_COPIES:
        raise ValueError(f"SENT_COPY must be one of {', '.join(SENT_COPIES)}, not {sent_copy!r}")
    app.config["SENT_COPY"] = sent_copy
    level = app.config["LOG_LEVEL"].strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    app.config["LOG_LEVEL"] = level
    app.config["QUEUE_URL"] = queue_url(app.config["QUEUE_URL"])
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", app.config["QUEUE_NAME"]):
        raise ValueError("QUEUE_NAME must be 1 to 64 letters, digits, dots, dashes or underscores")
    worker_type = app.config["QUEUE_WORKER_TYPE"].strip().lower()
    if worker_type not in WORKER_TYPES:
        raise ValueError(f"QUEUE_WORKER_TYPE must be one of {', '.join(WORKER_TYPES)}, not {worker_type!r}")
    app.config["QUEUE_WORKER_TYPE"] = worker_type
    # The session cookie goes to the provider's redirect back to us: Strict would drop it.
    if app.config["SESSION_COOKIE_SAMESITE"] not in ("Lax", "None"):
        raise ValueError("SESSION_COOKIE_SAMESITE must be Lax (or None) for the OAuth redirect to work")


def mail_endpoint(settings, protocol: str) -> Endpoint:
    """Return the configured IMAP or SMTP server, or raise ValueError naming the setting at fault.

    Converts a port written as text in place (OROFLASK_MICROSOFT_IMAP_PORT=" 993").
    """
    prefix = f"MICROSOFT_{protocol}_"
    port = settings[prefix + "PORT"]
    if isinstance(port, str) and port.strip().isdigit():
        port = settings[prefix + "PORT"] = int(port)
    security = settings[prefix + "SECURITY"].strip().lower()
    settings[prefix + "SECURITY"] = security
    try:
        return Endpoint(settings[prefix + "HOST"].strip(), port, security)
    except ValueError as error:
        raise ValueError(
            f"{prefix}HOST, {prefix}PORT and {prefix}SECURITY do not make a usable {protocol} server: {error}"
        ) from None


def public_url(value: str) -> str:
    """Return the address users reach the app at, without its final slash: empty, or
    http(s)://host[:port] with a path if the app is served under one."""
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or not port_ok
        or parts.query
        or parts.fragment
        or re.search(r"\s", value)
    ):
        raise ValueError(
            "PUBLIC_URL must be the address users reach the app at: http:// or https://, a host name, "
            f"a port and a path if needed (such as https://mail.example.com), not {value[:100]!r}"
        )
    return value.rstrip("/")


def trusted_hosts(value) -> list[str] | None:
    """Return the host names requests may name, from a list or a comma-separated text; None: any."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not value:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(host, str) for host in value):
        raise ValueError("TRUSTED_HOSTS must be a list of host names, or host names separated by commas")
    return [host.strip().lower() for host in value]


def queue_url(value: str) -> str:
    """Return the task queue's address: empty (a SQLite file in the instance folder), a Redis URL or
    a PostgreSQL URL that names its database.

    The errors name only the scheme: the rest of the URL may hold a password.
    """
    value = value.strip()
    if not value:
        return ""
    scheme = value.partition(":")[0].lower() if ":" in value else ""
    if scheme not in QUEUE_SCHEMES:
        named = (
            f"a URL of the scheme {scheme!r}"
            if re.fullmatch(r"[a-z][a-z0-9+.-]{0,19}", scheme)
            else "something that is not a URL"
        )
        raise ValueError(
            "QUEUE_URL must be empty (a SQLite queue in the instance folder), a Redis URL "
            f"(redis://, rediss:// or unix://) or a PostgreSQL URL (postgresql://), not {named}"
        )
    if scheme in POSTGRESQL_QUEUE_SCHEMES:
        try:
            parts = urlsplit(value)
            parts.port
        except ValueError:
            raise ValueError("QUEUE_URL names its PostgreSQL server wrongly: not a host and a port number") from None
        if not parts.path.strip("/") or "/" in parts.path.strip("/"):
            raise ValueError(
                "QUEUE_URL must name the PostgreSQL database after the server: "
                "postgresql://user:password@host:5432/database"
            )
    return value


def http_deadline(value) -> float:
    """Return the seconds one call to Microsoft may take in all, from a number or its text."""
    seconds = None
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except ValueError:
            pass
    if seconds is None or not 0 < seconds <= MAX_HTTP_DEADLINE:
        raise ValueError(
            f"MICROSOFT_HTTP_DEADLINE must be a number of seconds above 0 and at most {MAX_HTTP_DEADLINE}, "
            f"not {value!r}"
        )
    return seconds


def proxy_hops(value) -> dict[str, int]:
    """Return how many proxies' X-Forwarded-* headers to trust, header by header (0: none).

    A number counts hops of X-Forwarded-For and -Proto; an object names each header
    ({"x_for": 1, "x_proto": 1, "x_host": 1}).
    """
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return {name: value if name in PROXY_HEADERS_OF_A_NUMBER else 0 for name in PROXY_HEADERS}
    if isinstance(value, dict) and set(value) <= set(PROXY_HEADERS) and all(
        isinstance(hops, int) and not isinstance(hops, bool) and hops >= 0 for hops in value.values()
    ):
        return {name: value.get(name, 0) for name in PROXY_HEADERS}
    raise ValueError(
        "PROXY_FIX must be a number of proxies (0: none), or an object of numbers whose keys are "
        + ", ".join(PROXY_HEADERS)
    )


def read_or_create(path: Path, generate) -> str:
    """Return the text kept in `path`, creating it once (mode 0600) when missing.

    Several workers may start at the same moment: the file is written under a temporary
    name and linked into place, so exactly one value wins and every process reads it.
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(generate() + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text().strip()
