"""The signing key, the JWKS that publishes it, and the id_tokens signed with it."""

import base64
import hashlib
import secrets
import threading
import time
import uuid

from joserfc import jwt
from joserfc.jwk import RSAKey

from .directory import User

ID_TOKEN_LIFETIME = 3600
# Ways a test can spoil id_tokens, each failing one check a relying party must make.
TAMPERINGS = ("nonce", "issuer", "audience", "signature", "expired")


class Signer:
    """One RSA key per process, published in the JWKS and used for every id_token."""

    def __init__(self):
        self.key = RSAKey.generate_key(2048, parameters={"use": "sig"}, auto_kid=True)
        self._impostor = None
        self._lock = threading.Lock()

    @property
    def kid(self) -> str:
        """Return the key ID that id_token headers carry."""
        return self.key.kid

    def jwks(self, issuer: str) -> dict:
        """Return the public JWKS, each key naming the issuer it signs for as Microsoft's do."""
        return {"keys": [{**self.key.as_dict(private=False), "issuer": issuer}]}

    def sign(self, claims: dict, forged: bool = False) -> str:
        """Return the claims as an RS256 JWT; a forged one is signed by another key under the same kid."""
        key = self._impostor_key() if forged else self.key
        return jwt.encode({"alg": "RS256", "kid": self.kid}, claims, key)

    def _impostor_key(self) -> RSAKey:
        # Generated only when a test asks for a bad signature: key generation is slow.
        with self._lock:
            if self._impostor is None:
                self._impostor = RSAKey.generate_key(2048, parameters={"use": "sig", "kid": self.kid})
            return self._impostor


def id_token(
    signer: Signer,
    *,
    base_url: str,
    client_id: str,
    user: User,
    tid: str,
    scopes: list[str],
    nonce: str | None,
    tampering: str | None,
) -> str:
    """Return a v2.0 id_token for the user, spoiled as the tampering knob asks."""
    now = int(time.time())
    claims = {
        "aud": client_id,
        "iss": f"{base_url}/{tid}/v2.0",
        "iat": now,
        "nbf": now,
        "exp": now + ID_TOKEN_LIFETIME,
        "oid": user.oid,
        "sub": _pairwise_subject(user, client_id),
        "tid": tid,
        "uti": secrets.token_urlsafe(16),
        "ver": "2.0",
    }
    if "profile" in scopes:
        claims.update(name=user.name, preferred_username=user.email)
    if "email" in scopes:
        claims["email"] = user.email
    if nonce is not None:
        claims["nonce"] = nonce
    if tampering == "nonce":
        claims["nonce"] = "not-" + secrets.token_urlsafe(12)
    elif tampering == "issuer":
        claims["iss"] = f"{base_url}/{uuid.uuid4()}/v2.0"
    elif tampering == "audience":
        claims["aud"] = str(uuid.uuid4())
    elif tampering == "expired":
        claims.update(iat=now - 2 * ID_TOKEN_LIFETIME, nbf=now - 2 * ID_TOKEN_LIFETIME, exp=now - ID_TOKEN_LIFETIME)
    return signer.sign(claims, forged=tampering == "signature")


def opaque_token() -> str:
    """Return a random value for a code, an access token or a refresh token."""
    return secrets.token_urlsafe(48)


def s256(code_verifier: str) -> str:
    """Return the S256 code_challenge of a PKCE code_verifier."""
    digest = hashlib.sha256(code_verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _pairwise_subject(user: User, client_id: str) -> str:
    # Microsoft's sub differs per application for the same user; oid does not.
    digest = hashlib.sha256(f"{user.oid}:{client_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
