"""What each chunk step's Celery message carries: its own mapping key and inputs, not the whole run's.

Built on the real ``sync_export_job`` execution plan with 500 chunks resolved and half of them done; the
cut-down state must still let a worker build the plan for its one step, and be the same size whatever
the number of chunks.
"""

from __future__ import annotations

import pytest
from dagster._core.definitions.reconstruct import reconstructable
from dagster._core.execution.api import create_execution_plan
from dagster._core.execution.plan.handle import ResolvedFromDynamicStepHandle, StepHandle
from dagster._core.execution.plan.outputs import StepOutputHandle
from dagster._core.execution.plan.state import KnownExecutionState
from dagster_shared.serdes import serialize_value

from museum_sync.definitions import sync_export_job_def
from museum_sync.defs.executor import _known_state_for


def _state(chunks: int) -> KnownExecutionState:
    keys = [f"c{i:04d}" for i in range(chunks)]
    ready = {StepOutputHandle("snapshot_and_plan", "result", key) for key in keys}
    ready |= {StepOutputHandle(f"sync_chunk[{key}]", "result") for key in keys[: chunks // 2]}
    return KnownExecutionState(
        previous_retry_attempts={"sync_chunk[c0003]": 1, "sync_chunk[c0420]": 2},
        dynamic_mappings={"snapshot_and_plan": {"result": keys}},
        ready_outputs=ready,
    )


CONFIG = {"ops": {"snapshot_and_plan": {"config": {"path": "export.csv", "profile": "tate_artworks_csv"}}}}


@pytest.fixture(autouse=True)
def _resource_env(museum_env) -> None:
    """Building a plan resolves the resources' config from the environment (no service is contacted)."""


def _plan(job, state: KnownExecutionState, **kwargs):
    return create_execution_plan(job, run_config=CONFIG, known_state=state, **kwargs)


def _step(plan, key: str):
    return plan.get_step_by_key(key)


def test_a_chunk_step_gets_its_own_mapping_key_and_input_only() -> None:
    job = reconstructable(sync_export_job_def)
    state = _state(500)
    plan = _plan(job, state)
    step = _step(plan, "sync_chunk[c0420]")
    assert isinstance(step.handle, ResolvedFromDynamicStepHandle)

    cut = _known_state_for(step, state)
    assert cut.dynamic_mappings == {"snapshot_and_plan": {"result": ["c0420"]}}
    assert cut.ready_outputs == {StepOutputHandle("snapshot_and_plan", "result", "c0420")}
    assert cut.previous_retry_attempts == {"sync_chunk[c0420]": 2}  # its retries still count
    # A worker builds the plan for exactly that step from it.
    worker_plan = _plan(job, cut, step_keys_to_execute=[step.key])
    assert worker_plan.step_keys_to_execute == ["sync_chunk[c0420]"]

    first = _step(plan, "sync_chunk[c0001]")
    small, large = (len(serialize_value(_known_state_for(first, _state(n)))) for n in (5, 500))
    assert small == large < 1000  # bytes: the same whatever the number of chunks
    assert len(serialize_value(state)) > 50 * large  # what dagster-celery sent before


def test_the_collecting_step_and_unmapped_steps_keep_the_whole_state() -> None:
    job = reconstructable(sync_export_job_def)
    state = _state(20)
    plan = _plan(job, state)
    for key in ("snapshot_and_plan", "publish_synced_export"):
        step = _step(plan, key)
        assert isinstance(step.handle, StepHandle)
        assert _known_state_for(step, state) is state
