"""Which quarantined chunks a replay runs: the CLI's ``quarantine replay`` and the Launchpad's
``replay_quarantined`` job choose them with the same rule. Pure (a catalogue client in, keys out): the CLI
imports it without loading Dagster.
"""

from __future__ import annotations

from typing import Any

__all__ = ["listed", "replay_selection"]

_SHOWN = 20


def replay_selection(
    client: Any, partitions: list[str], *, everything: bool, exports: list[str]
) -> tuple[list[str], list[str]]:
    """The partition keys a replay runs, and the lines that say so before it starts.

    Named keys as given; ``exports``: their open quarantined partitions; ``everything`` alone: those of the
    newest export (snapshot time) that has any, naming the others it leaves alone.
    """
    if partitions:
        return partitions, [f"will replay {len(partitions)} partition(s): {listed(partitions)}"]
    if not everything and not exports:
        return [], ["nothing to replay: name partition keys, --export EXPORT_ID (repeatable) or --all"]
    lines: list[str] = []
    others: list[tuple[str, int]] = []
    if not exports:
        with_open = client.exports_with_open_quarantines()
        if not with_open:
            return [], ["nothing to replay: no open quarantined partitions"]
        exports = [with_open[0][0]]
        others = [(export_id, count) for export_id, _, count in with_open[1:]]
    keys: list[str] = []
    for export_id in exports:
        open_keys = [q.partition_key for q in client.list_quarantined(export_id=export_id)]
        if open_keys:
            lines.append(f"will replay {len(open_keys)} open partition(s) of export {export_id}: {listed(open_keys)}")
        else:
            lines.append(f"export {export_id}: no open quarantined partitions")
        keys += open_keys
    if others:
        named = ", ".join(f"{export_id} ({count})" for export_id, count in others)
        lines.append(f"left alone, older exports with open quarantines: {named}; name them with --export to replay")
    return keys, lines


def listed(keys: list[str]) -> str:
    more = len(keys) - _SHOWN
    return ", ".join(keys[:_SHOWN]) + (f" and {more} more" if more > 0 else "")
