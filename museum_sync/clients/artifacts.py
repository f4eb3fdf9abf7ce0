"""The artifact store: snapshots, chunk plans and chunk outputs on shared storage.

Broker messages carry references (export id, chunk index), never records: every step reads its input
from here and writes its output here. Writes go to a temporary file in the same folder, are fsynced and
then renamed over the target, so a step that is redelivered, duplicated or killed half way leaves
either the old complete file or the new complete file, never a torn one.

Layout under the root::

    snapshots/<export_id>/                            one immutable snapshot (layout: ``pipeline.snapshot``)
    chunks/<export_id>/<nnnn>/valid.jsonl             validated records (canonical JSON, one per line)
    chunks/<export_id>/<nnnn>/rejects.jsonl           rejected records with every problem and the raw record
    chunks/<export_id>/<nnnn>/report.json             counts, reasons, drift report, check verdicts, digests

Export ids and chunk indexes name folders here, so ``snapshot_dir`` and ``chunk_dir`` refuse anything that
is not the one shape ``core.keys`` writes (``InvalidKey``, one line) before a path is built: an id from a
broker message, a run config or the command line can never reach ``..``, ``/`` or a newline into the tree.

The local filesystem is the default (a shared volume or NFS mount in production). Object stores
(S3/GCS) lack atomic rename; supporting them means writing with a conditional put, not yet done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from museum_sync.core.keys import check_export_id, partition_key, split_partition_key

__all__ = ["ArtifactStore", "atomic_writer", "file_sha256"]


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """Write ``path`` all at once: temp file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ArtifactStore:
    """Paths and atomic reads/writes under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def snapshot_dir(self, export_id: str) -> Path:
        """``snapshots/<export_id>``; ``InvalidKey`` for anything but an export id."""
        return self.root / "snapshots" / check_export_id(export_id)

    def chunk_dir(self, export_id: str, index: int) -> Path:
        """``chunks/<export_id>/<nnnn>``; ``InvalidKey`` unless that is a chunk partition key."""
        key = partition_key(check_export_id(export_id), index)
        split_partition_key(key)  # the index too: 0..999999, the digits the key format allows
        return self.root / "chunks" / key

    def write_json(self, path: Path, value: Any) -> None:
        data = json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1, default=str).encode("utf-8")
        with atomic_writer(path) as handle:
            handle.write(data + b"\n")

    @staticmethod
    def read_json(path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))
