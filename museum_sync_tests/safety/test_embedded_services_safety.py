"""Finding 10 of issue #12: the embedded servers trust whoever reaches their unix socket, so the socket
lives only in a directory nobody else controls, and starting them changes no permission outside the state
directory. Real embedded PostgreSQL and Redis; the root cases (CI runs as root, PostgreSQL as another
account) run when the suite does."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from museum_sync.services import EmbeddedPostgres, EmbeddedRedis, ServiceConfigError, make_scratch_dir
from museum_sync.services._common import traversal_blocker
from museum_sync.services.postgres import (
    PG_SYSTEM_USER,
    _root_owned_dir,
    _server_ids,
    pg_bin_dir,
    reachable_install,
)

integration = pytest.mark.integration
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: files owned by another account")


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    path = make_scratch_dir("ms-s-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def deep(short_tmp: Path) -> Path:
    """A state directory whose socket paths are too long for a socket address: the /tmp fallback is used."""
    return short_tmp / ("long-state-directory-" * 5)


def _server(kind: str, deep: Path) -> tuple[EmbeddedPostgres | EmbeddedRedis, Path]:
    if kind == "postgres":
        pg = EmbeddedPostgres(deep / "pg")
        assert pg.socket_dir != pg.data_dir
        return pg, pg.socket_dir
    rd = EmbeddedRedis(deep / "redis")
    assert rd.socket_path.parent != rd.state_dir
    return rd, rd.socket_path.parent


def _refused(server: EmbeddedPostgres | EmbeddedRedis, fallback: Path) -> str:
    try:
        with pytest.raises(ServiceConfigError) as caught:
            server.start()
    finally:
        server.stop()
        if fallback.is_symlink():
            fallback.unlink()
        else:
            shutil.rmtree(fallback, ignore_errors=True)
    message = str(caught.value)
    assert "\n" not in message and str(fallback) in message
    assert not server.running
    return message


def _modes(*paths: Path) -> dict[Path, int]:
    """st_mode of every existing directory from / down to each path."""
    return {p: p.stat().st_mode for path in paths for p in (*path.parents, path) if p.exists()}


# ------------------------------------------------------------------------------- pre-created socket dirs


@integration
@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_a_precreated_socket_dir_open_to_others_is_refused(kind: str, deep: Path) -> None:
    server, fallback = _server(kind, deep)
    os.mkdir(fallback)
    os.chmod(fallback, 0o777)  # anyone could swap the socket for their own
    message = _refused(server, fallback)
    assert "someone else may have created it" in message


@integration
@as_root
@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_a_precreated_socket_dir_owned_by_another_user_is_refused(kind: str, deep: Path) -> None:
    server, fallback = _server(kind, deep)
    nobody = pwd.getpwnam("nobody")
    os.mkdir(fallback, 0o700)
    os.chown(fallback, nobody.pw_uid, nobody.pw_gid)
    assert "is owned by nobody" in _refused(server, fallback)


@integration
@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_a_precreated_symlink_is_refused_and_its_target_left_alone(kind: str, deep: Path, short_tmp: Path) -> None:
    server, fallback = _server(kind, deep)
    target = short_tmp / "elsewhere"
    target.mkdir(mode=0o755)
    before = target.stat()
    os.symlink(target, fallback)
    assert "is not a directory (a symlink)" in _refused(server, fallback)
    after = target.stat()
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode)
    assert list(target.iterdir()) == []


@integration
def test_a_fallback_socket_dir_is_made_private_and_so_is_the_socket(deep: Path) -> None:
    pg = EmbeddedPostgres(deep / "pg")
    owner = pwd.getpwnam(PG_SYSTEM_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    try:
        with pg:
            info = os.lstat(pg.socket_dir)
            assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == owner
            socket = pg.socket_dir / ".s.PGSQL.5432"
            assert stat.S_IMODE(socket.stat().st_mode) & 0o077 == 0  # trust auth: nobody else may connect
            with psycopg.connect(pg.url()) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        with pg:  # the next start reuses its own private directory
            assert pg.running
    finally:
        shutil.rmtree(pg.socket_dir, ignore_errors=True)


# -------------------------------------------------------------------------- no permission changes outside


@integration
@as_root
def test_a_state_dir_behind_a_closed_parent_runs_elsewhere_and_no_parent_changes() -> None:
    """Root with a state dir under a closed parent (e.g. /root): the data directory moves to a private place
    the server account can reach, the state dir says where, and no parent's mode changes."""
    parent = Path(tempfile.mkdtemp(prefix="ms-closed-"))
    moved: Path | None = None
    try:
        parent.chmod(0o700)  # e.g. /root: PostgreSQL's account cannot pass it
        before = _modes(parent, pg_bin_dir())
        pg = EmbeddedPostgres(parent / "state" / "pg")
        with pg, psycopg.connect(pg.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            moved = pg.data_dir
        assert not moved.is_relative_to(parent)
        assert traversal_blocker(moved, *_server_ids()) is None
        assert (parent / "state" / "pg.location").read_text().strip() == str(moved)
        assert _modes(parent, pg_bin_dir()) == before  # not one parent (nor the binaries' path) was chmod-ed
    finally:
        shutil.rmtree(parent, ignore_errors=True)
        if moved is not None:
            shutil.rmtree(moved.parent, ignore_errors=True)


@integration
@as_root
def test_binaries_behind_a_closed_parent_are_run_from_a_root_owned_copy() -> None:
    parent = Path(tempfile.mkdtemp(prefix="ms-closed-bin-"))
    try:
        parent.chmod(0o700)
        install = parent / "pginstall"
        shutil.copytree(pg_bin_dir().parent, install, symlinks=True)
        ids = _server_ids()
        assert ids is not None
        copy = reachable_install(install, ids)
        assert not copy.is_relative_to(parent) and traversal_blocker(copy / "bin", *ids) is None
        info = os.lstat(copy)
        assert info.st_uid == 0 and not info.st_mode & 0o022  # only root may change what the server runs
        assert reachable_install(install, ids) == copy  # made once, reused
        assert stat.S_IMODE(parent.stat().st_mode) == 0o700
        hostile = Path(tempfile.gettempdir()) / "museum-sync-pginstall-hostile"
        hostile.mkdir(mode=0o777, exist_ok=True)
        hostile.chmod(0o777)
        with pytest.raises(ServiceConfigError, match="not a directory only root may write"):
            _root_owned_dir(hostile, mode=0o755)
        hostile.rmdir()
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@integration
def test_starting_changes_no_parent_directory_mode(short_tmp: Path) -> None:
    before = _modes(short_tmp / "pg", pg_bin_dir())
    with EmbeddedPostgres(short_tmp / "pg") as pg, psycopg.connect(pg.url()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert _modes(short_tmp, pg_bin_dir()) == before
