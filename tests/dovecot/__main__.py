"""Run the test Dovecot by hand: python -m tests.dovecot [--identity-provider URL] (as root).

Logins are decided by the local identity provider (python -m oroflask.devidp) at the given URL.
Prints the ports and the CA file to trust, and serves until Ctrl-C.
"""

import argparse
import signal
import sys

from .server import Dovecot, DovecotUnavailable


def main(argv: list[str] | None = None) -> None:
    """Start Dovecot on free loopback ports, say where, and stop it on Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.dovecot", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--identity-provider",
        default="http://127.0.0.1:5001",
        metavar="URL",
        help="the local identity provider that checks tokens (default http://127.0.0.1:5001)",
    )
    parser.add_argument(
        "--capabilities",
        choices=["exchange", "full"],
        default="exchange",
        help="exchange hides CONDSTORE, QRESYNC and ESEARCH as Exchange Online does; full advertises them",
    )
    parser.add_argument(
        "--plain-password",
        metavar="WORD",
        help="also let any user log in over PLAIN with this password (for clients without XOAUTH2)",
    )
    args = parser.parse_args(argv)
    server = Dovecot(
        f"{args.identity_provider.rstrip('/')}/_devidp/introspect",
        capabilities=args.capabilities,
        plain_password=args.plain_password,
    )
    try:
        server.start()
    except DovecotUnavailable as error:
        server.stop()
        sys.exit(f"Cannot start Dovecot: {error}")
    print(
        "Dovecot for trying mailboxes (tokens checked by the identity provider at "
        f"{args.identity_provider}):\n"
        f"  IMAP, TLS:         localhost:{server.imaps_port}\n"
        f"  IMAP, STARTTLS:    localhost:{server.imap_port}\n"
        f"  SMTP, STARTTLS:    localhost:{server.submission_port}\n"
        f"  LMTP (delivery):   localhost:{server.lmtp_port}\n"
        f"  CA file to trust:  {server.ca_file}\n"
        f"  Log:               {server.folder / 'dovecot.log'}\n"
        "Press Ctrl-C to stop; the folder is removed.",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
