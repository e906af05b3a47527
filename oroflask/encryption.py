"""Encryption at rest of client secrets and tokens (Fernet, several keys for rotation), and
`flask --app wsgi rotate-key`, which adds a key and re-encrypts every stored value with it.

Keys kept in instance/encryption.keys are re-read whenever the file changes, so a rotation
reaches running workers without a restart. Keys given in OROFLASK_ENCRYPTION_KEYS (or
instance/config.py) are read at start only.
"""

import os
import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import click
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select, update

from .config import ENCRYPTION_KEYS_SOURCE
from .extensions import db

ENCRYPTED_SUFFIX = "_encrypted"


class UndecryptableError(Exception):
    """A stored value cannot be decrypted with any configured key."""


def init_app(app: Flask) -> None:
    """Register `flask --app wsgi rotate-key`."""
    app.cli.add_command(rotate_key)


def keys_file() -> Path | None:
    """Return the file the keys come from, or None when they are configured (environment, config.py)."""
    return current_app.extensions.get(ENCRYPTION_KEYS_SOURCE)


def configured_keys() -> list[str]:
    """Return the keys in force, the encrypting one first; re-read the keys file when it changed."""
    path = keys_file()
    if path is not None:
        _follow(path)
    return split_keys(current_app.config["ENCRYPTION_KEYS"])


def split_keys(text: str) -> list[str]:
    """Return the keys of a text that separates them with commas or new lines."""
    return [key.strip() for key in text.replace(",", "\n").split() if key.strip()]


def _follow(path: Path) -> None:
    cache = current_app.extensions.setdefault("oroflask.encryption", {})
    try:
        status = path.stat()
    except FileNotFoundError:
        return  # keep the keys read before: a missing file must not stop decryption
    seen = (status.st_ino, status.st_mtime_ns, status.st_size)
    if cache.get("file") == seen:
        return
    keys = split_keys(path.read_text())
    try:
        for key in keys:
            Fernet(key)
    except ValueError:
        keys = []
    if keys:  # else it is being written by hand: keep the keys read before, and look again
        current_app.config["ENCRYPTION_KEYS"] = "\n".join(keys)
        cache["file"] = seen


def _cipher() -> MultiFernet:
    keys = configured_keys()
    cache = current_app.extensions.setdefault("oroflask.encryption", {})
    if cache.get("keys") != keys:
        cache["keys"] = keys
        cache["cipher"] = MultiFernet([Fernet(key) for key in keys])
    return cache["cipher"]


def encrypt(plaintext: str) -> str:
    """Encrypt `plaintext` with the first configured key."""
    return _cipher().encrypt(plaintext.encode()).decode("ascii")


def decrypt(ciphertext: str) -> str:
    """Decrypt a value written by `encrypt`, with whichever configured key made it."""
    try:
        return _cipher().decrypt(ciphertext.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as error:
        raise UndecryptableError(
            "a stored secret cannot be decrypted with the configured encryption keys"
        ) from error


@dataclass(frozen=True)
class Reencrypted:
    """What a re-encryption did: values now under the first key, values no key could read."""

    count: int
    undecryptable: int


def reencrypt_all() -> Reencrypted:
    """Re-encrypt every stored value (each column named *_encrypted) with the first key, at once.

    Each value is replaced only if it is still the one read (compare-and-swap), so that a token
    a worker refreshes meanwhile is re-read rather than overwritten with its predecessor.
    """
    cipher = _cipher()
    outcomes: Counter[str] = Counter()
    try:
        for table in db.metadata.sorted_tables:
            columns = [column for column in table.columns if column.name.endswith(ENCRYPTED_SUFFIX)]
            if not columns:
                continue
            keys = list(table.primary_key.columns)
            for row in db.session.execute(select(*keys)).all():
                where = [key == value for key, value in zip(keys, row, strict=True)]
                for column in columns:
                    outcomes[_reencrypt_value(cipher, table, column, where)] += 1
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return Reencrypted(outcomes["done"], outcomes["undecryptable"])


def _reencrypt_value(cipher: MultiFernet, table, column, where) -> str:
    while True:
        value = db.session.execute(select(column).where(*where)).scalar_one_or_none()
        if value is None:
            return "empty"
        try:
            rotated = cipher.rotate(value.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            return "undecryptable"
        replaced = db.session.execute(
            update(table).where(*where, column == value).values({column.name: rotated})
        ).rowcount
        if replaced:
            return "done"


def write_keys(path: Path, keys: list[str]) -> None:
    """Replace the keys file in one step (mode 0600), so that no worker reads half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write("\n".join(keys) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@click.command("rotate-key")
@click.option(
    "--reencrypt",
    "mode",
    flag_value="reencrypt",
    help="Add no key: re-encrypt every stored value with the first configured key.",
)
@click.option(
    "--drop-old",
    "mode",
    flag_value="drop-old",
    help="Re-encrypt every stored value with the first key, then remove every other key.",
)
@with_appcontext
def rotate_key(mode: str | None) -> None:
    """Add a new encryption key and re-encrypt every stored secret and token with it.

    The old keys keep decrypting until --drop-old removes them.
    """
    keys = configured_keys()
    path = keys_file()
    if mode == "drop-old":
        _drop_old(keys, path)
    elif mode == "reencrypt":
        _report(reencrypt_all())
    elif path is None:
        _tell_to_configure([Fernet.generate_key().decode(), *keys], then="rotate-key --reencrypt")
    else:
        write_keys(path, [Fernet.generate_key().decode(), *keys])
        click.echo(
            f"Added a new first key to {path} ({len(keys) + 1} keys: the first encrypts, all decrypt)."
        )
        try:
            _report(reencrypt_all())
        except Exception as error:
            raise click.ClickException(
                f"The stored values could not be re-encrypted ({type(error).__name__}); the new key "
                "is in place and the old ones still decrypt. Run `flask --app wsgi rotate-key "
                "--reencrypt` to try again."
            ) from None
        click.echo(
            "Running workers read the new key list by themselves. Back up the keys file, then "
            "remove the old keys with `flask --app wsgi rotate-key --drop-old`."
        )


def _drop_old(keys: list[str], path: Path | None) -> None:
    if len(keys) == 1:
        click.echo("There is only one key: nothing to remove.")
        return
    _report(reencrypt_all())
    if path is None:
        _tell_to_configure(keys[:1], then=None)
        return
    write_keys(path, keys[:1])
    click.echo(f"Removed {len(keys) - 1} old key(s) from {path}; the first key remains.")


def _report(outcome: Reencrypted) -> None:
    click.echo(f"Re-encrypted {outcome.count} stored secret(s) and token(s) with the first key.")
    if outcome.undecryptable:
        click.echo(
            f"Warning: {outcome.undecryptable} stored value(s) cannot be decrypted with any configured "
            "key and were left as they are: enter the client secret again, or Reconnect.",
            err=True,
        )


def _tell_to_configure(keys: list[str], then: str | None) -> None:
    source = (
        "OROFLASK_ENCRYPTION_KEYS"
        if "OROFLASK_ENCRYPTION_KEYS" in os.environ
        else "ENCRYPTION_KEYS of the configuration (instance/config.py)"
    )
    click.echo(
        f"The encryption keys come from {source}, which this command cannot change: nothing was "
        "changed. Set it, for every worker and for this command, to:\n\n"
        f"OROFLASK_ENCRYPTION_KEYS={','.join(keys)}\n\n"
        "then restart the workers (a gunicorn HUP replaces them without dropping a request)"
        + (f", then run `flask --app wsgi {then}`." if then else ".")
    )
