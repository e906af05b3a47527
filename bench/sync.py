"""Measure the sync engine against mbsync on the same Dovecot mailbox, and print a table.

    .venv/bin/python bench/sync.py                 # 1,000 and 10,000 messages, 5 reps (run as root)
    .venv/bin/python bench/sync.py --quick         # 200 messages, 2 reps: a smoke run
    .venv/bin/python bench/sync.py --sizes 1000 --reps 7 --delay-ms 10 --security tls

Fills one Dovecot mailbox per size with bench/mailgen.py's messages (same seed each time), then:
full syncs of the engine (into an empty SQLite database, in a child process under /usr/bin/time)
and of mbsync (`FSync no`, a maildir), alternated, on loopback and through bench/delay_proxy.py;
no-change syncs of the largest mailbox with CONDSTORE hidden (Exchange-like) and advertised,
against mbsync's; and the time from a delivery over LMTP to the message stored by
`flask --app wsgi mail-worker` (push over IDLE). See bench/README.md for what each column means.
"""

import argparse
import imaplib
import importlib.util
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mailgen  # noqa: E402

from oroflask import create_app  # noqa: E402
from oroflask.auth import service as accounts  # noqa: E402
from oroflask.connection.models import MAILBOX, MicrosoftGrant  # noqa: E402
from oroflask.database import utcnow  # noqa: E402
from oroflask.devidp import create_app as create_identity_provider  # noqa: E402
from oroflask.devidp.directory import DEFAULT_CLIENT_ID, DEFAULT_SECRET_VALUE, DEFAULT_TENANT_ID  # noqa: E402
from oroflask.devidp.testing import serve  # noqa: E402
from oroflask.encryption import encrypt  # noqa: E402
from oroflask.extensions import db  # noqa: E402
from oroflask.mailboxes.models import SYSTEM, Mailbox  # noqa: E402
from oroflask.mailservers.endpoints import xoauth2  # noqa: E402
from tests.dovecot.fixtures import ADELE, ALEX, MAIL_DIRECTORY, MAIL_SCOPES, sign_in_for_token  # noqa: E402
from tests.dovecot.server import MAIL_USER, Dovecot, free_port, missing  # noqa: E402

# One mailbox per size, each a user the identity provider lets open its own mailbox over IMAP.
ADDRESSES = (ADELE, ALEX)
# mbsync logs in over PLAIN with this (it has no XOAUTH2 without a SASL plug-in).
PLAIN_PASSWORD = "bench-mbsync"
ADMIN = "bench@example.com"
# Tokens live an hour at the identity provider; a fresh one is signed for after this long.
TOKEN_AGE = timedelta(minutes=20)
# Seen on about 70 % of the messages, flagged on a few: flags for both sides to carry over.
FLAGS = ("S", "S", "S", "S", "S", "S", "", "", "", "FS")
PUSH_PRIMER_WAIT = 30.0
PUSH_MESSAGE_WAIT = 10.0
PUSH_SAMPLES = 10
TIME = "/usr/bin/time"


@dataclass
class Run:
    """What one sync cost: wall seconds (process start to exit), in-process seconds, peak RSS, CPU."""

    wall: float
    seconds: float
    rss_mb: float
    cpu: float
    cpu_in_process: float | None = None
    rss_before_mb: float | None = None
    # The engine's report: bodies downloaded, and whether it used CONDSTORE.
    fetched: int | None = None
    condstore: bool | None = None
    # How much longer the engine's login took than mbsync's, measured right after the run.
    login_extra: float = 0.0


@dataclass
class Filled:
    """One filled mailbox: its address, messages, IMAP bytes, and its row in the template database."""

    address: str
    count: int
    imap_bytes: int = 0
    mailbox_id: int = 0
    grant_id: int = 0


@dataclass(frozen=True)
class Target:
    """Where a client connects: a Dovecot, and the port (its own, or the delay proxy's)."""

    server: Dovecot
    port: int


@dataclass
class Results:
    """Every measured run, by (what, network, size)."""

    runs: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def add(self, key: tuple, run: Run) -> None:
        """Record one run under `key`."""
        self.runs.setdefault(key, []).append(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="messages per mailbox, at most two sizes")
    parser.add_argument("--reps", type=int, default=5, help="timed runs of every config")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="added each way by the proxy (0: skip)")
    parser.add_argument("--security", choices=("tls", "none"), default="tls", help="IMAP over TLS, or plain")
    parser.add_argument("--fill", choices=("maildir", "lmtp"), default="maildir")
    parser.add_argument("--seed", type=int, default=mailgen.SEED)
    parser.add_argument("--quick", action="store_true", help="200 messages, 2 reps")
    args = parser.parse_args()
    sizes = [200] if args.quick else [int(size) for size in args.sizes.split(",")]
    reps = 2 if args.quick else args.reps
    if len(sizes) > len(ADDRESSES):
        sys.exit(f"at most {len(ADDRESSES)} sizes")
    for problem in (missing(), None if shutil.which("mbsync") else "mbsync is missing: apt-get install isync",
                    None if os.access(TIME, os.X_OK) else "/usr/bin/time is missing: apt-get install time"):
        if problem:
            sys.exit(problem)
    with_engine = importlib.util.find_spec("oroflask.sync") is not None
    results = Results()
    load_before, stalled_before, started = os.getloadavg(), cpu_stalled(), time.monotonic()
    with ExitStack() as stack:
        identity_provider = stack.enter_context(serve(create_identity_provider(MAIL_DIRECTORY)))
        exchange = stack.enter_context(dovecot(identity_provider, "exchange"))
        mailboxes = [Filled(address, size) for address, size in zip(ADDRESSES, sizes)]
        for mailbox in mailboxes:
            seconds, sizes = FILLS[args.fill](exchange, mailbox.address, mailbox.count, args.seed)
            mailbox.imap_bytes = sum(sizes)
            results.notes.append(describe(mailbox, sizes) + f", filled by {args.fill} in {seconds:.1f} s")
        bench = Bench(stack, identity_provider, mailboxes, args.security)
        loopback = Target(exchange, port(exchange, args.security))
        networks = [("loopback", loopback)]
        if args.delay_ms:
            proxy = stack.enter_context(delay_proxy(loopback.port, args.delay_ms))
            networks.append((f"{2 * args.delay_ms:g} ms RTT", Target(exchange, proxy)))
        bench.login_target = loopback
        xoauth2_seconds, plain_seconds = login_costs(bench, mailboxes[0].address)
        results.notes.append(
            f"connect and log in: XOAUTH2 {xoauth2_seconds * 1000:.0f} ms (the engine's; Dovecot's oauth2 passdb "
            f"asks the identity provider), PLAIN {plain_seconds * 1000:.0f} ms (mbsync's)"
        )
        kept = {}
        for network, target in networks:
            for mailbox in mailboxes:
                kept[(network, mailbox.count)] = full_syncs(
                    bench, results, mailbox, network, target, reps, with_engine
                )
        largest = mailboxes[-1]
        database, maildir = kept[("loopback", largest.count)]
        condstore = stack.enter_context(dovecot(identity_provider, "full"))
        FILLS[args.fill](condstore, largest.address, largest.count, args.seed)
        no_change_syncs(bench, results, largest, database, maildir, loopback,
                        Target(condstore, port(condstore, args.security)), reps, with_engine)
        latency = (push_latency(bench, loopback, mailboxes[0], kept[("loopback", mailboxes[0].count)][0])
                   if with_engine else "not measured: no engine yet")
    stalled = (cpu_stalled() - stalled_before) / (time.monotonic() - started)
    print_tables(results, mailboxes, networks, reps, latency, args, (load_before, os.getloadavg(), stalled))


class Bench:
    """The instance folder, its template database (a user, one grant and one mailbox per size),
    and what a child process needs to run the application on a copy of it."""

    def __init__(self, stack: ExitStack, identity_provider: str, mailboxes: list, security: str):
        self.identity_provider = identity_provider
        self.security = security
        self.folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oroflask-syncbench-")))
        self.template = self.folder / "template.sqlite"
        self.environment = {
            "OROFLASK_INSTANCE_PATH": str(self.folder),
            "OROFLASK_SECRET_KEY": "benchmark",
            "OROFLASK_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "OROFLASK_LOG_LEVEL": "WARNING",
            "OROFLASK_MICROSOFT_AUTHORITY": identity_provider,
            "OROFLASK_MICROSOFT_CLIENT_ID": DEFAULT_CLIENT_ID,
            "OROFLASK_MICROSOFT_CLIENT_SECRET": DEFAULT_SECRET_VALUE,
            "OROFLASK_MICROSOFT_TENANT": DEFAULT_TENANT_ID,
            "OROFLASK_MICROSOFT_IMAP_HOST": "localhost",
            "OROFLASK_MICROSOFT_IMAP_SECURITY": security,
        }
        self.tokens: dict[str, tuple[str, object]] = {}
        self.login_target: Target | None = None
        self.mailboxes = mailboxes
        self._build_template()

    def _build_template(self) -> None:
        os.environ.update(self.environment, OROFLASK_SQLALCHEMY_DATABASE_URI=f"sqlite:///{self.template}")
        app = create_app()
        with app.app_context():
            import flask_migrate

            flask_migrate.upgrade()
            admin = accounts.create_user(ADMIN, "benchmark password", role="admin")
            for mailbox in self.mailboxes:
                grant = MicrosoftGrant(
                    purpose=MAILBOX, user_id=admin.id, account=mailbox.address, client_id=DEFAULT_CLIENT_ID,
                    tenant=DEFAULT_TENANT_ID, tenant_id=DEFAULT_TENANT_ID, scopes=MAIL_SCOPES,
                    access_token_encrypted=encrypt("expired"), access_token_expires_at=utcnow(),
                )
                db.session.add(grant)
                db.session.flush()
                row = Mailbox(kind=SYSTEM, address=mailbox.address, label=f"{mailbox.count} messages",
                              grant_id=grant.id, folders=["INBOX"], sync_from=None)
                db.session.add(row)
                db.session.flush()
                mailbox.mailbox_id, mailbox.grant_id = row.id, grant.id
            db.session.commit()
            db.engine.dispose()
            self.encrypt = lambda text: _in_context(app, encrypt, text)

    def database(self, name: str) -> Path:
        """Return a fresh copy of the template database, with live tokens."""
        path = self.folder / f"{name}.sqlite"
        for leftover in self.folder.glob(f"{name}.sqlite*"):
            leftover.unlink()
        shutil.copyfile(self.template, path)
        return path

    def token(self, address: str):
        """Return an access token for `address` signed for not long ago, and when it was."""
        token, signed_at = self.tokens.get(address, (None, None))
        if token is None or utcnow() - signed_at > TOKEN_AGE:
            token, signed_at = sign_in_for_token(self.identity_provider, address), utcnow()
            self.tokens[address] = (token, signed_at)
        return token, signed_at

    def renew_tokens(self, database: Path) -> None:
        """Give every grant in `database` an access token signed for not long ago."""
        engine = create_engine(f"sqlite:///{database}")
        with engine.begin() as connection:
            for mailbox in self.mailboxes:
                token, signed_at = self.token(mailbox.address)
                connection.execute(
                    update(MicrosoftGrant)
                    .where(MicrosoftGrant.id == mailbox.grant_id)
                    .values(access_token_encrypted=self.encrypt(token),
                            access_token_expires_at=signed_at + timedelta(minutes=59))
                )
        engine.dispose()

    def child_environment(self, database: Path, target: Target) -> dict:
        """Return the environment of an application process on `database` and that IMAP server."""
        return {
            **os.environ,
            **self.environment,
            "OROFLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "OROFLASK_MICROSOFT_IMAP_PORT": str(target.port),
            "OROFLASK_MAIL_CA_FILE": str(target.server.ca_file),
        }


def _in_context(app, function, *arguments):
    with app.app_context():
        return function(*arguments)


@contextmanager
def dovecot(identity_provider: str, capabilities: str):
    """Run a Dovecot asking the identity provider for tokens, with a PLAIN login for mbsync.

    Tokens are checked by Dovecot's own oauth2 passdb, which costs about what a PLAIN login does,
    not by the tests' program (a Python process per login): the engine's XOAUTH2 and mbsync's PLAIN
    then wait on the server alike."""
    server = Dovecot(f"{identity_provider}/_devidp/introspect", capabilities=capabilities,
                     plain_password=PLAIN_PASSWORD, token_check="introspection")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def port(server: Dovecot, security: str) -> int:
    """Return the IMAP port for that security: implicit TLS, or plain."""
    return server.imaps_port if security == "tls" else server.imap_port


@contextmanager
def delay_proxy(target_port: int, delay_ms: float):
    """Run bench/delay_proxy.py in front of `target_port`; yield its port."""
    listen = free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("delay_proxy.py")), str(listen), str(target_port),
         "--delay-ms", str(delay_ms)],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        if process.stdout.readline().strip() != "ready":
            raise SystemExit("the delay proxy did not start")
        yield listen
    finally:
        process.terminate()
        process.wait(timeout=10)


def login_costs(bench: Bench, address: str, times: int = 7) -> tuple[float, float]:
    """Time a connection and login on loopback as the engine makes it (XOAUTH2, checked by the test
    Dovecot's checkpassword program) and as mbsync does (PLAIN); return the median seconds of each."""
    target = bench.login_target
    token, _ = bench.token(address)
    mechanisms = {
        "XOAUTH2": lambda imap: imap.authenticate("XOAUTH2", lambda _: xoauth2(address, token)),
        "PLAIN": lambda imap: imap.login(address, PLAIN_PASSWORD),
    }
    medians = {}
    for name, login in mechanisms.items():
        seconds = []
        for _ in range(times):
            started = time.perf_counter()
            if bench.security == "tls":
                context = ssl.create_default_context(cafile=str(target.server.ca_file))
                imap = imaplib.IMAP4_SSL("localhost", target.port, ssl_context=context)
            else:
                imap = imaplib.IMAP4("localhost", target.port)
            imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            login(imap)
            seconds.append(time.perf_counter() - started)
            imap.logout()
        medians[name] = statistics.median(seconds)
    return medians["XOAUTH2"], medians["PLAIN"]


def user_folder(server: Dovecot, address: str) -> Path:
    """Return the maildir of `address` (Dovecot lowercases the user name)."""
    return server.folder / "mail" / address.lower()


def fill_maildir(server: Dovecot, address: str, count: int, seed: int) -> tuple[float, list[int]]:
    """Write the generated messages straight into the user's maildir, as Dovecot's user, dated
    as their Date header; return the seconds taken and the IMAP size of each message.

    Ten times quicker than LMTP (0.85 s against 8.4 s for 1,000 messages, measured here); Dovecot
    indexes the files at the first SELECT, which the untimed warm-up does."""
    started = time.perf_counter()
    folder = user_folder(server, address)
    for name in ("cur", "new", "tmp"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    sizes = []
    for number, message in enumerate(mailgen.messages(count, seed)):
        stamp = message.date.timestamp()
        path = folder / "cur" / f"{int(stamp)}.M{number}P0.bench:2,{FLAGS[number % len(FLAGS)]}"
        path.write_bytes(message.raw)
        os.utime(path, (stamp, stamp))
        sizes.append(len(message.raw) + message.raw.count(b"\n"))
    for path in [folder, *folder.iterdir(), *(folder / "cur").iterdir()]:
        shutil.chown(path, MAIL_USER, MAIL_USER)
    return time.perf_counter() - started, sizes


def fill_lmtp(server: Dovecot, address: str, count: int, seed: int) -> tuple[float, list[int]]:
    """Deliver the generated messages over LMTP on one connection; return the seconds and IMAP sizes."""
    started = time.perf_counter()
    sizes = []
    with smtplib.LMTP("127.0.0.1", server.lmtp_port, timeout=60) as lmtp:
        for message in mailgen.messages(count, seed):
            lmtp.sendmail("sender@bench.example", [address], message.raw)
            sizes.append(len(message.raw) + message.raw.count(b"\n"))
    return time.perf_counter() - started, sizes


FILLS = {"maildir": fill_maildir, "lmtp": fill_lmtp}


def timed(command: list[str], environment: dict | None = None) -> tuple[Run, str]:
    """Run `command` under /usr/bin/time -v; return its wall time, peak RSS and CPU, and its output."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        started = time.perf_counter()
        result = subprocess.run([TIME, "-v", "-o", report.name, *command], capture_output=True, text=True,
                                env=environment, cwd=ROOT)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"{command[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        text = report.read()
    figure = lambda label: float(re.search(rf"{label}: ([\d.]+)", text).group(1))  # noqa: E731
    cpu = figure(r"User time \(seconds\)") + figure(r"System time \(seconds\)")
    return Run(wall, wall, figure(r"Maximum resident set size \(kbytes\)") / 1024, cpu), result.stdout


def mbsync(bench: Bench, address: str, target: Target, maildir: Path, fresh: bool = True) -> Run:
    """Sync the Inbox of `address` into `maildir` with mbsync (`FSync no`); check every message came."""
    if fresh:
        shutil.rmtree(maildir, ignore_errors=True)
    maildir.mkdir(parents=True, exist_ok=True)
    config = maildir.parent / f"{maildir.name}.mbsyncrc"
    ssl = f"SSLType IMAPS\nCertificateFile {target.server.ca_file}\n" if bench.security == "tls" else "SSLType None\n"
    config.write_text(
        "FSync no\n\n"
        f"IMAPAccount far\nHost localhost\nPort {target.port}\nUser {address}\nPass {PLAIN_PASSWORD}\n"
        f"AuthMechs PLAIN\n{ssl}\n"
        "IMAPStore far\nAccount far\n\n"
        f"MaildirStore near\nPath {maildir}/\nInbox {maildir}/INBOX\n\n"
        "Channel inbox\nFar :far:\nNear :near:\nPatterns INBOX\nCreate Near\nSync Pull\nSyncState *\n",
        encoding="utf-8",
    )
    run, _ = timed(["mbsync", "-q", "-c", str(config), "inbox"])
    return run


def maildir_count(maildir: Path) -> int:
    """Return how many messages mbsync wrote."""
    return sum(1 for name in ("cur", "new") for _ in (maildir / "INBOX" / name).iterdir())


def engine(bench: Bench, mailbox: Filled, database: Path, target: Target) -> Run:
    """Run one engine sync of `mailbox` into `database` in a child process; return what it cost."""
    bench.renew_tokens(database)
    command = [sys.executable, str(Path(__file__).with_name("sync_engine_run.py")), str(mailbox.mailbox_id)]
    run, output = timed(command, bench.child_environment(database, target))
    child = json.loads(output.strip().splitlines()[-1])
    run.seconds, run.cpu_in_process, run.rss_before_mb = child["seconds"], child["cpu_seconds"], child["rss_before_mb"]
    run.fetched, run.condstore = child["fetched"], child["condstore"]
    xoauth2_seconds, plain_seconds = login_costs(bench, mailbox.address, times=3)
    run.login_extra = xoauth2_seconds - plain_seconds
    return run


def stored_count(database: Path, mailbox: Filled) -> int:
    """Return how many messages of the mailbox the database holds."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        return connection.execute("SELECT count(*) FROM message WHERE mailbox_id = ?",
                                  (mailbox.mailbox_id,)).fetchone()[0]


def full_syncs(bench: Bench, results: Results, mailbox: Filled, network: str, target: Target, reps: int,
               with_engine: bool) -> tuple[Path | None, Path]:
    """Warm up, then time `reps` alternated full syncs of the engine and of mbsync; return the
    database and the maildir of the last ones (for the no-change syncs)."""
    maildir = bench.folder / f"maildir-{mailbox.count}"
    database = None

    def engine_once(key):
        nonlocal database
        database = bench.database(f"full-{mailbox.count}")
        run = engine(bench, mailbox, database, target)
        stored = stored_count(database, mailbox)
        if stored != mailbox.count:
            raise SystemExit(f"the engine stored {stored} of {mailbox.count} messages ({network})")
        if key:
            results.add(key, run)

    def mbsync_once(key):
        run = mbsync(bench, mailbox.address, target, maildir)
        written = maildir_count(maildir)
        if written != mailbox.count:
            raise SystemExit(f"mbsync wrote {written} of {mailbox.count} messages ({network})")
        if key:
            results.add(key, run)

    clients = [("mbsync", mbsync_once)] + ([("engine", engine_once)] if with_engine else [])
    for _, once in clients:  # untimed warm-up: page cache, Dovecot's index and cache files
        once(None)
    for rep in range(reps):
        for name, once in clients[rep % len(clients):] + clients[: rep % len(clients)]:
            once(("full", name, network, mailbox.count))
        progress(f"full sync, {network}, {mailbox.count} messages: rep {rep + 1} of {reps}")
    return database, maildir


def no_change_syncs(bench: Bench, results: Results, mailbox: Filled, database: Path | None, maildir: Path,
                    exchange: Target, condstore: Target, reps: int, with_engine: bool) -> None:
    """Time syncs that find nothing new: mbsync, the engine on the Exchange-like server, and the
    engine on the server that advertises CONDSTORE (synced once untimed first)."""
    clients = [("mbsync", lambda: mbsync(bench, mailbox.address, exchange, maildir, fresh=False))]
    if with_engine:
        condstore_database = bench.database(f"condstore-{mailbox.count}")
        engine(bench, mailbox, condstore_database, condstore)
        clients += [
            ("engine, CONDSTORE hidden", lambda: engine(bench, mailbox, database, exchange)),
            ("engine, CONDSTORE advertised", lambda: engine(bench, mailbox, condstore_database, condstore)),
        ]
    for _, once in clients:
        once()
    for rep in range(reps):
        for name, once in clients[rep % len(clients):] + clients[: rep % len(clients)]:
            run = once()
            if run.fetched:
                raise SystemExit(f"{name}: a sync with nothing new downloaded {run.fetched} messages")
            if run.condstore is not None and run.condstore != name.endswith("advertised"):
                raise SystemExit(f"{name}: the engine {'used' if run.condstore else 'did not use'} CONDSTORE")
            results.add(("no change", name, "loopback", mailbox.count), run)
        progress(f"no-change sync, {mailbox.count} messages: rep {rep + 1} of {reps}")


def push_latency(bench: Bench, target: Target, mailbox: Filled, database: Path) -> str | list:
    """Run the mail worker on a synced database; deliver messages over LMTP and time each until it
    is stored. Return the latencies, or why they could not be measured."""
    database = only(database, mailbox)
    bench.renew_tokens(database)
    environment = bench.child_environment(database, target)
    log = database.with_suffix(".worker.log")
    with open(log, "w", encoding="utf-8") as output:
        worker = subprocess.Popen([str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "mail-worker"], cwd=ROOT,
                                  env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # The first message also waits for the worker to start and open its IDLE connection.
        if deliver_and_wait(target.server, mailbox, database, "primer", PUSH_PRIMER_WAIT) is None:
            if worker.poll() is not None:
                tail = log.read_text(encoding="utf-8", errors="replace")[-600:]
                return f"not measured: the mail worker exited ({worker.returncode}): {tail}"
            tail = log.read_text(encoding="utf-8", errors="replace")[-600:]
            return f"not measured: nothing stored within {PUSH_PRIMER_WAIT:g} s of a delivery; the worker said: {tail}"
        latencies = []
        for number in range(PUSH_SAMPLES):
            latency = deliver_and_wait(target.server, mailbox, database, f"push-{number}", PUSH_MESSAGE_WAIT)
            if latency is None:
                return f"not measured: message {number + 1} not stored within {PUSH_MESSAGE_WAIT:g} s"
            latencies.append(latency)
            time.sleep(0.2)
        return latencies
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def describe(mailbox: Filled, sizes: list[int]) -> str:
    """Say how many messages and bytes a mailbox holds, and how their sizes spread."""
    kilobytes = [size / 1000 for size in sizes]
    return (
        f"{mailbox.count} messages, {mailbox.imap_bytes / 1e6:.1f} MB (mean {statistics.fmean(kilobytes):.1f} KB, "
        f"p50 {statistics.median(kilobytes):.1f} KB, p90 {statistics.quantiles(kilobytes, n=10)[8]:.1f} KB)"
    )


def only(database: Path, mailbox: Filled) -> Path:
    """Return a copy of `database` without the other mailboxes, so that the worker syncs no other."""
    copy = database.with_name(f"push-{database.name}")
    for leftover in copy.parent.glob(f"{copy.name}*"):
        leftover.unlink()
    # Through SQLite's backup, not a file copy: the last batches the engine committed may still be
    # in the write-ahead log beside the file, which a copy of the file alone would lose.
    with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    with closing(sqlite3.connect(copy)) as connection, connection:
        connection.execute("DELETE FROM mailbox WHERE id != ?", (mailbox.mailbox_id,))
    return copy


def deliver_and_wait(server: Dovecot, mailbox: Filled, database: Path, name: str, wait: float) -> float | None:
    """Deliver one message over LMTP and poll the database for its Message-ID; return the seconds
    from the start of the delivery to the message stored, or None after `wait`."""
    message_id = f"{name}.{time.time_ns()}@bench.example"
    message = EmailMessage()
    message["From"] = "push@bench.example"
    message["To"] = mailbox.address
    message["Subject"] = f"Push {name}"
    message["Message-ID"] = f"<{message_id}>"
    message.set_content("Delivered to measure push.")
    started = time.perf_counter()
    with smtplib.LMTP("127.0.0.1", server.lmtp_port, timeout=10) as lmtp:
        lmtp.send_message(message)
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as connection:
        while time.perf_counter() - started < wait:
            found = connection.execute("SELECT 1 FROM message WHERE message_id IN (?, ?)",
                                       (message_id, f"<{message_id}>")).fetchone()
            if found:
                return time.perf_counter() - started
            time.sleep(0.005)
    return None


def cpu_stalled() -> float:
    """Return the seconds, since boot, that some task waited for a CPU (Linux pressure stall information)."""
    try:
        text = Path("/proc/pressure/cpu").read_text()
    except OSError:
        return float("nan")
    return int(re.search(r"some .*total=(\d+)", text).group(1)) / 1e6


def progress(line: str) -> None:
    """Say how far the benchmark has come, on standard error (the tables go to standard output)."""
    print(line, file=sys.stderr, flush=True)


def median(values) -> float:
    """Return the median of the values."""
    return statistics.median(values)


def print_tables(results: Results, mailboxes, networks, reps: int, latency, args,
                 loads) -> None:
    """Print the full-sync table, the no-change table, the push latency and the goals."""
    runs = results.runs
    print(f"\nMedians of {reps} alternated reps after one untimed warm-up; ratios are medians of the "
          f"per-rep ratios. IMAP over {'TLS' if args.security == 'tls' else 'plain TCP'}; "
          f"{os.cpu_count()} CPUs; load average {loads[0][0]:.2f} before, {loads[1][0]:.2f} after; some task "
          f"waited for a CPU {loads[2]:.0%} of the run.")
    for note in results.notes:
        print(f"- {note}")
    print("\n| full sync | network | messages | wall s | in-process s | msg/s | MB/s | × mbsync (in-process / wall) "
          "| peak RSS MB (before the sync) | CPU s (process / sync) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    goals = {}
    for network, _ in networks:
        for mailbox in mailboxes:
            base = runs[("full", "mbsync", network, mailbox.count)]
            for name in ("mbsync", "engine"):
                key = ("full", name, network, mailbox.count)
                if key not in runs:
                    print(f"| engine | {network} | {mailbox.count} | not measured: no engine yet |||||||")
                    continue
                mine = runs[key]
                seconds = median(run.seconds for run in mine)
                ratio = median(b.seconds / m.seconds for b, m in zip(base, mine))
                wall_ratio = median(b.wall / m.wall for b, m in zip(base, mine))
                rss = median(run.rss_mb for run in mine)
                before = f" ({median(run.rss_before_mb for run in mine):.1f})" if mine[0].rss_before_mb else ""
                sync_cpu = (f" / {median(run.cpu_in_process for run in mine):.2f}"
                            if mine[0].cpu_in_process is not None else "")
                print(f"| {name} | {network} | {mailbox.count} | {median(run.wall for run in mine):.3f} | "
                      f"{seconds:.3f} | {mailbox.count / seconds:.0f} | {mailbox.imap_bytes / 1e6 / seconds:.0f} | "
                      f"{ratio:.2f} / {wall_ratio:.2f} | {rss:.1f}{before} | "
                      f"{median(run.cpu for run in mine):.2f}{sync_cpu} |")
                if name == "engine":
                    equalised = median(b.seconds / without_login(m) for b, m in zip(base, mine))
                    goals[(network, mailbox.count)] = (ratio, rss, equalised, median(r.rss_before_mb for r in mine))
    largest = mailboxes[-1]
    print(f"\n| no-change sync, {largest.count} messages | in-process s | wall s | × mbsync's time "
          "| × mbsync, login cost equalised | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    base = runs[("no change", "mbsync", "loopback", largest.count)]
    no_change = {}
    for name in ("mbsync", "engine, CONDSTORE hidden", "engine, CONDSTORE advertised"):
        key = ("no change", name, "loopback", largest.count)
        if key not in runs:
            print(f"| {name} | not measured: no engine yet |||||")
            continue
        mine = runs[key]
        times = median(m.seconds / b.seconds for b, m in zip(base, mine))
        equalised = median(without_login(m) / b.seconds for b, m in zip(base, mine))
        no_change[name] = (times, equalised)
        print(f"| {name} | {median(run.seconds for run in mine):.3f} | {median(run.wall for run in mine):.3f} | "
              f"{times:.2f} | {equalised:.2f} | {median(run.rss_mb for run in mine):.1f} |")
    if isinstance(latency, list):
        ordered = sorted(latency)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        latency_text = (f"median {median(ordered) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, "
                        f"max {ordered[-1] * 1000:.0f} ms over {len(ordered)} deliveries")
    else:
        latency_text = latency
    print(f"\nDelivery (LMTP) to message stored, over IDLE: {latency_text}")
    print_goals(goals, no_change, latency, networks, mailboxes)


def without_login(run: Run) -> float:
    """Return the run's seconds less the extra cost of the test Dovecot's XOAUTH2 login (never below 1 ms)."""
    return max(run.seconds - run.login_extra, 0.001)


def print_goals(goals: dict, no_change: dict, latency, networks, mailboxes) -> None:
    """Print each goal of the issue as met or not, with its figure."""
    largest, smallest = mailboxes[-1], mailboxes[0]
    rows = []
    for network, _ in networks:
        target = (network, largest.count)
        if target in goals:
            ratio, _, equalised, _ = goals[target]
            rows.append((f"full sync of {largest.count} at ≥ 0.75 × mbsync's msg/s, {network}", ratio >= 0.75,
                         f"{ratio:.2f} × ({equalised:.2f} × with the login cost equalised)"))
        else:
            rows.append((f"full sync of {largest.count} at ≥ 0.75 × mbsync, {network}", None, "no engine yet"))
    small, large = goals.get(("loopback", smallest.count)), goals.get(("loopback", largest.count))
    if small and large:
        rows.append((f"peak RSS the same at {smallest.count} and {largest.count} (within 5 MB) and under 100 MB",
                     abs(large[1] - small[1]) <= 5 and max(small[1], large[1]) < 100,
                     f"{small[1]:.1f} → {large[1]:.1f} MB (application loaded, before syncing: {large[3]:.1f} MB)"))
    else:
        rows.append(("peak RSS flat and under 100 MB", None, "no engine yet"))
    if "engine, CONDSTORE hidden" in no_change:
        times, equalised = no_change["engine, CONDSTORE hidden"]
        goal = f"no-change sync of {largest.count}, Exchange-like, within 2 × mbsync's time"
        rows.append((goal, times <= 2, f"{times:.2f} × as measured"))
        rows.append((goal + ", login cost equalised", equalised <= 2, f"{equalised:.2f} ×"))
    else:
        rows.append(("no-change sync within 2 × mbsync", None, "no engine yet"))
    if isinstance(latency, list):
        rows.append(("a delivered message stored within 1 s (every one)", max(latency) <= 1.0,
                     f"max {max(latency) * 1000:.0f} ms"))
    else:
        rows.append(("a delivered message stored within 1 s", None, latency))
    print("\n| goal | met | figure |")
    print("|---|---|---|")
    for goal, met, figure in rows:
        print(f"| {goal} | {'not measured' if met is None else 'yes' if met else 'no'} | {figure} |")


if __name__ == "__main__":
    main()
