"""Dynamic partitions: one key per export, one key per chunk (``<export_id>/<nnnn>``)."""

from __future__ import annotations

import dagster as dg

__all__ = ["chunk_partitions", "export_partitions", "split_chunk_key"]

export_partitions = dg.DynamicPartitionsDefinition(name="exports")
chunk_partitions = dg.DynamicPartitionsDefinition(name="chunks")


def split_chunk_key(partition_key: str) -> tuple[str, int]:
    """``tate-20261125-1a2b3c4d/0003`` -> (``tate-20261125-1a2b3c4d``, 3)."""
    export_id, sep, index = partition_key.rpartition("/")
    if not sep or not index.isdigit():
        raise ValueError(f"not a chunk partition key: {partition_key!r} (expected <export_id>/<nnnn>)")
    return export_id, int(index)
