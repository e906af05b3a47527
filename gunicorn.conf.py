"""gunicorn settings for oroflask: `gunicorn -c gunicorn.conf.py wsgi:app`.

Options given on the command line (or in GUNICORN_CMD_ARGS) win over these.
"""

import os


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (containers, taskset)
    except AttributeError:
        return os.cpu_count() or 1


# Behind a reverse proxy on the same machine; the proxy serves the public address and TLS.
bind = "127.0.0.1:8000"

# Synchronous workers, one request at a time each: one per CPU, as the requests here are CPU work
# (rendering, the database), plus one for a request waiting on Microsoft (Enable, Verify), at
# most 8. Under load this served a fifth to a third more requests than gunicorn's general "twice
# the CPUs plus one", whose extra processes only take turns on the same CPUs (bench/README.md).
# WEB_CONCURRENCY chooses another number: more if many requests wait on Microsoft at once.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(_usable_cpus() + 1, 8))

# A request may wait for Microsoft: up to three calls (the Redirect URI's discovery, token and
# keys) of at most 15 s each in all (OROFLASK_MICROSOFT_HTTP_DEADLINE, which may not exceed 19 s),
# or for another worker's token refresh. Only a worker silent for longer than this is killed and
# replaced.
timeout = 60
graceful_timeout = 30
# Replace each worker now and then, at different moments, so that none grows for ever. Nothing
# that matters lives in a worker's memory (tests/test_gunicorn.py). Not too often: a new worker
# spends about a second of CPU importing the application, which shows as a latency spike.
max_requests = 10000
max_requests_jitter = 1000

# X-Forwarded-* headers count only through OROFLASK_PROXY_FIX, in the application: gunicorn's own
# handling (X-Forwarded-Proto trusted from 127.0.0.1 by default) would be a second switch.
forwarded_allow_ips = ""
secure_scheme_headers = {}

# Logs on standard output and error (the journal, under systemd), one line per event in
# oroflask's format, redacted, with the request id. The access line has the path without its
# query string, which on the Redirect URI holds the OAuth code and state; nor does it have the
# Referer, which holds them on the pages that follow.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("OROFLASK_LOG_LEVEL", "info").lower()
logger_class = "oroflask.logs.GunicornLogger"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" %(p)s'

proc_name = "oroflask"
# Managed through the service manager (systemctl reload sends HUP), not gunicorn's control socket
# in the service user's home.
control_socket_disable = True
