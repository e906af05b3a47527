"""Dovecot's checkpassword for XOAUTH2: ask the local identity provider whether the token may open
the mailbox being logged into, as Exchange Online decides. An SMTP login also records whether the
token may send as that mailbox (smtp-logins/<mailbox>), for the relay to refuse a message sent
without Send As as Exchange does.

Dovecot writes "mailbox\0token\0" on file descriptor 3 (512 bytes at most) and sets SERVICE (imap,
submission). Exit 1 refuses the login, 111 is a temporary failure; on success exec argv[1], the
checkpassword-reply program, with USER set. The provider's address is in checkpassword.json beside
this file. Standard library only: it runs under the system Python as Dovecot's auth user.
"""

import json
import os
import sys
import urllib.request

REFUSED = 1
TEMPORARY_FAILURE = 111


def main() -> int:
    """Check the login on fd 3; exec the reply program if the mailbox may be opened."""
    with os.fdopen(3, "rb") as channel:
        fields = channel.read(513).split(b"\0")
    if len(fields) < 2:
        return REFUSED
    mailbox, token = fields[0].decode("utf-8", "replace"), fields[1].decode("ascii", "replace")
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "checkpassword.json"), encoding="utf-8") as file:
        introspection_url = json.load(file)["introspection_url"]
    protocol = "smtp" if os.environ.get("SERVICE") == "submission" else "imap"
    request = urllib.request.Request(
        introspection_url,
        data=json.dumps({"access_token": token, "mailbox": mailbox, "protocol": protocol}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            answer = json.load(response)
    except (OSError, ValueError) as error:
        print(f"identity provider unreachable: {error.__class__.__name__}", file=sys.stderr)
        return TEMPORARY_FAILURE
    if not answer.get("active"):
        print(f"{mailbox}: token not live", file=sys.stderr)
        return REFUSED
    verdict = answer.get("mailbox") or {}
    if not verdict.get("allowed"):
        print(f"{mailbox}: refused for {answer.get('email')}: {verdict.get('refusal')}", file=sys.stderr)
        return REFUSED
    if protocol == "smtp":
        # Exchange decides Send As per message, after DATA: the relay refuses by this record.
        record = {"account": answer.get("email"), "send_as": bool(verdict.get("send_as"))}
        with open(os.path.join(here, "smtp-logins", mailbox.lower()), "w", encoding="utf-8") as file:
            json.dump(record, file)
    os.environ["USER"] = mailbox
    os.execv(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
