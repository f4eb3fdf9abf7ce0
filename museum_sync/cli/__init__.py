"""The ``museum-sync`` command.

Without ``MUSEUM_SYNC_PG_URL`` / ``MUSEUM_SYNC_REDIS_URL`` every command starts embedded PostgreSQL and
Redis in its state directory (``--state-dir``, default ``./.state``) and stops them on exit; with them it
uses those servers. Errors are printed as one clear line (what, where, which URL without secrets), not
a traceback; ``--debug`` shows the traceback.

One module per area: ``sync`` (demo, sync, harvest), ``dev`` (dev, worker), ``quarantine``,
``publication`` (status, publish, rollback), ``offline`` (validate, profiles: no services); ``stack``
brings up the services and environment a command runs on, ``parser`` wires the commands. Dagster,
Celery, psycopg and Elasticsearch are imported only inside the commands that use them, so ``--help``,
``validate`` and ``profiles`` start fast and work where no service library can load.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from museum_sync.cli.parser import build_parser
from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.telemetry.logs import configure as configure_logs

__all__ = ["main"]


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Known before parsing, so that an error while the parser is built is shown the same way.
    debug = "--debug" in argv[: argv.index("--")] if "--" in argv else "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        debug = bool(args.debug)
        configure_logs(libraries="WARNING")  # one log format for every command (museum_sync.telemetry.logs)
        # SIGTERM (systemd, timeout, docker stop) unwinds like Ctrl-C, so workers, Redis and PostgreSQL are
        # stopped in order instead of being orphaned.
        signal.signal(signal.SIGTERM, _terminate)
        return int(args.func(args))
    except MuseumSyncError as exc:
        if debug:
            raise
        # one line even when the cause is multi-line (libpq adds "\n\tIs the server running...?")
        print("museum-sync: error: " + "; ".join(filter(None, map(str.strip, str(exc).splitlines()))), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
