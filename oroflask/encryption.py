"""Encryption at rest of client secrets and tokens (Fernet, several keys for rotation)."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class UndecryptableError(Exception):
    """A stored value cannot be decrypted with any configured key."""


def _cipher() -> MultiFernet:
    keys = current_app.config["ENCRYPTION_KEYS"]
    cache = current_app.extensions.setdefault("oroflask.encryption", {})
    if cache.get("keys") != keys:
        cache["keys"] = keys
        cache["cipher"] = MultiFernet(
            [Fernet(key.strip()) for key in keys.replace(",", "\n").split() if key.strip()]
        )
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
