"""Configuration defaults and the keys that are generated once into the instance folder."""

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from flask import Flask

SECRET_KEY_FILE = "secret_key"
ENCRYPTION_KEYS_FILE = "encryption.keys"
DATABASE_FILE = "oroflask.sqlite"
ENVIRONMENT_PREFIX = "OROFLASK"

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
)


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
        "PUBLIC_URL": "",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": None,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": None,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "MAX_CONTENT_LENGTH": 64 * 1024,
        "LOGIN_FAILURES_ALLOWED": 5,
        "LOGIN_FAILURE_WINDOW_SECONDS": 15 * 60,
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
        app.config["ENCRYPTION_KEYS"] = read_or_create(
            instance / ENCRYPTION_KEYS_FILE, lambda: Fernet.generate_key().decode()
        )
    app.config["PUBLIC_URL"] = app.config["PUBLIC_URL"].rstrip("/")
    secure = app.config["PUBLIC_URL"].startswith("https://")
    for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if app.config[key] is None:
            app.config[key] = secure
    # The session cookie goes to the provider's redirect back to us: Strict would drop it.
    if app.config["SESSION_COOKIE_SAMESITE"] not in ("Lax", "None"):
        raise ValueError("SESSION_COOKIE_SAMESITE must be Lax (or None) for the OAuth redirect to work")


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
