"""Worker health: what a worker announces, its heartbeats, and the verdict ``museum-sync doctor`` and the sync
sensors act on.

Each worker keeps one record in Redis (the result backend's, which every deployment has, RabbitMQ ones too):
``museum-sync:worker:<name>`` holds its announcement (code version, LIDO/Dublin Core schema versions and a hash of
the XSD files it validates against, queues, limits) and its last heartbeat and RSS. Why our own record rather than
Celery's heartbeats: Celery's are events (workers run ``--without-gossip``, task events off), and ``inspect`` only
hears workers that are alive, so a dead worker would simply be missing; a record that outlives its worker
(``MUSEUM_SYNC_FORGET_AFTER_S``) is how ``doctor`` can say *stale*. A worker that stops cleanly deletes its record.

``verdict()`` is the one rule: no worker, code versions or schema hashes that differ (between workers, or from
the process asking: the code location that launches runs), a stale worker, or a queue nobody consumes, fails.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from museum_sync.settings import get_settings, redis_urls

__all__ = [
    "KEY_PREFIX",
    "SCHEMA_VERSIONS",
    "Verdict",
    "WorkerRecord",
    "code_version",
    "check_fleet",
    "delete_record",
    "heartbeat_file",
    "liveness",
    "read_records",
    "redis_client",
    "schema_hash",
    "verdict",
    "write_record",
]

KEY_PREFIX = "museum-sync:worker:"
SCHEMA_VERSIONS = {"lido": "1.1", "dc": "oai_dc 2.0 (DC 1.1 elements)"}
_PACKAGE = Path(__file__).resolve().parent.parent


def schema_hash(root: Path | None = None) -> str:
    """sha256 (first 16 hex) of every XSD under ``core/schemas`` (relative path and bytes), the files validated
    against: two workers validate alike only if these are equal. Read once per process for the package's own."""
    return _hash_xsds(root) if root is not None else _package_schema_hash()


@cache
def _package_schema_hash() -> str:
    return _hash_xsds(_PACKAGE / "core" / "schemas")


def _hash_xsds(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.xsd")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@cache
def code_version() -> str:
    """``<package version>+<git commit>`` (``+<MUSEUM_SYNC_BUILD_ID>`` in an image without .git; ``+dirty`` when
    the work tree has changes): two workers run the same code only if these are equal."""
    try:
        version = metadata.version("museum-sync")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    build = get_settings().telemetry.build_id or _git_commit()
    return f"{version}+{build}" if build else version


def _git_commit() -> str:
    try:
        run = lambda *args: subprocess.run(  # noqa: E731
            ["git", *args], cwd=_PACKAGE, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        commit = run("rev-parse", "--short=12", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", str(_PACKAGE))
    except (OSError, subprocess.SubprocessError):
        return ""
    return commit + (".dirty" if dirty else "")


def heartbeat_file(worker: str) -> Path:
    """The file a worker touches on each heartbeat, beside its metric files (``doctor --liveness`` reads it)."""
    from museum_sync.telemetry.metrics import metrics_root

    return metrics_root() / f"{worker.replace('@', '_')}.heartbeat"


def liveness(now: float | None = None) -> tuple[bool, str]:
    """Whether the workers of this host beat recently (their heartbeat files): the container's liveness probe."""
    now = now or time.time()
    stale_after = get_settings().telemetry.stale_after_s
    from museum_sync.telemetry.metrics import metrics_root

    files = sorted(metrics_root().glob("*.heartbeat"))
    if not files:
        return False, f"no heartbeat file in {metrics_root()}"
    ages = {path.stem: now - path.stat().st_mtime for path in files}
    stale = {name: age for name, age in ages.items() if age > stale_after}
    if stale:
        return False, "stale: " + ", ".join(f"{name} {age:.0f} s" for name, age in stale.items())
    return True, "alive: " + ", ".join(f"{name} {age:.0f} s ago" for name, age in ages.items())


@dataclass
class WorkerRecord:
    """One worker as it announced itself, with its last heartbeat."""

    name: str
    host: str
    pid: int
    version: str
    schema_versions: dict[str, str]
    schema_hash: str
    queues: list[str]
    limits: dict[str, int]
    started_at: float
    heartbeat_at: float
    rss_bytes: int = 0
    children_rss_bytes: list[int] = field(default_factory=list)

    def age(self, now: float | None = None) -> float:
        return (now or time.time()) - self.heartbeat_at

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> WorkerRecord:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def redis_client() -> Any:
    """redis-py client of the result backend's Redis (where worker records live)."""
    import redis

    url = redis_urls(get_settings().result_backend)[1]
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def write_record(client: Any, record: WorkerRecord) -> None:
    """Write (or refresh) a worker's record; it expires ``MUSEUM_SYNC_FORGET_AFTER_S`` after its last heartbeat."""
    client.set(KEY_PREFIX + record.name, record.to_json(), ex=get_settings().telemetry.forget_after_s)


def delete_record(client: Any, name: str) -> None:
    client.delete(KEY_PREFIX + name)


def read_records(client: Any) -> list[WorkerRecord]:
    keys = sorted(client.scan_iter(match=KEY_PREFIX + "*", count=500))
    values = client.mget(keys) if keys else []
    return [WorkerRecord.from_json(v) for v in values if v]


@dataclass
class Verdict:
    """What ``doctor`` prints and the sensors refuse on: ``problems`` empty means healthy."""

    workers: list[WorkerRecord]
    problems: list[str]
    reference: dict[str, str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return "; ".join(self.problems) if self.problems else f"{len(self.workers)} workers healthy"


def verdict(
    records: Sequence[WorkerRecord],
    required_queues: Iterable[str],
    *,
    now: float | None = None,
    reference: dict[str, str] | None = None,
) -> Verdict:
    """The one health rule (module docstring). ``reference``: this process's version and schema hash."""
    now = now or time.time()
    stale_after = get_settings().telemetry.stale_after_s
    reference = reference or {"version": code_version(), "schema_hash": schema_hash()}
    problems: list[str] = []
    if not records:
        problems.append("no worker has announced itself (is `museum-sync worker` running on this broker?)")
    for kind, attr in (("code versions", "version"), ("schema hashes", "schema_hash")):
        seen = {getattr(r, attr) for r in records} | {reference[attr]}
        if len(seen) > 1:
            by_value = {
                value: [r.name for r in records if getattr(r, attr) == value]
                + (["this process"] if reference[attr] == value else [])
                for value in sorted(seen)
            }
            problems.append(f"{kind} differ: " + "; ".join(f"{v}: {', '.join(n)}" for v, n in by_value.items()))
    stale = [r for r in records if r.age(now) > stale_after]
    for record in stale:
        problems.append(
            f"worker {record.name} is stale: last heartbeat {record.age(now):.0f} s ago (> {stale_after:g} s)"
        )
    live_queues = {q for r in records if r not in stale for q in r.queues}
    missing = [q for q in required_queues if q not in live_queues]
    if missing:
        problems.append(f"no live worker consumes queue(s) {', '.join(missing)}")
    return Verdict(workers=list(records), problems=problems, reference=reference)


def check_fleet(required_queues: Iterable[str]) -> Verdict:
    """``verdict`` on the records in Redis now; Redis unreachable is itself a failed verdict (nothing can run)."""
    from museum_sync.redaction import redact

    client = redis_client()
    try:
        records = read_records(client)
    except Exception as exc:  # noqa: BLE001 - redis-py raises several kinds; each means "cannot tell"
        url = redact(get_settings().result_backend)
        return Verdict(workers=[], problems=[f"cannot read worker records from Redis {url}: {exc}"], reference={})
    finally:
        client.close()
    return verdict(records, required_queues)
