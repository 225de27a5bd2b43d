"""Conversions between the engine's Durable JSON and the scheduler's protobuf messages (no I/O)."""

from __future__ import annotations

import json

from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import wrappers_pb2

from devhost.durable import history as h
from devhost.durable import replay as r
from devhost.durable.protocol import ActionType, EventType
from devhost.scheduler import conversions as conv

STAMP = "2026-01-02T03:04:05.000000Z"


def _text(value: str) -> wrappers_pb2.StringValue:
    return wrappers_pb2.StringValue(value=value)


def test_task_ids_are_one_higher_on_the_wire():
    scheduled = conv.history_event(h.task_scheduled(STAMP, 0, "greet", '"Oslo"'))
    completed = conv.history_event(h.task_completed(STAMP, 0, '"Hello"'))
    fired = conv.history_event(h.timer_fired(STAMP, 2, STAMP))
    assert scheduled.eventId == 1 and scheduled.taskScheduled.name == "greet"
    assert scheduled.taskScheduled.input.value == '"Oslo"'
    assert completed.eventId == -1 and completed.taskCompleted.taskScheduledId == 1
    assert fired.timerFired.timerId == 3
    assert conv.history_event(h.orchestrator_started(STAMP)).HasField("orchestratorStarted")


def test_failure_details_survive_the_store():
    failure = pb.TaskFailureDetails(errorType="ValueError", errorMessage="bad city", stackTrace=_text("line 1"))
    reason, details = conv.failure_parts(failure)
    event = conv.history_event(h.task_failed(STAMP, 4, reason, details))
    back = event.taskFailed.failureDetails
    assert (back.errorType, back.errorMessage, back.stackTrace.value) == ("ValueError", "bad city", "line 1")
    # A failure written by devhost itself (no error type line) keeps its whole text as the stack trace.
    plain = conv.failure_details("timed out", "Timeout value of 00:00:05 exceeded")
    assert plain.errorType == "TaskFailedError" and plain.stackTrace.value.startswith("Timeout value")


def test_new_actions_follow_the_recorded_ones_as_cumulative_actions():
    past = [h.orchestrator_started(STAMP), h.task_scheduled(STAMP, 0, "greet", '"Oslo"')]
    response = pb.OrchestratorResponse(
        actions=[
            pb.OrchestratorAction(id=2, scheduleTask=pb.ScheduleTaskAction(name="greet", input=_text('"Rome"'))),
            pb.OrchestratorAction(
                id=3, sendEvent=pb.SendEventAction(instance=pb.OrchestrationInstance(instanceId="b"), name="go")
            ),
        ],
        customStatus=_text('{"step": 2}'),
    )
    state = conv.orchestrator_state(past, response)
    assert isinstance(state, str)
    parsed = json.loads(state)
    actions = parsed["actions"][0]
    assert [a["actionType"] for a in actions] == [ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY, 100]
    assert actions[1]["input"] == '"Rome"' and actions[2]["instanceId"] == "b"
    assert parsed["isDone"] is False and parsed["customStatus"] == {"step": 2}


def test_a_task_numbered_out_of_order_fails_the_episode_saying_so():
    response = pb.OrchestratorResponse(
        actions=[pb.OrchestratorAction(id=5, scheduleTask=pb.ScheduleTaskAction(name="greet"))]
    )
    outcome = conv.orchestrator_state([], response)
    assert isinstance(outcome, conv.UnsupportedActionError)
    assert "numbered a new task 5; the history calls for 1" in str(outcome)


def test_completion_failure_and_continue_as_new():
    def complete(status: int, **fields: object) -> pb.OrchestratorResponse:
        action = pb.CompleteOrchestrationAction(orchestrationStatus=status, **fields)  # type: ignore[arg-type]
        return pb.OrchestratorResponse(actions=[pb.OrchestratorAction(id=1, completeOrchestration=action)])

    done = json.loads(
        str(conv.orchestrator_state([], complete(pb.ORCHESTRATION_STATUS_COMPLETED, result=_text("[1, 2]"))))
    )
    assert done["isDone"] is True and done["outputJson"] == "[1, 2]"
    failure = pb.TaskFailureDetails(errorType="KeyError", errorMessage="'city'")
    failed = conv.orchestrator_state([], complete(pb.ORCHESTRATION_STATUS_FAILED, failureDetails=failure))
    assert isinstance(failed, Exception) and str(failed) == "KeyError: 'city'"
    again = json.loads(
        str(conv.orchestrator_state([], complete(pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW, result=_text("3"))))
    )
    assert again["isDone"] is True and again["actions"][0] == [{"actionType": ActionType.CONTINUE_AS_NEW, "input": "3"}]
    raised = pb.HistoryEvent(eventId=-1, eventRaised=pb.EventRaisedEvent(name="kept", input=_text('"x"')))
    carried = complete(pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW, result=_text("4"), carryoverEvents=[raised])
    [[action]] = json.loads(str(conv.orchestrator_state([], carried)))["actions"]
    assert [(e["EventType"], e["Name"], e["Input"]) for e in action["carryoverEvents"]] == [
        (EventType.EVENT_RAISED, "kept", '"x"')
    ]
    timer = pb.HistoryEvent(eventId=-1, timerFired=pb.TimerFiredEvent(timerId=1))
    not_an_event = complete(pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW, carryoverEvents=[timer])
    assert "external events (eventRaised) only, not timerFired" in str(conv.orchestrator_state([], not_an_event))


def test_entity_batches_both_ways():
    request_json = json.dumps(
        {"self": {"name": "counter", "key": "k"}, "exists": True, "state": "5",
         "batch": [{"name": "add", "input": json.dumps("2"), "isSignal": True}]}
    )  # fmt: skip
    request = conv.entity_batch_request("@counter@k", request_json)
    assert request.instanceId == "@counter@k" and request.entityState.value == "5"
    assert request.operations[0].operation == "add" and request.operations[0].input.value == "2"
    result = pb.EntityBatchResult(
        entityState=_text("7"),
        results=[
            pb.OperationResult(success=pb.OperationResultSuccess(result=_text("7"))),
            pb.OperationResult(
                failure=pb.OperationResultFailure(failureDetails=pb.TaskFailureDetails(errorType="E", errorMessage="m"))
            ),
        ],
    )
    response = json.loads(conv.entity_batch_response(result))
    assert response == {
        "entityExists": True,
        "entityState": "7",
        "results": [{"isError": False, "result": "7"}, {"isError": True, "result": '"E: m"'}],
        "signals": [],
        "starts": [],
    }


def _lock_action(task_id: int, section: str, *entities: str) -> pb.OrchestratorAction:
    lock = pb.EntityLockRequestedEvent(
        criticalSectionId=section, lockSet=list(entities), position=0, parentInstanceId=_text("orch")
    )
    return pb.OrchestratorAction(id=task_id, sendEntityMessage=pb.SendEntityMessageAction(entityLockRequested=lock))


def _unlock_action(task_id: int, section: str, entity: str) -> pb.OrchestratorAction:
    unlock = pb.EntityUnlockSentEvent(
        criticalSectionId=section, targetInstanceId=_text(entity), parentInstanceId=_text("orch")
    )
    return pb.OrchestratorAction(id=task_id, sendEntityMessage=pb.SendEntityMessageAction(entityUnlockSent=unlock))


def test_entity_locks_round_trip_through_history_and_replay_deterministically():
    info = r.EpisodeInfo("orch", "locker", None)
    state = r.ExecutionState()
    now = h.parse_ts(STAMP)
    start = h.execution_started(STAMP, "locker", None, "orch", "x1")

    def episode(past: list[h.Event], incoming: list[h.Event], *actions: pb.OrchestratorAction) -> r.Decision:
        response = pb.OrchestratorResponse(actions=list(actions))
        return r.run_episode(lambda _: str(conv.orchestrator_state(past, response)), state, info, incoming, now)

    first = episode([], [start], _lock_action(1, "cs-1", "@e@a", "@e@b"))
    assert first.outcome == r.Outcome.RUNNING and first.failure_message is None
    assert first.lock_requests == [r.LockWork("cs-1", ["@e@a", "@e@b"])]
    sent = conv.history_event(next(e for e in first.events if e["EventType"] == EventType.EVENT_SENT))
    # What the durabletask worker replays: an eventSent to the first entity of the set whose input names the
    # critical section (its legacy-shape lock bookkeeping), numbered as the worker numbered the action.
    assert sent.eventId == 1 and sent.eventSent.instanceId == "@e@a"
    assert json.loads(sent.eventSent.input.value)["id"] == "cs-1"
    state.apply_events(first.events)
    assert state.open_ids == {0}  # the request waits for its grant like an entity call for its reply

    grant = h.event_raised(STAMP, "cs-1", json.dumps({"result": '"Lock Acquisition Completed"'}))
    second = episode(first.events, [grant], _unlock_action(2, "cs-1", "@e@a"), _unlock_action(3, "cs-1", "@e@b"))
    assert second.outcome == r.Outcome.RUNNING and second.failure_message is None  # the replay matched the history
    assert second.lock_releases == [r.ReleaseWork("@e@a", "cs-1"), r.ReleaseWork("@e@b", "cs-1")]
    state.apply_events(second.events)
    assert state.open_ids == set()
    released = [conv.history_event(e) for e in second.events if e["EventType"] == EventType.EVENT_SENT]
    assert [(e.eventId, e.eventSent.instanceId, e.eventSent.name) for e in released] == [
        (2, "@e@a", "release"),
        (3, "@e@b", "release"),
    ]

    # The history gives back the lock request and the releases as the cumulative actions the engine's replay step
    # compares with its record, in front of the worker's new actions.
    past = first.events + second.events
    wrong = pb.OrchestratorAction(id=4, scheduleTask=pb.ScheduleTaskAction(name="greet"))
    recorded = json.loads(str(conv.orchestrator_state(past, pb.OrchestratorResponse(actions=[wrong]))))["actions"][0]
    assert [a["actionType"] for a in recorded] == [
        r.LOCK_ENTITIES_ACTION,
        r.RELEASE_LOCK_ACTION,
        r.RELEASE_LOCK_ACTION,
        ActionType.CALL_ACTIVITY,
    ]
