"""Run the dev identity provider: python -m oroflask.devidp [--host H] [--port P] [--config FILE]."""

import argparse
import ipaddress
import json
import logging
import sys
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from . import create_app
from .directory import DEFAULT_CONFIG


class PathOnlyRequestHandler(WSGIRequestHandler):
    """A request handler that logs the method and path only: query strings carry codes and tokens."""

    def log_request(self, code="-", size="-") -> None:
        """Log the method, the path without its query string, and the status."""
        self.log("info", '"%s %s" %s', self.command, urlsplit(self.path).path, code)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, print what to paste into the settings page, and serve until stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m oroflask.devidp",
        description="A local stand-in for the Microsoft identity platform v2.0, for development.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5001, help="port to listen on (default 5001)")
    parser.add_argument("--config", metavar="FILE", help="JSON file of tenants, clients and users")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        metavar="URI",
        help="a redirect URI to register on every client, instead of the configured ones (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        app = build_app(args.config, args.redirect_uri)
    except (OSError, KeyError, TypeError, ValueError) as error:
        parser.error(f"bad configuration: {error!r}")

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server = make_server(args.host, args.port, app, threaded=True, request_handler=PathOnlyRequestHandler)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(instructions(app, f"http://{host}:{server.server_port}"), flush=True)
    if not _is_loopback(args.host):
        print(
            f"WARNING: listening on {args.host}: anyone who reaches it can mint tokens through /_devidp/.",
            file=sys.stderr,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def build_app(config_file: str | None, redirect_uris: list[str] | None) -> Flask:
    """Create the provider from a JSON config file, its clients' redirect URIs replaced if given."""
    config = {}
    if config_file:
        with open(config_file, encoding="utf-8") as file:
            config = json.load(file)
    if redirect_uris:
        clients = config.get("clients", DEFAULT_CONFIG["clients"])
        config["clients"] = [{**client, "redirect_uris": redirect_uris} for client in clients]
    return create_app(config)


def instructions(app: Flask, base_url: str) -> str:
    """Return the values to paste into the settings page and the accounts that can sign in."""
    directory = app.extensions["devidp"].directory
    lines = [f"Dev identity provider (a stand-in for Microsoft Entra ID) at {base_url}", ""]
    for client in directory.clients:
        tenant = directory.tenant(client.tenant)
        secret = next((s for s in client.secrets if not s.is_expired()), None)
        lines += [
            f"App registration {client.name}:",
            f"  Application (Client) ID:  {client.client_id}",
            f"  Client Secret (Value):    {secret.value if secret else '(every secret has expired)'}",
            f"  Directory (tenant) ID:    {tenant.id}"
            + (f"  (or {', '.join(tenant.domains)})" if tenant.domains else ""),
            "  Redirect URIs:            " + ("\n" + " " * 28).join(client.redirect_uris or ["(none)"]),
            "",
        ]
    lines += [
        "Point the app at this provider instead of login.microsoftonline.com:",
        f"  OROFLASK_MICROSOFT_AUTHORITY={base_url}",
        "",
        "Accounts (pick one on the sign-in page, no password):",
        *(f"  {user.name} <{user.email}>{_switched_off(user)}" for user in directory.users),
        "",
        "Shared mailboxes (opened with the token of an account that has Full Access):",
        *(
            f"  {mailbox.name} <{mailbox.email}>, Full Access: {', '.join(mailbox.full_access) or 'nobody'}, "
            f"Send As: {', '.join(mailbox.send_as) or 'nobody'}{_switched_off(mailbox)}"
            for mailbox in directory.shared_mailboxes
        ),
        "",
        f"Metadata: {base_url}/{directory.tenants[0].id}/v2.0/.well-known/openid-configuration",
    ]
    return "\n".join(lines)


def _switched_off(mailbox) -> str:
    switches = (("IMAP", mailbox.imap_enabled), ("SMTP AUTH", mailbox.smtp_auth_enabled))
    off = [name for name, on in switches if not on]
    return f" ({' and '.join(off)} disabled)" if off else ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    main()
