"""Dynamic partitions: one key per export, one key per chunk (``<export_id>/<nnnn>``, ``core.keys``)."""

from __future__ import annotations

import dagster as dg

__all__ = ["chunk_partitions", "export_partitions"]

export_partitions = dg.DynamicPartitionsDefinition(name="exports")
chunk_partitions = dg.DynamicPartitionsDefinition(name="chunks")
