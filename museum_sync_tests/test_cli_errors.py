"""``museum-sync`` as an operator runs it: exit code 2 and one clear line on stderr, never a traceback.

Each case runs ``python -m museum_sync.cli`` in a fresh process with a clean environment (no
``MUSEUM_SYNC_*`` from the developer's shell). File and profile errors are checked with ``validate``,
which needs no services; service errors with ``status``, which connects before doing anything else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import museum_sync.samples
from museum_sync.pipeline.profiles import list_profiles
from museum_sync.services import ServiceUrls

TATE_CSV = "csv/tate_artwork_data_first52rows.csv"
PREFIX = "museum-sync: error: "
SAMPLE_CSV = Path(museum_sync.samples.__file__).parent / "tate_artwork_data_first52rows.csv"
# What the commands that need no services must never load: slow to import, and absent where only the
# offline tools are installed.
HEAVY = ("dagster", "celery", "psycopg", "elasticsearch")


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MUSEUM_SYNC_", "DAGSTER_"))}
    return subprocess.run(
        [sys.executable, "-m", "museum_sync.cli", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (asserting exit code 2 and no traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith(PREFIX), lines[0]
    return lines[0][len(PREFIX) :]


# ------------------------------------------------------------------------------------- commands that work


def test_profiles_lists_the_shipped_profiles(tmp_path):
    result = _run("profiles", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert listed == list_profiles()
    assert {"tate_artworks_csv", "aic_artworks_csv", "lido_xml"} <= set(listed)


def test_validate_reports_the_tate_sample_all_valid(tmp_path, shared_data):
    result = _run("validate", str(shared_data / TATE_CSV), "--profile", "tate_artworks_csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "52 records, 52 valid" in result.stdout
    assert result.stderr == ""
    assert not (tmp_path / ".state").exists(), "validate must not start services or create state"


_LIGHT = """
import contextlib, io, json, sys
from museum_sync import cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        rc = cli.main(json.loads(sys.argv[1]))
    except SystemExit as exit:  # --help
        rc = exit.code
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.argv[2])))
print(json.dumps({"rc": rc, "loaded": loaded, "out": out.getvalue()}))
"""


def _light_run(cwd: Path, args: list[str]) -> list[str]:
    """Run ``cli.main(args)`` in a fresh process; which of ``HEAVY`` it imported."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MUSEUM_SYNC_", "DAGSTER_"))}
    result = subprocess.run(
        [sys.executable, "-c", _LIGHT, json.dumps(args), json.dumps(HEAVY)],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["rc"] == 0, report
    assert report["out"], "the command printed nothing"
    return list(report["loaded"])


# The commands that need no services, with arguments that make each print something.
LIGHT_COMMANDS = {
    "validate": ["validate", str(SAMPLE_CSV), "--profile", "tate_artworks_csv"],
    "profiles": ["profiles"],
    "help": ["--help"],
}


@pytest.mark.parametrize("command", LIGHT_COMMANDS)
def test_light_commands_import_no_orchestration(tmp_path, command):
    """validate, profiles and --help start fast: neither Dagster nor Celery is imported (the CLI imports
    them inside the commands that run jobs or workers)."""
    loaded = _light_run(tmp_path, LIGHT_COMMANDS[command])
    assert not {"dagster", "celery"} & set(loaded), f"museum-sync {command} imported {loaded}"


@pytest.mark.parametrize("command", LIGHT_COMMANDS)
def test_light_commands_import_no_service_client(tmp_path, command):
    """validate, profiles and --help need no services: psycopg and Elasticsearch are not imported."""
    loaded = _light_run(tmp_path, LIGHT_COMMANDS[command])
    assert not {"psycopg", "elasticsearch"} & set(loaded), f"museum-sync {command} imported {loaded}"


# ---------------------------------------------------------------------------------------- file errors


def test_missing_export_file_names_the_path(tmp_path):
    missing = tmp_path / "exports" / "artwork_data.csv"
    message = _error_line(_run("validate", str(missing), "--profile", "tate_artworks_csv", cwd=tmp_path))
    assert str(missing) in message
    assert "not found" in message


def test_empty_export_file_names_the_file(tmp_path):
    empty = tmp_path / "artwork_data.csv"
    empty.write_bytes(b"")
    message = _error_line(_run("validate", str(empty), "--profile", "tate_artworks_csv", cwd=tmp_path))
    assert str(empty) in message
    assert "empty" in message


def _latin1_export(tmp_path: Path, shared_data: Path) -> tuple[Path, int, int]:
    """The Tate sample with one 'é' written as latin-1 (0xE9) in a utf-8 file; returns (path, line, offset)."""
    data = (shared_data / TATE_CSV).read_bytes()
    line_start = [i + 1 for i, b in enumerate(data) if b == 0x0A][4]  # start of line 6
    offset = data.index(b"a", line_start)
    path = tmp_path / "artwork_data.csv"
    path.write_bytes(data[:offset] + b"\xe9" + data[offset + 1 :])
    return path, data[:offset].count(b"\n") + 1, offset


def test_undecodable_bytes_name_line_and_byte_offset(tmp_path, shared_data):
    path, line, offset = _latin1_export(tmp_path, shared_data)
    message = _error_line(_run("validate", str(path), "--profile", "tate_artworks_csv", cwd=tmp_path))
    assert f":{line} (byte {offset}):" in message
    assert "b'\\xe9'" in message and "utf-8" in message


def test_undecodable_bytes_name_the_operators_file(tmp_path, shared_data):
    path, line, offset = _latin1_export(tmp_path, shared_data)
    message = _error_line(_run("validate", str(path), "--profile", "tate_artworks_csv", cwd=tmp_path))
    assert message.startswith(f"{path}:{line} (byte {offset}):")


def test_unknown_profile_lists_the_known_ones(tmp_path, shared_data):
    result = _run("validate", str(shared_data / TATE_CSV), "--profile", "tate_artwork_csv", cwd=tmp_path)
    message = _error_line(result)
    assert "tate_artwork_csv" in message
    for name in list_profiles():
        assert name in message


def test_debug_shows_the_traceback(tmp_path):
    result = _run("--debug", "validate", str(tmp_path / "nope.csv"), "--profile", "tate_artworks_csv", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "SourceNotFound" in result.stderr


# ------------------------------------------------------------------------------------- service errors


def test_unreachable_postgres_names_the_url_without_its_password(tmp_path):
    env = {
        "MUSEUM_SYNC_PG_URL": "postgresql://museum:s3cret@127.0.0.1:1/nope",
        "MUSEUM_SYNC_REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    result = _run("--state-dir", str(tmp_path / "state"), "status", cwd=tmp_path, env=env)
    message = _error_line(result)
    assert "PostgreSQL at postgresql://museum:***@127.0.0.1:1/nope is not reachable" in message
    assert "s3cret" not in result.stderr + result.stdout


@pytest.mark.integration
def test_unreachable_redis_names_the_url_without_its_password(tmp_path, services: ServiceUrls):
    env = {"MUSEUM_SYNC_PG_URL": services.pg_url, "MUSEUM_SYNC_REDIS_URL": "redis://:pw@127.0.0.1:1/0"}
    result = _run("--state-dir", str(tmp_path / "state"), "status", cwd=tmp_path, env=env)
    message = _error_line(result)
    assert "Redis at redis://:***@127.0.0.1:1/0 is not reachable" in message
    assert "pw" not in result.stderr + result.stdout
