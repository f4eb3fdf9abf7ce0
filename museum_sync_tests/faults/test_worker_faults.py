"""Celery worker faults during a real sync run: a killed pool child, a killed worker, a step outliving the
broker's visibility timeout.

Each test syncs the same 6 x 300-record export (under its own source name) on its own stack, strikes while
chunk steps run (found through the Dagster event log and the broker, not by sleeping), and then demands
what a museum needs after a crash: the run ends, the export is published whole, byte-identical to the clean
reference run, and no reader ever saw a partial catalogue.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
import redis

from museum_sync.pipeline.failpoints import FAILPOINTS_ENV
from museum_sync_tests.faults.conftest import CHUNKS, FaultStack, Reference, wait_for

pytestmark = pytest.mark.integration

UNACKED_INDEX = "unacked_index"  # kombu's Redis transport: delivered, unacknowledged messages by delivery time


def _running_chunk_steps(stack: FaultStack, run_id: str, pids: set[int]) -> dict[str, int]:
    """``step key -> pid`` of sync_chunk steps started in one of ``pids`` and not finished yet."""
    done = stack.finished_steps(run_id)
    return {key: pid for key, pid, _ in stack.step_starts(run_id) if key not in done and pid in pids}


def _children(pid: int) -> set[int]:
    return {child.pid for child in psutil.Process(pid).children(recursive=True)}


def _unacked_ages(stack: FaultStack) -> list[float]:
    """Seconds since delivery of each message the broker holds as delivered but not acknowledged."""
    client = redis.Redis.from_url(stack.env["MUSEUM_SYNC_REDIS_URL"])
    try:
        now = time.time()
        return [now - score for _, score in client.zrange(UNACKED_INDEX, 0, -1, withscores=True)]
    finally:
        client.close()


def test_killed_pool_child_mid_chunk_is_redelivered_and_the_run_succeeds(
    fault_stack: FaultStack, fault_reference: Reference
) -> None:
    stack = fault_stack
    # Each chunk load holds its transaction open 3 s after its COPY started: the kill lands inside it.
    pool = stack.start_pool(**{FAILPOINTS_ENV: "load_chunk=sleep:3"})
    reader = stack.start_reader()
    run = stack.launch_sync("fault-child-kill")
    export_id = stack.export_id_of(run.run_id)
    watcher = stack.start_staging_watcher(export_id, fault_reference)
    parent = pool.procs[0].pid

    # Strike the first chunk step in the middle of its load: SIGKILL the pool child the event log says runs it.
    running = wait_for(
        lambda: _running_chunk_steps(stack, run.run_id, _children(parent)), 60, "a chunk step in a pool child"
    )
    key, pid = sorted(running.items())[0]
    partition = f"{export_id}/{int(key[len('sync_chunk[c') : -1]):04d}"
    wait_for(lambda: stack.load_open(partition), 30, f"the load transaction of {partition}", interval=0.05)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.time()

    result = run.wait()
    assert result.success, stack.diagnostics(result.run_id)
    starts = [(p, ts) for k, p, ts in stack.step_starts(result.run_id) if k == key]
    assert len(starts) == 2, f"{key} should have started twice (killed, then redelivered): {starts}"
    assert starts[1][0] != pid and starts[1][0] in _children(parent), "redelivered to a new child of the same worker"
    assert len(stack.step_starts(result.run_id)) == CHUNKS + 1, "only the killed step ran twice"
    assert pool.procs[0].poll() is None, "the worker itself survived the loss of a child"
    watcher.stop()
    stack.assert_like_reference(export_id, fault_reference, reader)
    print(
        f"\n[fault 1: pool child killed mid-load] {key} redelivered {starts[1][1] - killed_at:.2f} s after SIGKILL "
        f"(to the back of the queue); run "
        f"{run.seconds:.1f} s (clean {fault_reference.seconds:.1f} s); {fault_reference.count} rows, digest equal; "
        f"reader {reader.polls} polls {dict(reader.seen)}"
    )


def test_killed_worker_step_comes_back_after_visibility_timeout(
    fault_stack: FaultStack, fault_reference: Reference
) -> None:
    stack = fault_stack
    # Small, as every interval here, yet above a step's own length (validate sleeps 3 s): a worker's sweep
    # would otherwise hand out steps that are merely running (the next test is about exactly that).
    visibility_timeout = 4
    stack.setenv("MUSEUM_SYNC_VISIBILITY_TIMEOUT", str(visibility_timeout))
    failpoints = {FAILPOINTS_ENV: "validate_chunk=sleep:3"}
    pool = stack.start_pool("a", **failpoints)
    reader = stack.start_reader()
    run = stack.launch_sync("fault-worker-kill")
    parent = pool.procs[0].pid

    # Both pool children busy with a chunk: SIGKILL the whole worker, parent and children, as an OOM kill would.
    running = wait_for(
        lambda: (r := _running_chunk_steps(stack, run.run_id, _children(parent))) and len(r) == 2 and r,
        60,
        "two chunk steps running in the worker",
    )
    victims = [psutil.Process(parent), *psutil.Process(parent).children(recursive=True)]
    for proc in victims:
        proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(victims, timeout=10)
    pool.procs[0].wait(10)
    killed_at = time.time()
    assert not run.done, "the run waits for its lost steps"

    # The lost steps are in the broker's unacked set. A worker's sweep puts them back once they are older than
    # the visibility timeout; a worker sweeps when it starts, so start the replacement once that is true.
    wait_for(
        lambda: (ages := _unacked_ages(stack)) and min(ages) > visibility_timeout + 0.5,
        visibility_timeout + 30,
        f"the lost steps to age past the {visibility_timeout} s visibility timeout",
        interval=0.25,
    )
    replacement = stack.start_pool("b", **failpoints)
    result = run.wait()
    assert result.success, stack.diagnostics(result.run_id)
    new_children = _children(replacement.procs[0].pid)
    starts = stack.step_starts(result.run_id)
    for key, pid in running.items():
        again = [(p, ts) for k, p, ts in starts if k == key]
        assert len(again) == 2, f"{key} should have started twice: {again}"
        assert again[0][0] == pid and again[1][0] in new_children, f"{key} ran again on the replacement worker"
    back_after = min(ts for k, _, ts in starts if k in running and ts > killed_at) - killed_at
    export_id = stack.export_id_of(result.run_id)
    stack.assert_like_reference(export_id, fault_reference, reader)
    print(
        f"\n[fault 2: worker killed] lost {sorted(running)}; first redelivered step started {back_after:.1f} s after "
        f"SIGKILL (visibility timeout {visibility_timeout} s); run {run.seconds:.1f} s; {fault_reference.count} "
        f"rows, digest equal; reader {reader.polls} polls {dict(reader.seen)}"
    )


def test_step_outliving_visibility_timeout_runs_twice_harmlessly(
    fault_stack: FaultStack, fault_reference: Reference
) -> None:
    stack = fault_stack
    visibility_timeout = 4
    stack.setenv("MUSEUM_SYNC_VISIBILITY_TIMEOUT", str(visibility_timeout))
    # Each chunk load in worker "a" holds its transaction 12 s, three times the visibility timeout.
    first = stack.start_pool("a", **{FAILPOINTS_ENV: "load_chunk=sleep:12"})
    reader = stack.start_reader()
    run = stack.launch_sync("fault-slow-step")
    export_id = stack.export_id_of(run.run_id)
    watcher = stack.start_staging_watcher(export_id, fault_reference)

    # Once the running steps' messages are older than the visibility timeout, a second worker starts (as an
    # autoscaler replacing "a" would): its start-up sweep hands those still-running steps out again, first in
    # line. Its own loads need no failpoint: a duplicate waits for the original's chunk lock (held through the
    # 12 s), so it runs concurrently with the original either way.
    wait_for(
        lambda: (ages := _unacked_ages(stack)) and max(ages) > visibility_timeout + 0.5,
        60,
        "a delivered chunk step older than the visibility timeout",
        interval=0.25,
    )
    stack.start_pool("b")
    # Then "a" is told to stop (warm shutdown, as the autoscaler would): it finishes the two steps it runs and
    # takes no more, so the chunks still queued load on "b" at normal speed instead of 12 s each.
    wait_for(lambda: stack.concurrent_duplicates(run.run_id), 60, "a step started again while its first run goes on")
    first.procs[0].send_signal(signal.SIGTERM)
    result = run.wait()
    assert result.success, stack.diagnostics(result.run_id)

    def settled() -> bool:
        """Every start of a chunk step, duplicates included, has ended (they may outlive the run)."""
        starts = stack.step_starts(result.run_id)
        return len(stack.step_ends(result.run_id)) >= len(starts)

    wait_for(settled, 90, "the duplicate steps to finish")
    twice = stack.concurrent_duplicates(result.run_id)
    assert twice, "some chunk step should have run twice at the same time"
    watcher.stop()
    stack.assert_like_reference(export_id, fault_reference, reader)
    print(
        f"\n[fault 5: step > visibility timeout] ran twice concurrently: {sorted(twice)}; run {run.seconds:.1f} s; "
        f"{fault_reference.count} rows, digest equal; staging watcher {watcher.polls} polls, whole chunks only; "
        f"reader {reader.polls} polls {dict(reader.seen)}"
    )
