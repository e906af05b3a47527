"""Run one pass of the sync engine over one mailbox, for bench/sync.py, and print what it took as JSON.

    OROFLASK_... .venv/bin/python bench/sync_engine_run.py MAILBOX_ID

The configuration (instance folder, database, mail server) comes from OROFLASK_* variables, as a
worker's does. Starting Python and the application is not timed: "seconds" and "cpu_seconds" cover
the call of `sync_mailbox` alone, what a long-running worker pays for each sync.
"""

import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oroflask import create_app  # noqa: E402


def resident_megabytes() -> float:
    """Return this process's resident memory now, in MB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def main() -> None:
    mailbox_id = int(sys.argv[1])
    app = create_app(migrations=False)
    with app.app_context():
        from oroflask.sync.engine import sync_mailbox

        before = resident_megabytes()
        started, cpu_started = time.perf_counter(), time.process_time()
        report = sync_mailbox(mailbox_id)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    print(json.dumps({
        "seconds": seconds, "cpu_seconds": cpu_seconds, "rss_before_mb": before,
        "fetched": report.fetched, "bytes": report.bytes, "condstore": report.condstore,
        "commands": report.commands,
    }))


if __name__ == "__main__":
    main()
