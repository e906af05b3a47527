"""The compose form: From, To, Cc, Bcc, Subject, the text and attachments; and the test message's button."""

import re
from email.utils import getaddresses

from flask_wtf import FlaskForm
from wtforms import HiddenField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from ..forms import Form, no_control_characters

LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
ADDRESS = re.compile(rf"^[^@\s<>(),;:\"\[\]\\]+@{LABEL}(?:\.{LABEL})+$")
MAX_RECIPIENTS = 500
# The text of a message may hold line breaks and tabs; no other control character.
BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def addresses(text: str) -> list[str]:
    """Return the addresses of a field as typed ("Alex <alex@x.com>; lee@x.com"), in order."""
    return [address for _, address in getaddresses([(text or "").replace(";", ",")]) if address]


def valid_addresses(form, field) -> None:
    """Refuse a field that holds something other than e-mail addresses, naming the first such entry."""
    text = (field.data or "").strip()
    if not text:
        return
    # getaddresses would keep quoted commas inside a name; such names are rare in a typed field.
    entries = [entry.strip() for entry in re.split(r"[,;]", text) if entry.strip()]
    for entry in entries:
        found = addresses(entry)
        if len(found) != 1 or not ADDRESS.match(found[0]):
            raise ValidationError(f"{entry} is not an e-mail address.")
    if len(entries) > MAX_RECIPIENTS:
        raise ValidationError(f"At most {MAX_RECIPIENTS} addresses.")


def plain_text(form, field) -> None:
    """Refuse a text that holds control characters other than line breaks and tabs."""
    if BODY_CONTROL.search(field.data or ""):
        raise ValidationError("The text holds control characters, which are not allowed; type or paste it again.")


class ComposeForm(FlaskForm):
    """A message to send; `mailbox` choices are the mailboxes the user may send from."""

    mailbox = SelectField("From", coerce=int, validate_choice=True)
    to = StringField("To", [no_control_characters, Length(max=20000), valid_addresses])
    cc = StringField("Cc", [no_control_characters, Length(max=20000), valid_addresses])
    bcc = StringField("Bcc", [no_control_characters, Length(max=20000), valid_addresses])
    subject = StringField("Subject", [no_control_characters, Length(max=900)])
    body = TextAreaField("Message", [plain_text, Length(max=2_000_000)], render_kw={"rows": 12})
    attachments = MultipleFileField("Attachments")
    # A reply's threading headers, and the message a forward takes its attachments from.
    in_reply_to = HiddenField(validators=[no_control_characters, Length(max=300)])
    references = HiddenField(validators=[no_control_characters, Length(max=10000)])
    forward_of = HiddenField(validators=[no_control_characters, Length(max=20)])

    def validate_to(self, field) -> None:
        """Ask for a recipient in To, Cc or Bcc."""
        if not any((part.data or "").strip() for part in (self.to, self.cc, self.bcc)):
            raise ValidationError("Enter at least one recipient in To, Cc or Bcc.")


class TestMessageForm(Form):
    """Send a test message to myself: a button."""
