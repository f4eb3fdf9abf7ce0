"""Step stdout/stderr captured in-process: Dagster's local compute logs without two processes per stream per step.

Dagster's ``LocalComputeLogManager`` points the process's file descriptors 1 and 2 at the step's log files for
the step, and mirrors each file back to the worker's own output with a ``tail -F`` process, watched by a
``python watch_orphans.py`` interpreter: four process starts per Celery step (~50 ms of the step and ~80 ms
of CPU beside it, ``benchmarks/README.md``), and ``tail``'s 1 s poll loses the last lines of a step from the
worker's own log when it is killed at the end (dagster#23336).

``TeeComputeLogManager`` captures the same thing (file descriptors 1 and 2, so C extensions and child
processes are captured as before) through a pipe, which one thread per stream copies both into the step's log
file and to the worker's original output, until the step ends and the pipe is drained. The files, their paths
and everything the UI reads (``get_log_data``, the ``.complete`` marker, subscriptions) are the local
manager's, unchanged: stewards open a step's stdout/stderr from the run page as before.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import dagster as dg

from museum_sync.defs.worker_internals import (
    CapturedLogContext,
    ConfigurableClassData,
    LocalComputeLogManager,
    ensure_file,
    touch_file,
)
from museum_sync.telemetry import logs

__all__ = ["TeeComputeLogManager", "tee_output"]

# How long the end of a step waits for a stream's copy to drain. A process the step started and left running
# keeps the pipe open; after this the step goes on (logged: step_output_still_open) and the copy thread finishes
# when that process exits.
DRAIN_TIMEOUT_S = 5.0
_CHUNK = 64 * 1024


class TeeComputeLogManager(LocalComputeLogManager):
    """``LocalComputeLogManager`` (same files, same UI) capturing through an in-process tee, no processes.

    ``base_dir`` defaults to ``$DAGSTER_HOME/storage``, where Dagster's default manager writes.
    """

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            "base_dir": dg.Field(dg.StringSource, is_required=False),
            "polling_timeout": dg.Field(dg.Float, is_required=False),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> TeeComputeLogManager:
        config = dict(config_value)
        if "base_dir" not in config:
            home = os.environ.get("DAGSTER_HOME")
            if not home:
                raise ValueError("TeeComputeLogManager: set compute_logs.config.base_dir or DAGSTER_HOME")
            config["base_dir"] = str(Path(home) / "storage")
        return cls(inst_data=inst_data, **config)

    @contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Generator[Any, None, None]:
        outpath = self.get_captured_local_path(log_key, "out")
        errpath = self.get_captured_local_path(log_key, "err")
        with tee_output(sys.stdout, outpath), tee_output(sys.stderr, errpath):
            yield CapturedLogContext(log_key)
        touch_file(self.complete_artifact_path(log_key))  # the UI's "capture complete"


def _fileno(stream: IO[str]) -> int | None:
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a test runner's StringIO, a closed stream
        return None
    return fd if isinstance(fd, int) else None


@contextmanager
def tee_output(stream: IO[str], path: str) -> Iterator[None]:
    """Everything written to ``stream``'s file descriptor inside the block is appended to ``path`` and still
    reaches where the descriptor pointed before. A stream without a descriptor is left alone (as Dagster does)."""
    fd = _fileno(stream)
    if fd is None:
        yield
        return
    ensure_file(path)
    log = open(path, "ab")  # noqa: SIM115 - the copy thread closes it; opened here so a failure raises here
    stream.flush()
    saved = os.dup(fd)
    read_end, write_end = os.pipe()
    copier = threading.Thread(target=_copy, args=(read_end, log, os.dup(saved)), name=f"tee-{fd}", daemon=True)
    copier.start()
    os.dup2(write_end, fd)
    os.close(write_end)
    try:
        yield
    finally:
        try:
            stream.flush()
        finally:
            os.dup2(saved, fd)  # the last write end is gone: the copy reads to the end and stops
            os.close(saved)
            copier.join(DRAIN_TIMEOUT_S)
            if copier.is_alive():
                logs.log().warning("step_output_still_open", path=path, waited_s=DRAIN_TIMEOUT_S)


def _copy(read_end: int, log: IO[bytes], original: int) -> None:
    """Pipe -> log file and original output, until every write end is closed; owns and closes all three."""
    try:
        with log:
            while chunk := os.read(read_end, _CHUNK):
                log.write(chunk)
                log.flush()  # the UI reads the file while the step runs
                _write_all(original, chunk)
    finally:
        os.close(read_end)
        os.close(original)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError:  # the worker's own output is gone (a closed terminal): the log file still has it
            return
        view = view[written:]
