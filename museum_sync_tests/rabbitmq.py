"""The machine's RabbitMQ for tests and benchmarks: a vhost of one's own, made and removed with ``rabbitmqctl``.

The server (127.0.0.1:5672, guest/guest) is shared with other test sessions, so everything here acts on one
vhost only: its queues, its memory, its connections (a fault test closes *these*, never the server's).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["RABBIT", "RabbitVhost", "rabbit_missing", "rabbit_vhost"]

RABBIT = ("127.0.0.1", 5672)


def _rabbitmqctl() -> str | None:
    return shutil.which("rabbitmqctl", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def ctl(*args: str, check: bool = True) -> str:
    """``rabbitmqctl ARGS``: its output; an AssertionError with its message when it fails and ``check``."""
    path = _rabbitmqctl()
    assert path is not None, "rabbitmqctl is not installed"
    done = subprocess.run([path, *args], capture_output=True, text=True, timeout=120, check=False)
    assert not check or done.returncode == 0, f"rabbitmqctl {' '.join(args)}: {done.stderr.strip() or done.stdout}"
    return done.stdout


def rabbit_missing() -> str | None:
    """Why RabbitMQ cannot be used here, or None: the only reasons a RabbitMQ test skips."""
    if _rabbitmqctl() is None:
        return "rabbitmqctl is not installed (needed to create the test vhost)"
    try:
        socket.create_connection(RABBIT, timeout=2).close()
    except OSError as exc:
        return f"nothing accepts connections on {RABBIT[0]}:{RABBIT[1]} ({exc})"
    return None


@dataclass(frozen=True)
class RabbitVhost:
    name: str

    @property
    def url(self) -> str:
        """The Celery broker URL of this vhost (guest/guest)."""
        return f"amqp://guest:guest@{RABBIT[0]}:{RABBIT[1]}/{self.name}"

    def queues(self) -> dict[str, dict[str, Any]]:
        """``name -> {durable, arguments, messages, memory}`` of the vhost's queues."""
        out = ctl("list_queues", "-q", "-p", self.name, "name", "durable", "arguments", "messages", "memory",
                  "--formatter", "json")  # fmt: skip
        return {queue["name"]: queue for queue in json.loads(out or "[]")}

    def settled_queues(self, timeout: float = 15.0) -> dict[str, dict[str, Any]]:
        """``queues()`` once every queue reads empty, or the last reading after ``timeout`` seconds.

        RabbitMQ refreshes a quorum queue's message count a few seconds after the ack it counts (seen here:
        ``list_queues`` said 1 while ``basic.get`` found nothing ready and no consumer was left), so one reading
        straight after the workers stop can be stale; a message really left behind stays past the timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            queues = self.queues()
            if all(int(queue.get("messages") or 0) == 0 for queue in queues.values()) or time.monotonic() > deadline:
                return queues
            time.sleep(0.5)

    def queue_memory(self) -> int:
        """Bytes of memory the vhost's queue processes use now (RabbitMQ's own count)."""
        return sum(int(queue.get("memory") or 0) for queue in self.queues().values())

    def connections(self) -> list[dict[str, Any]]:
        """The vhost's client connections: ``pid``, ``name``, ``timeout`` (negotiated heartbeat, s), ``channels``."""
        out = ctl("list_connections", "-q", "pid", "name", "vhost", "timeout", "channels", "--formatter", "json")
        return [c for c in json.loads(out or "[]") if c.get("vhost") == self.name]

    def close_connections(self, reason: str) -> int:
        """Close every client connection of this vhost (not the server's others); how many there were."""
        count = len(self.connections())
        ctl("close_all_connections", "--vhost", self.name, "--limit", "1000", reason)
        return count


@contextmanager
def rabbit_vhost(prefix: str = "ms-test") -> Iterator[RabbitVhost]:
    """A new vhost with guest's permissions, deleted (with its queues) on exit."""
    vhost = RabbitVhost(f"{prefix}-{uuid.uuid4().hex[:12]}")
    ctl("add_vhost", vhost.name)
    try:
        ctl("set_permissions", "-p", vhost.name, "guest", ".*", ".*", ".*")
        yield vhost
    finally:
        ctl("delete_vhost", vhost.name)
