"""What the provider remembers while it runs: codes, grants, tokens, test knobs and counters."""

import threading
import time
from dataclasses import dataclass, field

from .directory import User

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


@dataclass
class AuthorizationCode:
    """A code issued at the authorize endpoint, waiting for its single redemption."""

    client_id: str
    tenant_key: str
    tid: str
    user: User
    redirect_uri: str
    scopes: list[str]
    nonce: str | None
    code_challenge: str
    issued_at: float
    redeemed: bool = False


@dataclass(eq=False)
class Grant:
    """A user's consent to a client, which every refresh token rotated from one sign-in shares."""

    client_id: str
    user: User
    tid: str
    scopes: list[str]
    issued_at: float = field(default_factory=time.time)
    revoked: bool = False
    expired: bool = False


@dataclass
class AccessToken:
    """What an issued access token stands for, so a fake mail server can check it."""

    client_id: str
    user: User | None
    tid: str
    scopes: list[str]
    expires_at: float
    revoked: bool = False

    def is_live(self) -> bool:
        """Tell whether the token is neither revoked nor past its expiry."""
        return not self.revoked and self.expires_at > time.time()


@dataclass
class Behaviour:
    """Knobs tests turn at runtime through /_devidp/behaviour."""

    token_delay: float | None = None
    token_status: int | None = None
    id_token: str | None = None
    granted_scopes: str | None = None
    authorize_error: dict | None = None
    expires_in: int | None = None


@dataclass
class State:
    """Everything mutable, guarded by one lock: the server answers requests on many threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    behaviour: Behaviour = field(default_factory=Behaviour)
    token_requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GRANT_TYPES, 0))
    authorize_requests: int = 0
    last_authorize_params: dict | None = None

    def reset(self) -> None:
        """Forget codes, tokens, knobs and counters."""
        with self.lock:
            self.codes.clear()
            self.refresh_tokens.clear()
            self.access_tokens.clear()
            self.behaviour = Behaviour()
            self.token_requests = dict.fromkeys(GRANT_TYPES, 0)
            self.authorize_requests = 0
            self.last_authorize_params = None

    def count_authorize(self, params: dict) -> None:
        """Record that a browser arrived at the authorize endpoint with these parameters."""
        with self.lock:
            self.authorize_requests += 1
            self.last_authorize_params = params

    def count_token(self, grant_type: str) -> None:
        """Record a request that reached the token endpoint."""
        with self.lock:
            if grant_type in self.token_requests:
                self.token_requests[grant_type] += 1

    def knobs(self) -> Behaviour:
        """Return a copy of the current knobs."""
        with self.lock:
            return Behaviour(**vars(self.behaviour))

    def take_authorize_error(self) -> dict | None:
        """Return the error a test asked the next Accept to give, and forget it."""
        with self.lock:
            error, self.behaviour.authorize_error = self.behaviour.authorize_error, None
            return error
