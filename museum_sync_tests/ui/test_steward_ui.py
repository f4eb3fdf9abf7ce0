"""What a steward sees in the Dagster UI after a night with a quarantined chunk, in a real browser.

One ``museum-sync dev`` on the embedded default (its own PostgreSQL, Redis, webserver, daemon and worker in a
fresh state folder) and one night whose only chunk drifted (width/height became "438 mm" text). The tests run
in order, as a steward works: the partition is red where they look (validated_chunk and catalog_chunk
Partitions tabs, the lineage graph), the check's metadata holds the sample-rejects table, the run page says
"expected quarantine" and what to do (no traceback), the CLI beside dev counts the same way, then the fix,
``replay_quarantined`` from the Launchpad, the partition green and the public catalogue switched. Dagster's
GraphQL client asserts the same partition states. Each step saves a screenshot into the folder printed at
the start (``docs/img/`` keeps the ones the steward guide shows).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from museum_sync.cli.stack import ATTACH_FILE, placement_variables
from museum_sync.core.keys import parse_export_id
from museum_sync.core.profiles import load_profile
from museum_sync.defs.vocabulary import counts_phrase
from museum_sync.samples.generate import ExportSpec, write_export
from museum_sync.settings import env_name, get_settings
from museum_sync_tests.ui.browser import body_text, chromium, click_text, ensure_chromium, wait_for, wait_text

pytestmark = [
    pytest.mark.integration,
    # dagster_graphql 1.13's client calls gql 4 the old way (a DocumentNode, variable_values): gql warns inside
    # itself on every query. Dagster's own client is what the issue asks for; its library-internal warning is
    # not ours to fix.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gql.*"),
]

selenium = pytest.importorskip("selenium", reason="selenium (the dev extra) drives the browser: pip install -e .[dev]")

LOCATION = "museum_sync.definitions"
# Long enough that the UI's partition lists shorten its keys in the middle: what survives is asserted.
SOURCE = "tate-britain-steward"
SOURCE_SLUG = "tate_britain_steward"
PARTITIONS_QUERY = """
query Statuses($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode { assetPartitionStatuses { ... on DefaultPartitionStatuses {
      materializedPartitions failedPartitions materializingPartitions } } }
  }
}
"""

RUN_ERRORS_QUERY = """
query Errors($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
  __typename
  ... on ExecutionStepFailureEvent { stepKey error { message stack } }
  ... on RunFailureEvent { error { message stack } }
} } } }
"""

RUN_TAGS_QUERY = """
query Tags($runId: ID!) { runOrError(runId: $runId) { ... on Run { tags { key value } } } }
"""


@dataclass
class Night:
    driver: Any
    graphql: Any
    ui: str
    state: Path
    env: dict[str, str]
    shots: Path
    profile: Path
    export_id: str
    key: str
    run_id: str

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def open(self, path: str, text: str) -> str:
        self.driver.get(self.ui + path)
        return wait_text(self.driver, text)

    def partition_row(self, key: str) -> Any:
        """A partition in a list: the UI shortens long keys in the middle, its ``title`` keeps the whole key."""
        from selenium.webdriver.common.by import By

        return wait_for(f"partition {key}", lambda: self.driver.find_element(By.XPATH, f"//*[@title='{key}']"), 30)

    def statuses(self, asset: str) -> dict[str, list[str]]:
        data = self.graphql._execute(PARTITIONS_QUERY, {"path": [asset]})
        return data["assetNodeOrError"]["assetPartitionStatuses"]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "museum_sync.cli", "--state-dir", str(self.state), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_run(graphql: Any, run_id: str, timeout: float = 240.0) -> str:
    done = wait_for(
        f"run {run_id} to finish",
        lambda: (s := graphql.get_run_status(run_id).value) in ("SUCCESS", "FAILURE", "CANCELED") and s,
        timeout,
        every=0.25,
    )
    return str(done)


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Night]:
    ensure_chromium()
    from dagster_graphql import DagsterGraphQLClient

    from museum_sync.defs.run_config import sync_run_config

    work = tmp_path_factory.mktemp("steward-ui")
    # Outside pytest's temp folders (it keeps only the last three runs): the screenshots stay to be looked at.
    shots = Path(tempfile.mkdtemp(prefix="museum-sync-ui-screenshots-"))
    print(f"\nsteward UI screenshots: {shots}")
    profile = work / "tate_steward.toml"
    shutil.copyfile(load_profile("tate_artworks_csv").origin, profile)
    export = write_export(ExportSpec(records=200, seed=21, chunk_size=200, drift_chunks=[0]), work / "night.csv")
    # The embedded default: no server named, whatever this shell says (dev starts its own in the state folder).
    env = {k: v for k, v in os.environ.items() if k not in placement_variables()}
    state, port = work / "state", _free_port()
    log = (work / "dev.log").open("wb")
    dev = subprocess.Popen(
        [sys.executable, "-m", "museum_sync.cli", "--state-dir", str(state), "dev", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
    )
    try:
        ui = f"http://127.0.0.1:{port}"
        wait_for("museum-sync dev to publish its services", lambda: (state / ATTACH_FILE).is_file(), 180)
        graphql = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=60)
        wait_for("the code location to load", lambda: graphql._execute("{ version }"), 180, every=0.25)
        run_id = graphql.submit_job_execution(
            "sync_export_job", run_config=sync_run_config(export, str(profile), SOURCE, chunk_size=200)
        )
        assert _wait_run(graphql, run_id) == "FAILURE", "the night's only chunk drifted: the run must fail"
        failed = graphql._execute(PARTITIONS_QUERY, {"path": ["validated_chunk"]})
        key = failed["assetNodeOrError"]["assetPartitionStatuses"]["failedPartitions"][0]
        with chromium() as driver:
            yield Night(
                driver=driver,
                graphql=graphql,
                ui=ui,
                state=state,
                env=env,
                shots=shots,
                profile=profile,
                export_id=key.split("/")[0],
                key=key,
                run_id=run_id,
            )
    finally:
        dev.send_signal(signal.SIGINT)  # dev stops its webserver, daemon, worker and servers itself
        try:
            dev.wait(90)
        except subprocess.TimeoutExpired:
            dev.kill()
            dev.wait(30)
        log.close()


def test_quarantined_chunk_is_failed_where_the_steward_looks(night: Night) -> None:
    for asset in ("validated_chunk", "catalog_chunk", "search_chunk"):
        statuses = night.statuses(asset)
        assert night.key in statuses["failedPartitions"], (asset, statuses)
        assert night.key not in statuses["materializedPartitions"], (asset, statuses)
    text = night.open("/assets/validated_chunk?view=partitions", "Failed (1)")
    assert "Materialized (0)" in text, text
    night.shot("01-validated-chunk-partitions-failed")
    row = night.partition_row(night.key)
    assert "…" in row.text, ("the key is long enough to be shortened in the 292 px list", row.text)
    _assert_source_night_and_chunk_shown(row.text, night.key)
    row.click()
    assert "did not materialize this asset" in wait_text(night.driver, "did not materialize this asset")
    night.shot("02-failed-partition-detail")
    night.open("/assets/catalog_chunk?view=partitions", "Failed (1)")
    night.partition_row(night.key)
    night.shot("03-catalog-chunk-partitions-failed")
    night.open("/assets/validated_chunk?view=lineage", "(1 failed)")
    # validated_chunk and catalog_chunk side by side, each "0% filled (1 failed)" with a red footer
    wait_for("both chunk assets failed in the graph", lambda: body_text(night.driver).count("(1 failed)") == 2, 60)
    night.shot("04-lineage-graph-failed")


def test_check_metadata_shows_counts_and_sample_rejects(night: Night) -> None:
    text = night.open("/assets/validated_chunk?view=checks", "record_validity")
    click_text(night.driver, "record_validity")
    text = wait_text(night.driver, "sample_rejects")
    assert "records_rejected" in text and "problems_found" in text and "next_step" in text
    night.shot("05-record-validity-check")
    from selenium.webdriver.common.by import By

    value = night.driver.find_element(By.XPATH, "//td[normalize-space(.)='sample_rejects']/following-sibling::td")
    value.find_element(By.XPATH, ".//*[contains(text(), 'Show Markdown')]").click()
    table = wait_text(night.driver, "file:line pointer")
    assert "night.csv:" in table and "width" in table, table[-2000:]
    header = night.driver.find_element(By.XPATH, "//*[normalize-space(text())='file:line pointer']")
    night.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", header)
    night.shot("06-sample-rejects-table")


def test_run_page_says_expected_quarantine_and_what_next(night: Night) -> None:
    # The stored errors of the step failure and of the run failure (which copies it): a message, no stack.
    events = night.graphql._execute(RUN_ERRORS_QUERY, {"runId": night.run_id})["logsForRun"]["events"]
    failures = [e for e in events if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent")]
    assert [e["__typename"] for e in failures] == ["ExecutionStepFailureEvent", "RunFailureEvent"], failures
    for failure in failures:
        assert failure["error"]["message"].startswith("ChunkQuarantined: expected quarantine, not a crash: chunk ")
        assert failure["error"]["stack"] == [], failure
    night.open(f"/runs/{night.run_id}", "Errored (1)")
    text = wait_text(night.driver, "expected quarantine, not a crash", 90)
    assert "ChunkQuarantined: expected quarantine, not a crash: chunk " + night.key in text
    assert "replay_quarantined" in text and "records rejected" in text and "problems found" in text
    assert "Traceback (most recent call last)" not in text and "Stack Trace:" not in text
    # The run's tags (its Runs-list row and "View tags and config") name the export and the quarantined chunk.
    run = night.graphql._execute(RUN_TAGS_QUERY, {"runId": night.run_id})["runOrError"]
    tags = {t["key"]: t["value"] for t in run["tags"]}
    name = parse_export_id(night.export_id)
    assert tags["museum-sync/export"] == f"{name.night} · {SOURCE_SLUG} · snapshot {name.snapshot}"
    assert tags["museum-sync/quarantined-c0000"] == f"{night.key}: schema_drift, record_validity"
    assert "replay_quarantined" in tags["museum-sync/next-step"]
    night.shot("07-run-page-quarantine-message")
    # The Runs list cuts tags at the end to its column: the export tag starts with the night.
    night.open("/runs", f"museum-sync/export: {name.night}")
    night.shot("12-runs-list-export-night-first")


def test_cli_beside_dev_attaches_and_counts_in_the_ui_words(night: Night) -> None:
    listed = night.cli("quarantine", "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "attached to the services of museum-sync dev" in listed.stdout
    line = next(line for line in listed.stdout.splitlines() if line.startswith(night.key))
    night.open("/assets/validated_chunk?view=checks", "record_validity")
    ui_phrase = wait_for(
        "the check's count phrase",
        lambda: next((t for t in body_text(night.driver).splitlines() if "records rejected" in t), None),
        30,
    )
    assert ui_phrase in line, (ui_phrase, line)
    assert ui_phrase == counts_phrase(*[int(w) for w in ui_phrase.replace(",", "").split() if w.isdigit()])


def test_replay_from_the_launchpad_turns_the_partition_green_and_publishes(night: Night) -> None:
    from museum_sync.clients.catalog import Catalog

    attach = json.loads((night.state / ATTACH_FILE).read_text(encoding="utf-8"))
    catalog = Catalog(attach["env"][env_name("postgres.pg_url")], schema=get_settings({}).catalog_schema)
    assert catalog.current_publication() is None, "nothing of this night is public while its chunk is quarantined"
    # The fix: the CMS now writes units into width/height; the profile accepts text there.
    text = night.profile.read_text(encoding="utf-8")
    for dim in ("width", "height"):
        text = text.replace(f'{{ name = "{dim}", type = "number" }}', f'{{ name = "{dim}", type = "string" }}')
    night.profile.write_text(text, encoding="utf-8")

    night.open(f"/locations/{LOCATION}/jobs/replay_quarantined/playground", "Launch Run")
    night.driver.execute_script(
        "const cm = document.querySelector('.CodeMirror').CodeMirror;"
        "cm.setValue(cm.getValue().replace(\"export_id: ''\", 'export_id: ' + arguments[0]));",
        night.export_id,
    )
    wait_text(night.driver, f"export_id: {night.export_id}")
    night.shot("08-launchpad-replay-quarantined")
    run_id = (
        wait_for("the replay run's page", lambda: _launched(night.driver), 90)
        and (night.driver.current_url.rsplit("/runs/", 1)[1].split("?")[0])
    )
    assert _wait_run(night.graphql, run_id) == "SUCCESS"
    night.open(f"/runs/{run_id}", "Success")
    night.shot("09-replay-run-succeeded")

    for asset in ("validated_chunk", "catalog_chunk", "search_chunk"):
        statuses = night.statuses(asset)
        assert night.key in statuses["materializedPartitions"] and not statuses["failedPartitions"], (asset, statuses)
    text = night.open("/assets/validated_chunk?view=partitions", "Materialized (1)")
    assert "Failed (0)" in text, text
    night.partition_row(night.key)
    night.shot("10-validated-chunk-partitions-green")
    publication = catalog.current_publication()
    assert publication is not None and publication.export_id == night.export_id
    assert catalog.list_quarantined(export_id=night.export_id) == []
    # The export's quarantine report: which chunk, why, replayed when and by whom (the Launchpad).
    text = night.open("/assets/published_export?view=events", "quarantine_report")
    assert "outcome" in text and "published:" in text
    night.shot("11-published-export-quarantine-report")


def _assert_source_night_and_chunk_shown(shown: str, key: str) -> None:
    """What the UI shows of a key it may shorten in the middle: the source (its first 12 characters at least),
    the night and the chunk are left; only the snapshot hash may go under the ellipsis."""
    name = parse_export_id(key.split("/")[0])
    shown = shown.strip()
    head, _, tail = shown.partition("…")
    assert shown == key or (key.startswith(head) and key.endswith(tail)), (shown, key)
    assert head.startswith(name.source[:12]), (shown, key)
    assert tail.endswith(f"-{name.night:%Y%m%d}/{key.split('/')[1]}") or shown == key, (shown, key)


def _launched(driver: Any) -> bool:
    """Click the Launchpad's "Launch Run" once it is enabled (it stays disabled while the config is being
    validated: a click then does nothing), and say whether the run's page opened."""
    from selenium.webdriver.common.by import By

    if "/runs/" in driver.current_url:
        return True
    for button in driver.find_elements(By.XPATH, "//button[.//*[normalize-space(text())='Launch Run']]"):
        if button.is_displayed() and button.is_enabled():
            button.click()
            deadline = time.monotonic() + 5
            while "/runs/" not in driver.current_url and time.monotonic() < deadline:
                time.sleep(0.1)
            break
    return "/runs/" in driver.current_url
