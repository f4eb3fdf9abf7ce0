"""A Redis Sentinel set for tests and benchmarks: a master, a replica and three sentinels, as child processes.

Every process is ``redis-server`` (the distribution's binary, ``--sentinel`` for the sentinels) on a free
TCP port of 127.0.0.1, with its files in a directory of its own, and dies with the test process (parent-death
signal). The sentinels watch the master under ``MASTER_NAME`` with a quorum of 2 and declare it down after
``down_after_ms`` without an answer, so killing the master promotes the replica in a few seconds (2.5 s
measured), as in production, only faster. No persistence: what the replica had not received when the
master died is gone (``replica_cut_off`` makes sure there is some), which is the risk the lost-step watch
covers (``museum_sync/defs/executor.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from museum_sync.services._common import pdeathsig_preexec

__all__ = ["MASTER_NAME", "SentinelSet", "redis_server", "sentinel_set"]

MASTER_NAME = "museum"
HOST = "127.0.0.1"


def redis_server() -> str | None:
    """The distribution's ``redis-server`` (sentinel mode included), or None."""
    return shutil.which("redis-server", path="/usr/bin:/usr/local/bin:/usr/sbin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class SentinelSet:
    """Master + replica + three sentinels on ``base``; ``url(db)`` is the broker/backend URL list."""

    base: Path
    down_after_ms: int = 1000
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    # -- URLs and clients

    def url(self, db: int) -> str:
        """``sentinel://…;sentinel://…/db?master_name=…``: the settings' form (MUSEUM_SYNC_BROKER_URL)."""
        hosts = [f"sentinel://{HOST}:{self.ports[name]}" for name in self.sentinels]
        return ";".join(hosts) + f"/{db}?master_name={MASTER_NAME}"

    @property
    def sentinels(self) -> list[str]:
        return sorted(name for name in self.ports if name.startswith("sentinel"))

    def client(self, name: str, db: int = 0) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.ports[name], db=db, socket_timeout=2, socket_connect_timeout=2)

    def master(self) -> str | None:
        """Which server (``"a"``, ``"b"``) the sentinels name as master now; None if they do not agree."""
        names = set()
        for sentinel in self.sentinels:
            try:
                host, port = self.client(sentinel).sentinel_get_master_addr_by_name(MASTER_NAME)
            except (redis.RedisError, TypeError):
                return None
            names.add(next((n for n, p in self.ports.items() if p == int(port) and n in ("a", "b")), None))
        return names.pop() if len(names) == 1 else None

    def master_client(self, db: int = 0) -> redis.Redis:
        name = self.master()
        assert name is not None, "the sentinels do not agree on a master"
        return self.client(name, db)

    # -- lifecycle

    def start(self, timeout: float = 30.0) -> SentinelSet:
        binary = redis_server()
        assert binary is not None, "redis-server is not installed"
        for name in ("a", "b", "sentinel1", "sentinel2", "sentinel3"):
            self.ports[name] = _free_port()
        common = ["--bind", HOST, "--save", "", "--appendonly", "no", "--protected-mode", "no"]
        self._spawn("a", [binary, "--port", str(self.ports["a"]), *common])
        self._spawn("b", [binary, "--port", str(self.ports["b"]), *common, "--replicaof", HOST, str(self.ports["a"])])
        for name in self.sentinels:
            conf = self.base / f"{name}.conf"  # a sentinel rewrites its config file: one each, writable
            conf.write_text(
                f"port {self.ports[name]}\nbind {HOST}\nprotected-mode no\n"
                f"sentinel monitor {MASTER_NAME} {HOST} {self.ports['a']} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
                f"sentinel failover-timeout {MASTER_NAME} 5000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n",
                encoding="utf-8",
            )
            self._spawn(name, [binary, str(conf), "--sentinel"])
        deadline = time.monotonic() + timeout
        while not self._ready():
            assert time.monotonic() < deadline, f"the Sentinel set did not come up in {timeout:.0f} s: {self.logs()}"
            time.sleep(0.1)
        return self

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.base / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            command,
            cwd=self.base,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=pdeathsig_preexec(signal.SIGKILL),
        )
        log.close()

    def _ready(self) -> bool:
        """The replica is in sync and every sentinel knows the master, its replica and the two other sentinels."""
        try:
            if self.client("b").info("replication").get("master_link_status") != "up":
                return False
            for sentinel in self.sentinels:
                state = self.client(sentinel).sentinel_master(MASTER_NAME)
                if int(state.get("num-other-sentinels", 0)) < 2 or int(state.get("num-slaves", 0)) < 1:
                    return False
        except redis.RedisError:
            return False
        return self.master() == "a"

    @contextmanager
    def replica_cut_off(self, replica: str = "b", master: str = "a") -> Iterator[None]:
        """The replica stops receiving writes while the master goes on taking them (a stall or a partition):
        it is stopped (SIGSTOP) and the master drops its replication link, so what the master writes from now
        on reaches the replica's socket never, not even its kernel buffer. Resumed (SIGCONT) on exit."""
        pid = self.procs[replica].pid
        os.kill(pid, signal.SIGSTOP)
        try:
            assert self.client(master).client_kill_filter(_type="replica") >= 1, "no replication link to cut"
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def kill(self, name: str) -> float:
        """SIGKILL server ``name`` (no shutdown, no last write): when it died, ``time.monotonic()``."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(10)
        return time.monotonic()

    def wait_promoted(self, old: str, timeout: float = 30.0) -> str:
        """Wait until the sentinels agree on a new master other than ``old`` and it takes writes; its name."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            name = self.master()
            if name is not None and name != old:
                try:
                    if self.client(name).info("replication").get("role") == "master":
                        return name
                except redis.RedisError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"no replica promoted {timeout:.0f} s after {old} died: {self.logs()}")

    def logs(self, tail: int = 1500) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-tail:]}" for log in sorted(self.base.glob("*.log"))
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()
        for proc in self.procs.values():
            proc.wait(10)
        self.procs.clear()


@contextmanager
def sentinel_set(base: Path, *, down_after_ms: int = 1000) -> Iterator[SentinelSet]:
    """A started ``SentinelSet`` in ``base``, stopped on exit."""
    base.mkdir(parents=True, exist_ok=True)
    sentinels = SentinelSet(base, down_after_ms=down_after_ms)
    try:
        yield sentinels.start()
    finally:
        sentinels.stop()
