"""Process plumbing shared by the embedded PostgreSQL and Redis servers.

Both servers run as *our* child processes (never daemonized) so the kernel can stop them when we die:
``prctl(PR_SET_PDEATHSIG)`` is set in the child between fork and exec. Each state directory is guarded by
an ``flock`` so two museum-sync processes never start two servers on the same files; the kernel drops the
lock when its holder dies, so a free lock also proves that any server still running there is an orphan.

The servers trust whoever can reach their unix socket (PostgreSQL runs with ``trust`` authentication), so a
socket lives only in a directory no one else can enter: the state directory, or, when that path is too long
for a socket address, a fallback in /tmp that must be a real directory, owned by the server's account,
mode 0700 (``private_dir``): one someone else created first is refused, never reused. Nothing here changes
the permissions of a directory it did not create.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import pwd
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from museum_sync.core.exceptions import MuseumSyncError

__all__ = [
    "MAX_SOCKET_PATH",
    "ChildServer",
    "DirLock",
    "ServiceConfigError",
    "ServiceUnavailable",
    "log_tail",
    "open_log",
    "pdeathsig_preexec",
    "private_dir",
    "short_socket_dir",
    "traversal_blocker",
    "stop_process",
    "wait_until",
]

# sun_path is 108 bytes on Linux including the NUL; keep a margin.
MAX_SOCKET_PATH = 100
_PR_SET_PDEATHSIG = 1
_LOG_ROTATE_BYTES = 5 * 1024 * 1024


class ServiceUnavailable(MuseumSyncError):
    """PostgreSQL or Redis cannot be started or reached. The message names the URL (secrets hidden)."""


class ServiceConfigError(MuseumSyncError):
    """A service URL or state directory cannot be used as given (unsupported scheme, path too long...)."""


def pdeathsig_preexec(sig: int) -> Callable[[], None]:
    """Return a ``preexec_fn`` that asks the kernel to send ``sig`` to the child when its parent dies.

    Everything is looked up in the parent: between fork and exec only the prctl call runs. Popen's
    ``user=``/``group=`` switch happens *before* ``preexec_fn``, which matters because a credential change
    clears the death signal. The kernel ties the signal to the *thread* that forked: start servers from a
    long-lived thread (the main thread), not from a short-lived worker thread.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def _preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os.kill(os.getpid(), sig)

    return _preexec


class DirLock:
    """Exclusive, non-blocking ``flock`` on ``<path>`` held for the lifetime of one server."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, what: str) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise ServiceUnavailable(
                    f"{what} state directory is in use by another process (pid {owner}, lock {self.path}); "
                    "stop it or use another state directory"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def short_socket_dir(preferred: Path, socket_name: str) -> Path:
    """``preferred`` if ``preferred/socket_name`` fits in a unix socket address, else a short dir in /tmp.

    The fallback name is derived from ``preferred`` so the same state directory keeps the same socket URL.
    """
    if len(os.fsencode(preferred / socket_name)) <= MAX_SOCKET_PATH:
        return preferred
    import hashlib

    digest = hashlib.sha1(os.fsencode(preferred)).hexdigest()[:12]
    base = tempfile.gettempdir() if len(tempfile.gettempdir()) < 40 else "/tmp"
    fallback = Path(base) / f"ms-sock-{digest}"
    if len(os.fsencode(fallback / socket_name)) > MAX_SOCKET_PATH:
        raise ServiceConfigError(f"cannot find a short enough directory for the unix socket of {preferred}")
    return fallback


def _account(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def private_dir(path: Path, *, owner: int, group: int | None = None, what: str = "unix socket directory") -> Path:
    """``path`` as a private directory of ``owner``: created 0700 (and given to ``owner``) when missing; an
    existing one must be a real directory (not a symlink) owned by ``owner`` with no group/other access.

    Anything else is refused with a one-line ``ServiceConfigError``: in a shared place like /tmp, someone
    else may have created it first to intercept the server's socket.
    """
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    else:
        if os.geteuid() == 0 and owner != 0:
            os.chown(path, owner, -1 if group is None else group, follow_symlinks=False)
    info = os.lstat(path)
    mode = stat.S_IMODE(info.st_mode)
    problem = None
    if not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory" + (" (a symlink)" if stat.S_ISLNK(info.st_mode) else "")
    elif info.st_uid != owner:
        problem = f"is owned by {_account(info.st_uid)}, not {_account(owner)}"
    elif mode & 0o077:
        problem = f"has mode {mode:04o}, not 0700"
    if problem:
        raise ServiceConfigError(
            f"{what} {path} {problem}; someone else may have created it: remove it (or use a shorter state "
            "directory, whose sockets need no fallback) and start again"
        )
    return path


def traversal_blocker(path: Path, uid: int, gid: int) -> Path | None:
    """The first existing directory from / down to ``path`` that account ``uid``/``gid`` (no supplementary
    groups) may not pass through (no search permission); ``None`` when it reaches ``path``."""
    for directory in (*reversed(path.parents), path):
        try:
            info = os.stat(directory)
        except FileNotFoundError:
            return None  # what is missing we create, traversable
        if not stat.S_ISDIR(info.st_mode):
            continue
        if info.st_uid == uid:
            bit = stat.S_IXUSR
        elif info.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return directory
    return None


def open_log(path: Path) -> tuple[IO[bytes], int]:
    """Open a server log for appending (rotating it once past 5 MB); return it and the offset of this run.

    Created 0600: a server log may quote statements and data.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.stat().st_size > _LOG_ROTATE_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    log = os.fdopen(fd, "ab")  # handed to the child; the caller closes it in stop()
    return log, log.tell()


def log_tail(path: Path, offset: int = 0, lines: int = 30) -> str:
    """The last ``lines`` lines written to ``path`` since ``offset``, for error messages."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", errors="replace")
    except OSError as err:
        return f"(no log at {path}: {err})"
    tail = text.rstrip().splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


def stop_process(
    proc: subprocess.Popen[bytes], signals: Sequence[tuple[int, float]], *, final: int = signal.SIGKILL
) -> int:
    """Send each ``(signal, wait_seconds)`` in turn until ``proc`` exits; ``final`` as the last resort."""
    for sig, wait in signals:
        if proc.poll() is not None:
            break
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.send_signal(final)
    return proc.wait()


def wait_until(deadline: float, interval: float = 0.01) -> bool:
    """Sleep one ``interval``; False once ``deadline`` (a ``time.monotonic`` value) has passed."""
    if time.monotonic() >= deadline:
        return False
    time.sleep(interval)
    return True


class ChildServer:
    """Lifecycle shared by the embedded servers: a child process, its log file and its state-dir lock.

    Subclasses set ``_proc``, ``_log`` and ``_lock`` in ``__init__`` and implement ``start``/``stop``.
    """

    _proc: subprocess.Popen[bytes] | None
    _log: IO[bytes] | None
    _lock: DirLock

    def start(self) -> None:
        raise NotImplementedError

    def stop(self, timeout: float = 10.0) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    def kill(self) -> None:
        """SIGKILL, as a crash would (for fault tests); ``start()`` recovers from it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._abort()

    def _abort(self) -> None:
        """Kill a half-started server and free the state dir (a failed start leaves nothing behind)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._lock.release()
