"""The CLI beside a running ``museum-sync dev``: dev publishes where its servers listen, other commands on the
same state folder attach to them; a file left by a dead dev is ignored. The whole path runs in the browser test
(``museum_sync_tests/ui``: ``quarantine list`` beside dev)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from museum_sync.cli.stack import ATTACH_FILE, Context, attached_services, publish_services


class _Services:
    def as_env(self) -> dict[str, str]:
        return {"MUSEUM_SYNC_PG_URL": "postgresql:///x?host=/s", "MUSEUM_SYNC_REDIS_URL": "redis://127.0.0.1:1/0"}


def test_dev_publishes_its_services_for_the_time_it_runs(tmp_path: Path) -> None:
    ctx = Context(env={}, services=_Services(), state_dir=tmp_path)
    with publish_services(ctx, "http://127.0.0.1:3000") as path:
        assert path == tmp_path / ATTACH_FILE
        assert path.stat().st_mode & 0o777 == 0o600
        attached = attached_services(tmp_path)
        assert attached is not None and attached["pid"] == os.getpid()
        assert attached["env"] == _Services().as_env() and attached["ui"] == "http://127.0.0.1:3000"
    assert not path.exists()
    assert attached_services(tmp_path) is None


def test_a_file_left_by_a_dead_dev_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    payload = {"pid": int(gone.stdout), "ui": "x", "env": {"A": "b"}}
    (tmp_path / ATTACH_FILE).write_text(json.dumps(payload), encoding="utf-8")
    assert attached_services(tmp_path) is None
    (tmp_path / ATTACH_FILE).write_text("not json", encoding="utf-8")
    assert attached_services(tmp_path) is None


def test_dev_and_worker_pools_have_their_own_node_names() -> None:
    from museum_sync.runtime import WorkerPool

    names = {f"{prefix}{os.getpid()}-" for prefix in ("dev", "worker", "replay")}
    commands = [WorkerPool(env={}, log_dir=Path("."), name=name).command(0) for name in names]
    nodes = {c[c.index("-n") + 1] for c in commands}
    assert len(nodes) == 3 and all(n.endswith("0@%h") for n in nodes)
