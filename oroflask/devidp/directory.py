"""The tenants, app registrations and users the dev identity provider knows."""

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .errors import AadstsError

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
KEYWORDS = ("common", "organizations", "consumers")
# Microsoft's tenant of personal accounts: the issuer of the /consumers metadata.
CONSUMERS_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"

DEFAULT_TENANT_ID = "5f1c9a2e-7b3d-4e8a-9c61-2d4b8f0e3a71"
DEFAULT_CLIENT_ID = "0d6c3b8e-4a1f-4f2b-8e7d-9b5a1c3e6f20"
DEFAULT_SECRET_ID = "a8e4f1c2-3b7d-4d95-b6a0-7c1e2f9d4b38"
DEFAULT_SECRET_VALUE = "Dev8Q~oroflask.devidp.LocalSecret_Value1"

DEFAULT_CONFIG = {
    "tenants": [
        {"id": DEFAULT_TENANT_ID, "name": "Contoso (dev)", "domains": ["contoso.onmicrosoft.com"]},
    ],
    "clients": [
        {
            "client_id": DEFAULT_CLIENT_ID,
            "name": "oroflask (dev)",
            "tenant": DEFAULT_TENANT_ID,
            "multi_tenant": False,
            "secrets": [{"id": DEFAULT_SECRET_ID, "value": DEFAULT_SECRET_VALUE, "expires": "2099-01-01"}],
            "redirect_uris": [
                "http://127.0.0.1:5000/oauth/microsoft/callback",
                "http://localhost:5000/oauth/microsoft/callback",
            ],
        },
    ],
    "users": [
        {
            "email": "adele@contoso.onmicrosoft.com",
            "name": "Adele Vance",
            "oid": "3c2a7e91-5d4b-4f8e-a1c6-8b0d2e7f4a59",
            "tenant": DEFAULT_TENANT_ID,
        },
        {
            "email": "alex@contoso.onmicrosoft.com",
            "name": "Alex Wilber",
            "oid": "9e7b1d3c-2f6a-4c8d-b5e0-1a4f7c9d2e63",
            "tenant": DEFAULT_TENANT_ID,
        },
        {
            "email": "lee@contoso.onmicrosoft.com",
            "name": "Lee Gu",
            "oid": "b2d4f6a8-1c3e-4a5b-9d7f-0e2c4b6d8f13",
            "tenant": DEFAULT_TENANT_ID,
            "imap_enabled": False,
        },
    ],
    # Mailboxes nobody signs in to; the accounts in full_access open them with their own tokens,
    # and those in send_as may send mail from their address.
    "shared_mailboxes": [
        {
            "email": "sales@contoso.onmicrosoft.com",
            "name": "Sales",
            "tenant": DEFAULT_TENANT_ID,
            "full_access": ["adele@contoso.onmicrosoft.com"],
            "send_as": ["adele@contoso.onmicrosoft.com"],
        },
    ],
    "expires_in": 3599,
    "code_lifetime": 600,
}


@dataclass(frozen=True)
class Tenant:
    """A directory: its GUID, a display name and its verified domains."""

    id: str
    name: str
    domains: tuple[str, ...]


@dataclass(frozen=True)
class Secret:
    """A client secret as Azure shows it: a Secret ID, a Value, an expiry."""

    id: str
    value: str = field(repr=False)
    expires: datetime

    def is_expired(self) -> bool:
        """Tell whether the secret has passed its expiry."""
        return datetime.now(timezone.utc) >= self.expires


@dataclass(frozen=True)
class Client:
    """An app registration."""

    client_id: str
    name: str
    tenant: str
    multi_tenant: bool
    secrets: tuple[Secret, ...]
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True)
class User:
    """A work account that can sign in, and its own mailbox."""

    email: str
    name: str
    oid: str
    tenant: str
    imap_enabled: bool = True
    smtp_auth_enabled: bool = True


@dataclass(frozen=True)
class SharedMailbox:
    """A mailbox without an account of its own, opened by the users given Full Access to it, and
    sent from by those given Send As."""

    email: str
    name: str
    tenant: str
    full_access: tuple[str, ...]
    send_as: tuple[str, ...] = ()
    imap_enabled: bool = True
    smtp_auth_enabled: bool = True


# What a mail server may be asked to open a mailbox for, and the switch of the mailbox that allows it.
PROTOCOL_SWITCHES = {"imap": "imap_enabled", "smtp": "smtp_auth_enabled"}
PROTOCOL_SCOPES = {
    "imap": "https://outlook.office.com/IMAP.AccessAsUser.All",
    "smtp": "https://outlook.office.com/SMTP.Send",
}


@dataclass(frozen=True)
class TenantPath:
    """The tenant segment of a request's path, resolved: a keyword or one known tenant."""

    segment: str
    keyword: str | None
    tenant: Tenant | None

    @property
    def key(self) -> str:
        """Return what a code remembers of where it was issued: the tenant GUID or the keyword."""
        return self.tenant.id if self.tenant else self.keyword


class Directory:
    """Everything the provider knows about tenants, app registrations and users; read-only."""

    def __init__(self, config: dict | None = None):
        unknown = set(config or {}) - set(DEFAULT_CONFIG)
        if unknown:
            raise ValueError(f"Unknown dev identity provider settings: {', '.join(sorted(unknown))}")
        merged = copy.deepcopy(DEFAULT_CONFIG)
        merged.update(copy.deepcopy(config or {}))
        self.tenants = tuple(_tenant(entry) for entry in merged["tenants"])
        self.clients = tuple(_client(entry) for entry in merged["clients"])
        self.users = tuple(_user(entry) for entry in merged["users"])
        self.shared_mailboxes = tuple(_shared_mailbox(entry) for entry in merged["shared_mailboxes"])
        self.expires_in = int(merged["expires_in"])
        self.code_lifetime = int(merged["code_lifetime"])
        known = {tenant.id for tenant in self.tenants}
        for owner, tenant_id in [(c.client_id, c.tenant) for c in self.clients] + [
            (u.email, u.tenant) for u in self.users
        ] + [(m.email, m.tenant) for m in self.shared_mailboxes]:
            if tenant_id not in known:
                raise ValueError(f"{owner} belongs to a tenant that is not configured: {tenant_id}")

    def resolve(self, segment: str) -> TenantPath:
        """Return the tenant a path segment names, or raise the error Microsoft gives for it."""
        value = segment.lower()
        if value in KEYWORDS:
            return TenantPath(segment, value, None)
        if not GUID.match(value) and not DOMAIN.match(value):
            raise AadstsError(
                900023,
                "invalid_request",
                f"Specified tenant identifier '{segment}' is neither a valid DNS name, "
                "nor a valid external domain.",
            )
        for tenant in self.tenants:
            if value == tenant.id or value in tenant.domains:
                return TenantPath(segment, None, tenant)
        raise AadstsError(
            90002,
            "invalid_tenant",
            f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud.",
        )

    def tenant(self, tenant_id: str) -> Tenant:
        """Return the tenant with this GUID."""
        return next(tenant for tenant in self.tenants if tenant.id == tenant_id)

    def client(self, client_id: str, path: TenantPath, grant_type: str | None = None) -> Client:
        """Return the app registration usable at this tenant path, or raise Microsoft's error."""
        client = next((c for c in self.clients if c.client_id == client_id.lower()), None)
        directory = path.tenant.name if path.tenant else path.segment
        if client is None or (path.tenant and path.tenant.id != client.tenant and not client.multi_tenant):
            raise AadstsError(
                700016,
                "unauthorized_client",
                f"Application with identifier '{client_id}' was not found in the directory '{directory}'. "
                "This can happen if the application has not been installed by the administrator of the "
                "tenant or consented to by any user in the tenant. You might have sent your "
                "authentication request to the wrong tenant.",
            )
        if path.keyword == "consumers":
            raise AadstsError(
                9002332,
                "invalid_request",
                f"Application '{client.client_id}'({client.name}) is configured for use by Microsoft "
                "Entra users only. Please do not use the /consumers endpoint to serve this request.",
            )
        if path.keyword and not client.multi_tenant:
            raise AadstsError(
                50194,
                "invalid_request",
                f"Application '{client.client_id}'({client.name}) is not configured as a multi-tenant "
                f"application. Usage of the /{path.keyword} endpoint is not supported for such "
                "applications created after '10/15/2018'. Use a tenant-specific endpoint or configure "
                "the application to be multi-tenant.",
            )
        return client

    def user(self, email: str) -> User | None:
        """Return the user with this email address, in any tenant."""
        return next((user for user in self.users if user.email == email.strip().lower()), None)

    def mailbox_refusal(self, owner: User, address: str, protocol: str, scopes: list[str]) -> str | None:
        """Return why a token of `owner` may not open the mailbox at `address` over `protocol`, or None."""
        address = address.strip().lower()
        mailbox = self.user(address) if address == owner.email else None
        if mailbox is None:
            mailbox = next((m for m in self.shared_mailboxes if m.email == address), None)
            if mailbox is None:
                return "no such mailbox" if self.user(address) is None else "another user's mailbox"
            if owner.email not in mailbox.full_access:
                return "no Full Access"
        if not getattr(mailbox, PROTOCOL_SWITCHES[protocol]):
            return "IMAP disabled" if protocol == "imap" else "SMTP AUTH disabled"
        if PROTOCOL_SCOPES[protocol] not in scopes:
            return "permission not granted"
        return None

    def may_send_as(self, owner: User, address: str) -> bool:
        """Tell whether a token of `owner` may send mail from `address`: its own, or one it has Send As on."""
        address = address.strip().lower()
        if address == owner.email:
            return True
        mailbox = next((m for m in self.shared_mailboxes if m.email == address), None)
        return mailbox is not None and owner.email in mailbox.send_as

    def accounts(self, path: TenantPath) -> tuple[User, ...]:
        """Return the users who may sign in at this tenant path."""
        if path.tenant:
            return tuple(user for user in self.users if user.tenant == path.tenant.id)
        return self.users


def _guid(value: str, what: str) -> str:
    value = str(value).lower()
    if not GUID.match(value):
        raise ValueError(f"{what} must be a GUID, not {value!r}")
    return value


def _tenant(entry: dict) -> Tenant:
    domains = tuple(domain.lower() for domain in entry.get("domains", ()))
    tenant_id = _guid(entry["id"], "A tenant id")
    return Tenant(tenant_id, entry.get("name") or (domains[0] if domains else tenant_id), domains)


def _client(entry: dict) -> Client:
    client_id = _guid(entry["client_id"], "A client_id")
    redirect_uris = entry.get("redirect_uris", ())
    if isinstance(redirect_uris, str):
        raise ValueError("redirect_uris is a list of exact URIs, as registered in Azure")
    return Client(
        client_id=client_id,
        name=entry.get("name") or client_id,
        tenant=_guid(entry["tenant"], "A client's tenant"),
        multi_tenant=bool(entry.get("multi_tenant", False)),
        secrets=tuple(_secret(secret) for secret in entry.get("secrets", ())),
        redirect_uris=tuple(redirect_uris),
    )


def _secret(entry: dict) -> Secret:
    moment = datetime.fromisoformat(entry.get("expires", "2099-01-01"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return Secret(_guid(entry["id"], "A secret's id"), entry["value"], moment)


def _user(entry: dict) -> User:
    return User(
        email=entry["email"].lower(),
        name=entry.get("name") or entry["email"],
        oid=_guid(entry["oid"], "A user's oid"),
        tenant=_guid(entry["tenant"], "A user's tenant"),
        imap_enabled=bool(entry.get("imap_enabled", True)),
        smtp_auth_enabled=bool(entry.get("smtp_auth_enabled", True)),
    )


def _shared_mailbox(entry: dict) -> SharedMailbox:
    full_access, send_as = entry.get("full_access", ()), entry.get("send_as", ())
    if isinstance(full_access, str) or isinstance(send_as, str):
        raise ValueError("full_access and send_as are lists of the users' email addresses")
    return SharedMailbox(
        email=entry["email"].lower(),
        name=entry.get("name") or entry["email"],
        tenant=_guid(entry["tenant"], "A shared mailbox's tenant"),
        full_access=tuple(email.lower() for email in full_access),
        send_as=tuple(email.lower() for email in send_as),
        imap_enabled=bool(entry.get("imap_enabled", True)),
        smtp_auth_enabled=bool(entry.get("smtp_auth_enabled", True)),
    )
