"""Sample exports shipped with museum-sync for the demo and the tests.

``tate_artwork_data_first52rows.csv`` is the first 52 rows of Tate's ``artwork_data.csv``
(github.com/tategallery/collection @ 2a36a303c653, CC0 1.0; see LICENCE.md here). The demo exports are
derived from those real rows by ``museum_sync.samples.generate`` (new ids, a ``rights`` column, a few bad
records, one drifted chunk) and written fresh on every demo run, so they are always byte-identical.
"""

from __future__ import annotations

from pathlib import Path

from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync.settings import get_settings

__all__ = ["DEMO_PROFILE", "demo_exports", "night1_spec", "night2_spec"]

DEMO_PROFILE = "tate_artworks_csv"
DEMO_CHUNK = 500


def night1_spec() -> ExportSpec:
    """2,000 records in 4 chunks; ~1% bad records of non-blocking kinds: it publishes."""
    return ExportSpec(records=2000, seed=1, chunk_size=DEMO_CHUNK, bad_share=0.01)


def night2_spec() -> ExportSpec:
    """The next night: some objects withdrawn, chunk 1 with malformed rights, chunk 2 drifted: it is held back."""
    return ExportSpec(
        records=2000,
        seed=2,
        chunk_size=DEMO_CHUNK,
        bad_share=0.01,
        skip_every=40,
        bad_chunks={"malformed_rights": [1]},
        drift_chunks=[2],
    )


def demo_exports(folder: Path | None = None) -> list[tuple[str, Path]]:
    """Write the two demo nights' exports into ``folder`` (default ``<home>/samples``); ``(label, path)`` each."""
    folder = folder or get_settings().home / "samples"
    return [
        ("night 1 (clean export)", write_export(night1_spec(), folder / "tate_export_night1.csv")),
        (
            "night 2 (bad rights in one chunk, drift in another)",
            write_export(night2_spec(), folder / "tate_export_night2.csv"),
        ),
    ]
