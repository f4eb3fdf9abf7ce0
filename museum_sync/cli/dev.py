"""``museum-sync dev | worker``: a local Dagster UI with its daemon and workers, or one Celery worker."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from museum_sync.cli.stack import load_code_location, publish_services, stack, state_dir
from museum_sync.settings import env_name

__all__ = ["cmd_dev", "cmd_worker"]


def cmd_worker(args: argparse.Namespace) -> int:
    from museum_sync.defs.celery_config import iiif_pool_options
    from museum_sync.runtime import WorkerPool

    with stack(state_dir(args)) as ctx:
        load_code_location()  # what every step loads: a bad setting is one line here, not a failed step later
        queues = tuple(args.queues.split(","))
        iiif_concurrency, options = iiif_pool_options(queues)  # the iiif pool's own settings (see there)
        pool = WorkerPool(
            env=ctx.env,
            log_dir=ctx.state_dir / "logs",
            processes=1,
            concurrency=args.concurrency or iiif_concurrency or 2,
            queues=queues,
            extra_args=tuple(options),
            name=f"worker{os.getpid()}-",  # node worker<pid>-0@host: two pools on one host never share a name
        )
        port = {} if args.metrics_port is None else {env_name("telemetry.metrics_port"): str(args.metrics_port)}
        os.execvpe(pool.command(0)[0], pool.command(0), {**os.environ, **ctx.env, **port})
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from museum_sync.runtime import WorkerPool
    from museum_sync.services._common import pdeathsig_preexec

    with stack(state_dir(args)) as ctx:
        load_code_location()  # what the code server loads: a bad setting is one line here
        env = {**os.environ, **ctx.env}
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dagster",
                    "dev",
                    "-m",
                    "museum_sync.definitions",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(args.port),
                ],
                env=env,
                # dagster dev stops its webserver, daemon and code server when it gets SIGTERM; the kernel
                # sends it if this process dies, so nothing is left holding the state directory.
                preexec_fn=pdeathsig_preexec(signal.SIGTERM),
            ),
        ]
        ui = f"http://127.0.0.1:{args.port}"
        with (
            WorkerPool(
                env=ctx.env, log_dir=ctx.state_dir / "logs", concurrency=args.concurrency, name=f"dev{os.getpid()}-"
            ),
            publish_services(ctx, ui),
        ):
            print(f"Dagster UI: {ui}  (inbox: {ctx.env[env_name('paths.inbox')]}/<profile>/)")
            print(f"Other commands attach to these services: museum-sync --state-dir {ctx.state_dir} status")
            print("Ctrl-C stops the webserver, the daemon, the workers, Redis and PostgreSQL.")
            try:
                procs[0].wait()
            except KeyboardInterrupt:
                pass
            finally:
                for p in procs:
                    p.terminate()
                    p.wait(20)
    return 0
