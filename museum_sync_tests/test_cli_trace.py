"""``museum-sync trace``'s words, from plain values: each hop present, and each missing one said plainly.

The same command against a real sync is asserted in ``integration/test_sync_e2e.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from museum_sync.cli.trace import format_trace, lineage_steps
from museum_sync.clients.catalog import ChunkState, Publication, QuarantineRow

EXPORT = "tate-20261203-a2908cbd"
KEY = f"{EXPORT}/0001"
WHEN = datetime(2026, 12, 3, 2, 15, 7, tzinfo=UTC)
ROW = {
    "record_id": "T01234",
    "chunk_key": KEY,
    "content_hash": "ab" * 32,
    "source_locator": "night.csv:231",
    "run_id": "run-load",
    "staging_table": "objects__tate_20261203_a2908cbd",
}


def _chunk(state: str = "loaded") -> ChunkState:
    return ChunkState(KEY, EXPORT, 1, state, "d" * 64, 199, 1, WHEN, "run-validate")  # type: ignore[arg-type]


def _publication(export_id: str = EXPORT) -> Publication:
    return Publication(7, export_id, ROW["staging_table"], "publish", WHEN, 799, 0, [], None, {})


def test_a_loaded_and_published_record_shows_every_hop() -> None:
    steps = lineage_steps(
        "T01234",
        EXPORT,
        row=ROW,
        chunk=_chunk(),
        rejects=[],
        search="museum-sync-tate-20261203-a2908cbd",
        document={"content_hash": ROW["content_hash"]},
        publication=_publication(),
        public_export=EXPORT,
    )
    assert [s.name for s in steps] == ["source", "chunk", "validation", "catalogue", "index", "publication"]
    assert all(s.found for s in steps)
    text = format_trace("T01234", EXPORT, steps)
    assert text.splitlines() == [
        f"record T01234 in export {EXPORT}",
        "     source       night.csv:231",
        f"  -> chunk        {KEY} (loaded)",
        "  -> validation   run run-validate",
        f"  -> catalogue    {ROW['staging_table']} (export {EXPORT}), content hash {'ab' * 32}, loaded by run run-load",
        "  -> index        museum-sync-tate-20261203-a2908cbd: present (same content hash)",
        "  -> publication  2026-12-03 02:15:07 UTC, publish #7; public now",
    ]


def test_a_rejected_record_is_traced_to_its_quarantine_and_no_further() -> None:
    reject = QuarantineRow(
        export_id=EXPORT,
        partition_key=KEY,
        record_id="T09999",
        file="night.csv",
        line=412,
        field="rights",
        reason="unknown_rights",
        message="rights 'all mine' is not a known licence",
    )
    steps = lineage_steps(
        "T09999",
        EXPORT,
        row=None,
        chunk=_chunk(),
        rejects=[reject],
        search=None,
        document=None,
        publication=_publication(),
        public_export=EXPORT,
    )
    text = format_trace("T09999", EXPORT, steps)
    assert "     source       night.csv:412" in text
    assert "validation   MISSING  run run-validate: rejected, in quarantine: unknown_rights (rights):" in text
    assert f"catalogue    MISSING  not loaded: the record is in quarantine (museum-sync quarantine show {KEY})" in text
    assert "index        MISSING  index not configured (PostgreSQL-only publication)" in text
    assert "public now; not in the published export" in text


def test_an_older_row_without_lineage_and_an_unpublished_export_say_so() -> None:
    old = ROW | {"source_locator": None, "run_id": None}
    steps = lineage_steps(
        "T01234",
        EXPORT,
        row=old,
        chunk=None,
        rejects=[],
        search="idx",
        document=None,
        publication=None,
        public_export="tate-20261202-00000000",
    )
    by_name = {s.name: s for s in steps}
    assert by_name["source"].text == "no file:line recorded (row loaded before lineage)"
    assert by_name["catalogue"].found and "loaded by run" not in by_name["catalogue"].text
    assert by_name["index"].text == "no document in idx"
    assert by_name["publication"].text == f"export {EXPORT} was never published"


def test_a_row_carried_over_by_an_incremental_export_names_the_run_that_loaded_it() -> None:
    carried = ROW | {"chunk_key": "~carried", "run_id": "run-full"}
    steps = lineage_steps(
        "T01234",
        "tate-20261204-incr0001",
        row=carried,
        chunk=None,
        rejects=[],
        search=None,
        document=None,
        publication=_publication("tate-20261204-incr0001"),
        public_export="tate-20261204-incr0001",
    )
    by_name = {s.name: s for s in steps}
    assert by_name["chunk"].found and "carried over from the export published before it" in by_name["chunk"].text
    assert by_name["validation"].text == "with the export it was loaded in (run run-full)"
    assert by_name["catalogue"].found and by_name["publication"].found
