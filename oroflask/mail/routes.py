"""Views of Mail: the list and search, its live poll, a conversation, a message's HTML body, inline
images, attachments and original, and the read and flag toggles."""

from io import BytesIO

from flask import Response, abort, make_response, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from ..htmx import is_htmx_request, redirect_to
from . import bp, render, service, tasks
from .forms import FlagForm

# The HTML body's own document: nothing runs, nothing loads but its inline images from here; opened
# on its own (not in its frame) it is sandboxed all the same.
BODY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:{remote}; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox allow-popups allow-popups-to-escape-sandbox"
)
# Files served from a message: never a document that runs anything, even opened directly.
FILE_POLICY = "default-src 'none'; sandbox"
FLAGS = {"read": service.SEEN, "flagged": service.FLAGGED}


@bp.route("/mail")
@login_required
def index():
    """List the conversations of the mailboxes the user may read, or the messages a search finds."""
    mailbox_id = request.args.get("mailbox", type=int)
    folder_id = request.args.get("folder", type=int)
    query = request.args.get("q", "").strip()[:500]
    after = request.args.get("after") or None
    places = service.places(current_user)
    if mailbox_id is not None and not any(place.mailbox.id == mailbox_id for place in places):
        abort(404)
    if folder_id is not None and not any(
        folder.id == folder_id for place in places for folder in place.folders
        if mailbox_id is None or place.mailbox.id == mailbox_id
    ):
        abort(404)
    if query:
        page = service.find(current_user, query, mailbox_id, folder_id, after)
    else:
        page = service.conversations(current_user, mailbox_id, folder_id, after)
    view = {
        "places": places,
        "page": page,
        "query": query,
        "mailbox_id": mailbox_id,
        "folder_id": folder_id,
        "since": service.top_key(page),
        "paged": bool(after),
        "mailbox_page": lambda mailbox: service.mailbox_page(mailbox, current_user),
        "highlight": service.highlight,
    }
    if is_htmx_request() and after:
        return render_template("mail/_rows.html", **view)
    return render_template("mail/index.html", **view)


@bp.route("/mail/poll")
@login_required
def poll():
    """Answer 204 while no conversation moved above `since`, else their rows for the top of the list.

    The rows the user loaded with More stay; a conversation's older row goes (static/js/mail.js).
    More than a page of them: the list is shown afresh.
    """
    mailbox_id = request.args.get("mailbox", type=int)
    folder_id = request.args.get("folder", type=int)
    page = service.conversations_since(current_user, request.args.get("since"), mailbox_id, folder_id)
    if not page.rows:
        return Response(status=204)
    view = {
        "places": service.places(current_user),
        "query": "",
        "paged": False,
        "mailbox_id": mailbox_id,
        "folder_id": folder_id,
        "mailbox_page": lambda mailbox: service.mailbox_page(mailbox, current_user),
        "highlight": service.highlight,
    }
    if page.after:
        fresh = service.conversations(current_user, mailbox_id, folder_id)
        response = make_response(render_template("mail/_list.html", page=fresh, since=service.top_key(fresh), **view))
        response.headers["HX-Retarget"] = "#mail-list"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    return render_template("mail/_poll.html", page=page, since=service.top_key(page), **view)


@bp.route("/mail/conversations/<int:conversation_id>")
@login_required
def conversation(conversation_id: int):
    """Show a conversation's messages in order, and mark them read."""
    found = service.conversation(current_user, conversation_id)
    if found is None:
        abort(404)
    messages = service.messages_of(found)
    unread = [message for message in messages if not message.seen]
    if unread:
        for mailbox_id in service.set_flag(unread, service.SEEN, True):
            tasks.write_flags.enqueue(mailbox_id)
    raws = service.raws(messages)
    shown = {message.id: render.show(raws[message.id]) if message.parse_error is None else None for message in messages}
    raw_text = {
        message.id: raws[message.id].decode("utf-8", "replace")
        for message in messages
        if message.parse_error is not None
    }
    return render_template(
        "mail/conversation.html",
        conversation=found,
        messages=messages,
        shown=shown,
        raw_text=raw_text,
        form=FlagForm(),
    )


@bp.route("/mail/messages/<int:message_id>/body")
@login_required
def body(message_id: int):
    """Serve a message's HTML body sanitised, as the document of its sandboxed frame."""
    message = _message(message_id)
    remote = request.args.get("remote") == "1"
    html = render.safe_html(
        service.raw(message),
        lambda content_id: url_for("mail.inline", message_id=message.id, content_id=content_id),
        remote,
    )
    document = (
        '<!doctype html><html><head><meta charset="utf-8"><base target="_blank">'
        "<style>body{font-family:system-ui,sans-serif;margin:0.5rem;word-wrap:break-word}"
        "img{max-width:100%;height:auto}</style></head><body>" + html + "</body></html>"
    )
    response = Response(document, mimetype="text/html")
    response.headers["Content-Security-Policy"] = BODY_POLICY.format(remote=" https:" if remote else "")
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/mail/messages/<int:message_id>/inline/<path:content_id>")
@login_required
def inline(message_id: int, content_id: str):
    """Serve an inline image of the message by its Content-ID."""
    found = render.inline_image(service.raw(_message(message_id)), content_id)
    if found is None:
        abort(404)
    content_type, data = found
    response = Response(data, mimetype=content_type)
    response.headers["Content-Security-Policy"] = FILE_POLICY
    return response


@bp.route("/mail/messages/<int:message_id>/attachments/<int:index>")
@login_required
def attachment(message_id: int, index: int):
    """Download an attachment with its own name and type, never shown in the page."""
    found = render.attachment(service.raw(_message(message_id)), index)
    if found is None:
        abort(404)
    described, data = found
    response = send_file(
        BytesIO(data), mimetype=described.content_type, as_attachment=True, download_name=described.name
    )
    response.headers["Content-Security-Policy"] = FILE_POLICY
    return response


@bp.route("/mail/messages/<int:message_id>/original")
@login_required
def original(message_id: int):
    """Show the raw message as plain text."""
    message = _message(message_id)
    response = Response(service.raw(message), mimetype="text/plain")
    response.headers["Content-Security-Policy"] = FILE_POLICY
    response.headers["Content-Disposition"] = f'inline; filename="message-{message.id}.eml"'
    return response


@bp.route("/mail/messages/<int:message_id>/<any(read, flagged):flag>", methods=["POST"])
@login_required
def toggle(message_id: int, flag: str):
    """Mark a message read or unread, flagged or not; the server gets it from the worker."""
    message = _message(message_id)
    form = FlagForm()
    if form.validate_on_submit():
        for mailbox_id in service.set_flag([message], FLAGS[flag], form.value.data == "1"):
            tasks.write_flags.enqueue(mailbox_id)
    if is_htmx_request():
        return render_template("mail/_flags.html", message=message, form=FlagForm())
    return redirect_to(url_for("mail.conversation", conversation_id=message.conversation_id))


def _message(message_id: int):
    message = service.message(current_user, message_id)
    if message is None:
        abort(404)
    return message
