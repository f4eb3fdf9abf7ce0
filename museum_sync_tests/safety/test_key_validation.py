"""Finding 11 of issue #12: export ids and partition keys name folders, so every place they enter refuses anything
but the one shape ``core.keys`` writes, with one line, before a file is read, written or removed.

The artifact store (``snapshot_dir``, ``chunk_dir``), ``pipeline.open_export`` and the chunk readers on it, the
snapshot staging folder (removed recursively), and the CLI commands that take an export id or a partition key.
Each hostile id points somewhere real: a file or folder placed where the path would land, which must stay
untouched (and unread).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from museum_sync import pipeline
from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.core.keys import InvalidKey
from museum_sync.pipeline import snapshot

GOOD = "tate-20261125-1a2b3c4d"
HOSTILE_IDS = [
    "../../etc/passwd",
    "x/../../y",
    f"{GOOD}\n",
    GOOD.upper(),
    f"{GOOD}/0001/..",
    "../../outside",
    "",
    f"{GOOD}/",
    f"/{GOOD}",
]
HOSTILE_KEYS = [f"{GOOD}/0001/..", "../../etc/passwd", "x/../../y/0001", f"{GOOD}/0001\n", f"{GOOD.upper()}/0001"]


@pytest.fixture
def layout(tmp_path: Path) -> tuple[ArtifactStore, Path]:
    """A store two levels down, and a fake snapshot (manifest, plan) where ``../../outside`` would land."""
    root = tmp_path / "a" / "b" / "artifacts"
    outside = tmp_path / "a" / "outside"  # root/snapshots/../../outside
    outside.mkdir(parents=True)
    (outside / "manifest.json").write_text('{"secret": "must not be read"}', encoding="utf-8")
    return ArtifactStore(root), outside


def _tree(path: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*"))


@pytest.mark.parametrize("export_id", HOSTILE_IDS)
def test_the_store_refuses_anything_but_an_export_id(layout, export_id: str) -> None:
    store, outside = layout
    before = _tree(store.root.parent.parent)
    for call in (
        lambda: store.snapshot_dir(export_id),
        lambda: store.chunk_dir(export_id, 1),
        lambda: pipeline.open_export(store, export_id),
        lambda: pipeline.read_report(store, export_id, 0),
    ):
        with pytest.raises(InvalidKey) as caught:
            call()
        assert "\n" not in str(caught.value) and "expected" in str(caught.value)
    assert _tree(store.root.parent.parent) == before
    assert not store.root.exists()


def test_the_store_refuses_a_chunk_index_the_key_format_cannot_spell(layout) -> None:
    store, _ = layout
    assert store.chunk_dir(GOOD, 999_999) == store.root / "chunks" / GOOD / "999999"
    for index in (-1, 1_000_000):
        with pytest.raises(InvalidKey):
            store.chunk_dir(GOOD, index)


def test_open_export_reads_nothing_outside_the_store(layout) -> None:
    """``../../outside`` from ``snapshots/`` is a real folder with a manifest: refused as an id, never opened."""
    store, outside = layout
    with pytest.raises(InvalidKey, match="not an export id: '../../outside'"):
        pipeline.open_export(store, "../../outside")
    assert (outside / "manifest.json").read_text(encoding="utf-8") == '{"secret": "must not be read"}'


@pytest.mark.parametrize(
    ("source", "tag"),
    [("x/../../victim", "tag"), ("tate", "../../victim-x"), ("Tate Gallery", "1"), ("tate", "a/b"), ("tate", "")],
)
def test_the_staging_folder_never_removes_anything_outside_snapshots(tmp_path: Path, source: str, tag: str) -> None:
    """The staging folder is removed recursively before and after use: its name must not climb out."""
    store = ArtifactStore(tmp_path / "artifacts")
    victims = [tmp_path / "artifacts" / "victim-tag", tmp_path / "victim-x-tag", tmp_path / "victim-x"]
    for victim in victims:
        victim.mkdir(parents=True, exist_ok=True)
        (victim / "keep.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(InvalidKey, match="not a staging folder name"):
        with snapshot.staging_folder(store, source, tag):
            pass
    for victim in victims:
        assert (victim / "keep.txt").read_text(encoding="utf-8") == "keep"


def test_the_staging_folder_takes_what_extraction_and_harvests_pass(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    for source, tag in (("tate", "235959123456"), ("kenom_oai", "0123456789abcdef")):
        with snapshot.staging_folder(store, source, tag) as staging:
            assert staging.parent == store.root / "snapshots" and staging.is_dir()
        assert not staging.exists()


# --------------------------------------------------------------------------------------------------- CLI


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUSEUM_SYNC_", "DAGSTER_"))}
    return subprocess.run(
        [sys.executable, "-m", "museum_sync.cli", "--state-dir", str(tmp_path / "state"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        *(["publish", export_id] for export_id in HOSTILE_IDS[:5]),
        *(["rollback", export_id] for export_id in HOSTILE_IDS[:5]),
        *(["quarantine", "list", "--export", export_id] for export_id in HOSTILE_IDS[:5]),
        *(["quarantine", "replay", key] for key in HOSTILE_KEYS),
    ],
    ids=repr,
)
def test_the_cli_refuses_a_hostile_id_with_one_line_before_anything_starts(tmp_path: Path, args: list[str]) -> None:
    result = _cli(tmp_path, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("museum-sync: error: not a") and "expected" in lines[0], lines[0]
    assert not (tmp_path / "state").exists(), "services were started (or the state folder made) before the check"
