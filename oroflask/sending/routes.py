"""Views of sending: the compose page (new, reply, reply all, forward), the outgoing message's
state that the page polls, and a mailbox's "Send a test message to myself"."""

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..extensions import csrf
from ..web import accepts_files
from ..htmx import is_htmx_request, redirect_to
from . import bp, service, tasks
from .forms import ComposeForm, TestMessageForm, addresses
from .models import OutgoingMessage

MEGABYTE = 1024 * 1024
# Room for the fields around the attachments in the upload.
FORM_ROOM = MEGABYTE


# The site-wide CSRF check reads the form before any view, under the small MAX_CONTENT_LENGTH of
# every other page: ComposeForm checks the token itself, after the upload's own limit is set.
@bp.route("/mail/compose", methods=["GET", "POST"])
@csrf.exempt
@accepts_files
@login_required
def compose():
    """Show the compose form (prefilled for a reply, reply all or forward); send it: queue and show its state."""
    limit_mb = current_app.config["MAIL_ATTACHMENT_MAX_MB"]
    if request.method == "POST":
        # Refused before a byte of the upload is read: the browser said how much is coming.
        request.max_content_length = limit_mb * MEGABYTE + FORM_ROOM
        if request.content_length is not None and request.content_length > request.max_content_length:
            return _too_large(limit_mb)
    mailboxes = service.sendable_mailboxes(current_user)
    chosen = _mailbox_argument(mailboxes)
    message = _message_argument()
    form = ComposeForm()
    form.mailbox.choices = [(mailbox.id, _label(mailbox)) for mailbox in mailboxes]
    forwarded = []
    if request.method == "GET":
        if chosen is not None:
            form.mailbox.data = chosen.id
        if message is not None:
            _prefill(form, message, request.args.get("mode", "reply"), chosen, mailboxes)
    if form.forward_of.data:
        original = service.message_for(current_user, _number(form.forward_of.data))
        if original is None:
            abort(404)
        forwarded = service.prefill(original, service.FORWARD, "").attachments
    if request.method == "POST" and form.validate():
        draft = _draft(form, forwarded, limit_mb)
        if draft is not None:
            mailbox = service.mailbox_for(current_user, form.mailbox.data)
            if mailbox is None or mailbox.grant_id is None:
                abort(404)
            outgoing = tasks.send(current_user, mailbox, draft)
            return redirect(url_for("sending.outgoing", outgoing_id=outgoing.id), 303)
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "sending/compose.html", form=form, mailboxes=mailboxes, forwarded=forwarded, limit_mb=limit_mb
        ),
        status,
    )


@bp.route("/mail/outbox/<int(max=2147483647):outgoing_id>")
@login_required
def outgoing(outgoing_id: int):
    """Show where a sent message is: queued, sending, sent, or the explained refusal; htmx polls the fragment."""
    message = service.outgoing_for(current_user, outgoing_id)
    if message is None:
        abort(404)
    finished = service.finished(message)
    template = "sending/_status.html" if is_htmx_request() else "sending/outgoing.html"
    response = current_app.make_response(render_template(template, message=message, finished=finished))
    response.vary.add("HX-Request")
    return response


@bp.route("/mail/mailboxes/<int(max=2147483647):mailbox_id>/test-message", methods=["POST"])
@login_required
def test_message(mailbox_id: int):
    """Send a test message from the mailbox to itself and time its arrival; show the poller."""
    mailbox = service.mailbox_for(current_user, mailbox_id)
    if mailbox is None or mailbox.grant_id is None:
        abort(404)
    if not TestMessageForm().validate_on_submit():
        return redirect_to(request.referrer or url_for("mailboxes.show"))
    message = tasks.send_round_trip(current_user, mailbox)
    if is_htmx_request():
        return render_template("sending/_status.html", message=message, finished=False)
    return redirect(url_for("sending.outgoing", outgoing_id=message.id), 303)


def _mailbox_argument(mailboxes):
    mailbox_id = request.args.get("mailbox", type=int)
    if "mailbox" in request.args and mailbox_id is None:
        abort(404)
    if mailbox_id is None:
        return None
    chosen = next((mailbox for mailbox in mailboxes if mailbox.id == mailbox_id), None)
    if chosen is None:
        abort(404)
    return chosen


def _message_argument():
    if "message" not in request.args:
        return None
    message = service.message_for(current_user, request.args.get("message", type=int))
    if message is None:
        abort(404)
    return message


def _prefill(form: ComposeForm, message, mode: str, chosen, mailboxes) -> None:
    if mode not in service.MODES:
        abort(404)
    sender = chosen or next((mailbox for mailbox in mailboxes if mailbox.id == message.mailbox_id), None)
    form.mailbox.data = sender.id if sender else None
    draft = service.prefill(message, mode, sender.address if sender else "")
    form.to.data = ", ".join(draft.to)
    form.cc.data = ", ".join(draft.cc)
    form.subject.data = draft.subject
    form.body.data = draft.body
    form.in_reply_to.data = draft.in_reply_to or ""
    form.references.data = draft.references or ""
    form.forward_of.data = str(message.id) if mode == service.FORWARD else ""


def _draft(form: ComposeForm, forwarded, limit_mb: int):
    attachments = list(forwarded)
    for upload in form.attachments.data or ():
        if not getattr(upload, "filename", ""):
            continue
        data = upload.read(limit_mb * MEGABYTE + 1)
        if len(data) > limit_mb * MEGABYTE:
            form.attachments.errors = [f"{upload.filename} is larger than {limit_mb} MB."]
            return None
        attachments.append(service.Attachment(upload.filename, upload.mimetype or "", data))
    if sum(len(attachment.data) for attachment in attachments) > limit_mb * MEGABYTE:
        form.attachments.errors = [f"The attachments together are larger than {limit_mb} MB."]
        return None
    return service.Draft(
        to=addresses(form.to.data),
        cc=addresses(form.cc.data),
        bcc=addresses(form.bcc.data),
        subject=(form.subject.data or "").strip(),
        body=form.body.data or "",
        in_reply_to=form.in_reply_to.data or None,
        references=form.references.data or None,
        attachments=attachments,
    )


def _too_large(limit_mb: int):
    return render_template("sending/too_large.html", limit_mb=limit_mb), 413


def _label(mailbox) -> str:
    if mailbox.label and mailbox.label != mailbox.address:
        return f"{mailbox.label} <{mailbox.address}>"
    return mailbox.address


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None
