"""continue_as_new(save_events=True): the external events the orchestrator received and did not wait for go to
the next execution, right after its ExecutionStarted (durabletask's reference backend does the same)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from durabletask import history, task

from tests.support.scheduler import client, orchestrator, running_scheduler, running_worker
from tests.support.waiting import wait_until


@orchestrator
def keeps_events(ctx: task.OrchestrationContext, generation: int | None) -> Any:
    if not generation:
        yield ctx.wait_for_external_event("go")
        ctx.continue_as_new(1, save_events=True)
        return None
    kept = yield ctx.wait_for_external_event("kept")
    return {"generation": generation, "kept": kept}


def _raised(sdk: Any, instance_id: str) -> list[str]:
    return [e.name for e in sdk.get_orchestration_history(instance_id) if isinstance(e, history.EventRaisedEvent)]


def test_events_received_before_continue_as_new_are_carried_over(tmp_path: Path):
    with running_scheduler(tmp_path) as scheduler, running_worker(scheduler.port, keeps_events):
        sdk = client(scheduler.port)
        instance_id = sdk.schedule_new_orchestration(keeps_events)
        sdk.wait_for_orchestration_start(instance_id, timeout=30)
        # "kept" arrives while the first execution waits for "go": received, not waited for.
        sdk.raise_orchestration_event(instance_id, "kept", data={"city": "Oslo"})
        wait_until(lambda: _raised(sdk, instance_id) == ["kept"], 15, "the first execution to receive 'kept'")
        sdk.raise_orchestration_event(instance_id, "go")
        state = sdk.wait_for_orchestration_completion(instance_id, timeout=30)
        assert state is not None, "no state"
        assert state.runtime_status.name == "COMPLETED", state.failure_details
        assert state.serialized_output == '{"generation": 1, "kept": {"city": "Oslo"}}'
        # The new execution's history: started, then the carried event once.
        assert _raised(sdk, instance_id) == ["kept"]
        started = [
            e for e in sdk.get_orchestration_history(instance_id) if isinstance(e, history.ExecutionStartedEvent)
        ]
        assert [e.input for e in started] == ["1"]
