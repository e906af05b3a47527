"""Measure oroflask under gunicorn against a bare Flask "hello world" with the same settings.

    .venv/bin/python bench/run.py [--duration 5] [--rounds 3] [--connections 32] [--database sqlite|URL]

Starts both under gunicorn on loopback ports (gunicorn.conf.py for both), prepares a realistic
database (a logged-in admin, one configured connection, a pending authorization attempt),
loads each URL with wrk (Debian package `wrk`), and prints a Markdown table.
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, event, make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oroflask import create_app  # noqa: E402
from oroflask.auth import service as accounts  # noqa: E402
from oroflask.connection.models import SITE, AuthorizationAttempt, MicrosoftGrant  # noqa: E402
from oroflask.database import utcnow  # noqa: E402
from oroflask.encryption import encrypt  # noqa: E402
from oroflask.extensions import db  # noqa: E402
from oroflask.settings import service as settings_service  # noqa: E402

ADMIN = "bench@example.com"
PASSWORD = "benchmark password"
PAGE = "/admin/config/integrations/microsoft"
CLIENT_ID = "0d6c3b8e-4a1f-4f2b-8e7d-9b5a1c3e6f20"
OTHER_CLIENT_ID = "1d6c3b8e-4a1f-4f2b-8e7d-9b5a1c3e6f21"  # live_save.lua alternates the two
TENANT = "5f1c9a2e-7b3d-4e8a-9c61-2d4b8f0e3a71"
# A pending attempt: what an open settings page polls every 2 s while Microsoft's sign-in runs.
ATTEMPT = "bench-attempt-pending-00000000"
# Every request of the run says it comes from one browser, as a signed-in admin's do.
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) oroflask-bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per URL and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every URL; medians are shown")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--database", default="sqlite", help="'sqlite' or a SQLAlchemy URL")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    with tempfile.TemporaryDirectory() as instance, database_url(args.database, Path(instance)) as url:
        environment = prepare(Path(instance), url)
        with gunicorn("bench.hello:app", {}) as (hello_url, hello_master), gunicorn("wsgi:app", environment) as (app_url, master):
            session = signed_in(app_url)
            cookie = "session=" + session.cookies["session"]
            csrf = htmx_token(session.get(app_url + PAGE).text)
            browser = {"User-Agent": BROWSER, "Cookie": cookie}
            htmx = {**browser, "HX-Request": "true", "X-CSRFToken": csrf}
            cases = [
                ("settings page", PAGE, browser, None),
                ("status poll", f"/oauth/microsoft/attempts/{ATTEMPT}", htmx, None),
                ("live save", f"{PAGE}/fields/client_id", htmx, "live_save.lua"),
                ("/healthz", "/healthz", {}, None),
            ]
            # Rounds, each over hello world and every URL in turn, so that a slower moment of a
            # shared machine weighs on one round, not on one row; each figure is the median.
            hellos, results = [], {name: [] for name, *_ in cases}
            for _ in range(args.rounds):
                hellos.append(load(hello_url, "/", args, master=hello_master))
                for name, path, headers, script in cases:
                    results[name].append(load(app_url, path, args, headers, script, master=master))
            hello = median(hellos)
            rows = [(name, path, median(results[name])) for name, path, *_ in cases]
            memory = worker_rss(master)
        queries = count_queries(environment, [(name, path) for name, path, _ in rows])
    print_table(hello, rows, queries, memory, args)


def median(results: list[dict]) -> dict:
    """Return the median of each figure over rounds (errors are summed)."""
    return {
        **{key: statistics.median(result[key] for result in results) for key in ("rps", "p50", "p99", "cpu")},
        "errors": sum(result["errors"] for result in results),
    }


@contextmanager
def database_url(database: str, instance: Path):
    """Yield the URL of an empty database: a SQLite file in `instance`, or on a server a schema of
    its own (the connections' search_path), dropped at the end."""
    if database == "sqlite":
        yield f"sqlite:///{instance}/bench.sqlite"
        return
    schema = f"bench_{secrets.token_hex(6)}"
    server = create_engine(database)
    with server.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(database)
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with server.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        server.dispose()


def prepare(instance: Path, database_url: str) -> dict:
    """Build the database a running installation has: an admin, settings, a live connection,
    and an authorization attempt in progress."""
    environment = {
        "OROFLASK_INSTANCE_PATH": str(instance),
        "OROFLASK_SECRET_KEY": "benchmark",
        "OROFLASK_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "OROFLASK_SQLALCHEMY_DATABASE_URI": database_url,
        "OROFLASK_LOG_LEVEL": "WARNING",
    }
    os.environ.update(environment)
    app = create_app()
    with app.app_context():
        import flask_migrate

        flask_migrate.upgrade()
        admin = accounts.create_user(ADMIN, PASSWORD, role="admin")
        db.session.commit()
        accounts.retire_setup_code()
        settings = settings_service.load()
        settings.client_id = CLIENT_ID
        settings.tenant = TENANT
        settings.client_secret_encrypted = encrypt("Bench~secret.value.for.load.tests.0123")
        settings.emails_sync_enabled = True
        db.session.add(
            MicrosoftGrant(
                purpose=SITE,
                user_id=admin.id,
                account="adele@contoso.onmicrosoft.com",
                client_id=CLIENT_ID,
                tenant=TENANT,
                tenant_id=TENANT,
                object_id="3c2a7e91-5d4b-4f8e-a1c6-8b0d2e7f4a59",
                scopes="openid profile email offline_access https://outlook.office.com/IMAP.AccessAsUser.All "
                "https://outlook.office.com/SMTP.Send",
                access_token_encrypted=encrypt("a" * 1500),
                refresh_token_encrypted=encrypt("r" * 900),
                access_token_expires_at=utcnow() + timedelta(hours=1),
            )
        )
        db.session.add(
            AuthorizationAttempt(
                id=ATTEMPT,
                user_id=admin.id,
                client_id=CLIENT_ID,
                tenant=TENANT,
                redirect_uri="http://127.0.0.1/oauth/microsoft/callback",
                status="pending",
            )
        )
        db.session.commit()
        db.engine.dispose()
    return environment


@contextmanager
def gunicorn(target: str, environment: dict):
    """Run `target` under gunicorn with the project's gunicorn.conf.py; yield its URL and pid."""
    port = free_port()
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "-c", str(ROOT / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}",
        "--access-logfile", "/dev/null",
        target,
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **environment},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "/", timeout=1)
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start:\n" + process.stderr.read().decode())
                time.sleep(0.2)
        yield url, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def signed_in(url: str) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = BROWSER
    page = session.get(url + "/login").text
    answer = session.post(url + "/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": form_token(page)})
    if answer.url.rstrip("/") != url + PAGE:
        raise SystemExit("could not sign in for the benchmark")
    return session


def signed_in_client(app):
    """Return a Flask test client signed in as the benchmark admin, from the benchmark browser."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = BROWSER
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": form_token(page)})
    return client


def form_token(page: str) -> str:
    """Return the CSRF token of a page's form (the login form)."""
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def htmx_token(page: str) -> str:
    """Return the CSRF token the settings page gives its htmx requests."""
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def load(base: str, path: str, args, headers: dict | None = None, script: str | None = None, *, master: int) -> dict:
    """Run wrk against `path`; return requests/s, p50 and p99 latency (ms), the CPU time the
    gunicorn workers spent per request (ms), and the count of non-2xx answers."""
    command = ["wrk", "--latency", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s"]
    environment = dict(os.environ)
    if script:
        command += ["-s", str(Path(__file__).with_name(script))]
        environment.update(
            BENCH_PATH=path,
            BENCH_CSRF=headers["X-CSRFToken"],
            BENCH_COOKIE=headers["Cookie"],
            BENCH_USER_AGENT=headers["User-Agent"],
        )
    else:
        for name, value in (headers or {}).items():
            command += ["-H", f"{name}: {value}"]
    cpu_before = workers_cpu_seconds(master)
    output = subprocess.run(command + [base + path], capture_output=True, text=True, env=environment, check=True).stdout
    cpu = workers_cpu_seconds(master) - cpu_before
    requests_done = int(re.search(r"(\d+) requests in", output).group(1))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": _milliseconds(re.search(r"\s50%\s+([\d.]+\w+)", output).group(1)),
        "p99": _milliseconds(re.search(r"\s99%\s+([\d.]+\w+)", output).group(1)),
        "cpu": 1000 * cpu / max(requests_done, 1),
        "errors": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0,
    }


def workers_cpu_seconds(master: int) -> float:
    """Return the CPU time (user and system) the gunicorn workers of `master` have used so far,
    including workers that have exited (max_requests), which count in the master's children time."""

    def times(pid, first: int) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[first]) + int(fields[first + 1])

    total = times(master, 13)  # cutime, cstime: the workers it has reaped
    for pid in _workers(master):
        try:
            total += times(pid, 11)  # utime, stime
        except FileNotFoundError:
            pass  # exited since pgrep; counted once the master reaps it
    return total / os.sysconf("SC_CLK_TCK")


def _workers(master: int) -> list[str]:
    return subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()


def _milliseconds(text: str) -> float:
    value, unit = float(re.match(r"[\d.]+", text).group(0)), re.search(r"[a-z]+$", text).group(0)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def worker_rss(master: int) -> int:
    """Return the largest resident memory of the gunicorn workers, in kB."""
    sizes = []
    for pid in _workers(master):
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)))
    return max(sizes)


def count_queries(environment: dict, cases: list[tuple[str, str]]) -> dict:
    """Count the SQL statements and response bytes of one request of each case, in process."""
    os.environ.update(environment)
    app = create_app()
    counted = {}
    with app.app_context():
        engine = db.engine
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _r, sql, *rest: statements.append(sql))
    with app.app_context():
        # The load left either client ID saved: count from the state the load started from.
        settings_service.load().client_id = CLIENT_ID
        db.session.commit()
    client = signed_in_client(app)
    for name, path in cases:
        page = client.get(PAGE).get_data(as_text=True)  # also warms caches, as in a running worker
        csrf = htmx_token(page)
        headers = {} if name == "settings page" else {"HX-Request": "true", "X-CSRFToken": csrf}
        statements.clear()
        if name == "live save":
            # Another value than the saved one, so that the save stores a change, as under load.
            response = client.post(path, data={"client_id": OTHER_CLIENT_ID}, headers=headers)
        else:
            response = client.get(path, headers=headers)
        counted[name] = (len(statements), len(response.get_data()), response.status_code)
        if os.environ.get("BENCH_SHOW_SQL"):
            print(name, *statements, sep="\n  ")
    return counted


def print_table(hello: dict, rows, queries: dict, memory: int, args) -> None:
    print(f"\nwrk: {args.connections} connections, {args.threads} threads, {args.duration} s per URL, "
          f"median of {args.rounds} rounds; gunicorn.conf.py ({workers_setting()} workers); "
          f"{os.cpu_count()} CPUs\n")
    print("| URL | req/s | × hello world | p50 ms | p99 ms | worker CPU ms/request | SQL queries "
          "| response bytes | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| hello world (bare Flask) | {hello['rps']:.0f} | 1.00 | {hello['p50']:.2f} | {hello['p99']:.2f} | "
          f"{hello['cpu']:.2f} | 0 | 13 | {hello['errors']} |")
    for name, path, result in rows:
        ratio = result["rps"] / hello["rps"]
        count, size, _ = queries[name]
        print(f"| {name} | {result['rps']:.0f} | {ratio:.2f} | {result['p50']:.2f} | {result['p99']:.2f} | "
              f"{result['cpu']:.2f} | {count} | {size} | {result['errors']} |")
    print(f"\nLargest gunicorn worker RSS after the load: {memory / 1024:.1f} MB")


def workers_setting() -> str:
    """Say how many workers gunicorn.conf.py gives on this machine (or WEB_CONCURRENCY)."""
    settings: dict = {}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), settings)
    return str(settings["workers"])


if __name__ == "__main__":
    main()
