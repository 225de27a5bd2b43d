"""Between the engine's Durable JSON (history events, OrchestratorState) and the scheduler's protobuf messages.

The engine numbers an execution's tasks from 0, as the Durable Functions SDK does; durabletask numbers them
from 1 (``OrchestrationContext.next_sequence_number`` increments before it returns). So a protobuf id is the
engine's id plus one, both ways. durabletask workers answer with the new actions of an episode only; the
engine's replay step expects the SDK's cumulative actions, so the actions history already records are
rebuilt from it in front of the new ones (``orchestrator_state``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import timestamp_pb2, wrappers_pb2

from devhost.durable import entities as ent
from devhost.durable import history as h
from devhost.durable.history import Event
from devhost.durable.models import EntityRecord, InstanceRecord, RuntimeStatus
from devhost.durable.protocol import ActionType, EventType
from devhost.durable.replay import LOCK_ENTITIES_ACTION, RELEASE_LOCK_ACTION, SEND_EVENT_ACTION
from devhost.ids import random_uuid

#: The engine's task ids start at 0, durabletask's at 1.
ID_OFFSET = 1


class UnsupportedActionError(Exception):
    """An orchestrator asked for something this endpoint does not do yet; the text says what and why."""


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp of an aware datetime."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def text_value(text: str | None) -> wrappers_pb2.StringValue | None:
    """A StringValue, None (field unset) for None."""
    return None if text is None else wrappers_pb2.StringValue(value=text)


def failure_details(reason: str | None, details: str | None) -> pb.TaskFailureDetails:
    """TaskFailureDetails of a stored TaskFailed/SubOrchestrationInstanceFailed (see ``failure_parts``)."""
    error_type, _, stack = (details or "").partition("\n")
    if not error_type or " " in error_type:  # not written by failure_parts: the whole text is the stack
        error_type, stack = "TaskFailedError", details or ""
    return pb.TaskFailureDetails(errorType=error_type, errorMessage=reason or "", stackTrace=text_value(stack or None))


def failure_parts(failure: pb.TaskFailureDetails) -> tuple[str, str]:
    """(Reason, Details) to store for a failure: the message, then the error type on the first line of the
    details and the stack trace after it, so that ``failure_details`` gives the worker back all three."""
    stack = failure.stackTrace.value if failure.HasField("stackTrace") else ""
    return failure.errorMessage, f"{failure.errorType or 'Exception'}\n{stack}"


def _pb_id(value: Any) -> int:
    return int(value) + ID_OFFSET if value is not None and int(value) >= 0 else -1


def history_event(event: Event) -> pb.HistoryEvent:
    """One stored history event as a protobuf HistoryEvent."""
    event_type = int(event["EventType"])
    out = pb.HistoryEvent(eventId=-1, timestamp=timestamp(h.parse_ts(event["Timestamp"])))
    if event_type in h.SCHEDULING_TYPES:
        out.eventId = _pb_id(event.get("EventId"))
    text = text_value
    if event_type == EventType.EXECUTION_STARTED:
        instance = event.get("OrchestrationInstance") or {}
        started = out.executionStarted
        started.name = str(event.get("Name") or "")
        if event.get("Version"):
            started.version.value = str(event["Version"])
        if event.get("Input") is not None:
            started.input.value = str(event["Input"])
        started.orchestrationInstance.instanceId = str(instance.get("InstanceId") or "")
        if instance.get("ExecutionId"):
            started.orchestrationInstance.executionId.value = str(instance["ExecutionId"])
        parent = event.get("ParentInstance")
        if parent:
            started.parentInstance.taskScheduledId = _pb_id(parent.get("TaskScheduledId"))
            started.parentInstance.orchestrationInstance.instanceId = str(parent.get("InstanceId") or "")
        started.tags.update(event.get("Tags") or {})
    elif event_type == EventType.EXECUTION_COMPLETED:
        status = int(event.get("OrchestrationStatus") or 0)
        out.executionCompleted.CopyFrom(
            pb.ExecutionCompletedEvent(orchestrationStatus=status, result=text(event.get("Result")))  # type: ignore[arg-type]
        )
    elif event_type == EventType.EXECUTION_TERMINATED:
        out.executionTerminated.CopyFrom(pb.ExecutionTerminatedEvent(input=text(event.get("Input"))))
    elif event_type == EventType.TASK_SCHEDULED:
        out.taskScheduled.CopyFrom(pb.TaskScheduledEvent(name=str(event.get("Name")), input=text(event.get("Input"))))
    elif event_type == EventType.TASK_COMPLETED:
        out.taskCompleted.CopyFrom(
            pb.TaskCompletedEvent(
                taskScheduledId=_pb_id(event.get("TaskScheduledId")), result=text(event.get("Result"))
            )
        )
    elif event_type == EventType.TASK_FAILED:
        out.taskFailed.CopyFrom(
            pb.TaskFailedEvent(
                taskScheduledId=_pb_id(event.get("TaskScheduledId")),
                failureDetails=failure_details(event.get("Reason"), event.get("Details")),
            )
        )
    elif event_type == EventType.SUB_ORCHESTRATION_INSTANCE_CREATED:
        out.subOrchestrationInstanceCreated.CopyFrom(
            pb.SubOrchestrationInstanceCreatedEvent(
                instanceId=str(event.get("InstanceId") or ""),
                name=str(event.get("Name")),
                input=text(event.get("Input")),
            )
        )
    elif event_type == EventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED:
        out.subOrchestrationInstanceCompleted.CopyFrom(
            pb.SubOrchestrationInstanceCompletedEvent(
                taskScheduledId=_pb_id(event.get("TaskScheduledId")), result=text(event.get("Result"))
            )
        )
    elif event_type == EventType.SUB_ORCHESTRATION_INSTANCE_FAILED:
        out.subOrchestrationInstanceFailed.CopyFrom(
            pb.SubOrchestrationInstanceFailedEvent(
                taskScheduledId=_pb_id(event.get("TaskScheduledId")),
                failureDetails=failure_details(event.get("Reason"), event.get("Details")),
            )
        )
    elif event_type == EventType.TIMER_CREATED:
        out.timerCreated.fireAt.CopyFrom(timestamp(h.parse_ts(str(event["FireAt"]))))
    elif event_type == EventType.TIMER_FIRED:
        out.timerFired.CopyFrom(
            pb.TimerFiredEvent(timerId=_pb_id(event.get("TimerId")), fireAt=timestamp(h.parse_ts(str(event["FireAt"]))))
        )
    elif event_type == EventType.ORCHESTRATOR_STARTED:
        out.orchestratorStarted.SetInParent()
    elif event_type == EventType.ORCHESTRATOR_COMPLETED:
        out.orchestratorCompleted.SetInParent()
    elif event_type == EventType.EVENT_SENT:
        out.eventSent.CopyFrom(
            pb.EventSentEvent(
                instanceId=str(event.get("InstanceId") or ""),
                name=str(event.get("Name")),
                input=text(event.get("Input")),
            )
        )
    elif event_type == EventType.EVENT_RAISED:
        out.eventRaised.CopyFrom(pb.EventRaisedEvent(name=str(event.get("Name")), input=text(event.get("Input"))))
    elif event_type == EventType.CONTINUE_AS_NEW:
        out.continueAsNew.CopyFrom(pb.ContinueAsNewEvent(input=text(event.get("Input"))))
    elif event_type == EventType.EXECUTION_SUSPENDED:
        out.executionSuspended.CopyFrom(pb.ExecutionSuspendedEvent(input=text(event.get("Reason"))))
    elif event_type == EventType.EXECUTION_RESUMED:
        out.executionResumed.CopyFrom(pb.ExecutionResumedEvent(input=text(event.get("Reason"))))
    else:
        out.genericEvent.CopyFrom(pb.GenericEvent(data=text(json.dumps(event))))
    return out


def history_events(events: Iterable[Event]) -> list[pb.HistoryEvent]:
    """Stored events as protobuf HistoryEvents, in order."""
    return [history_event(event) for event in events]


# ------------------------------------------------------------------------------------------------
# The worker's answer


def _recorded_action(event: Event) -> dict[str, Any] | None:
    """The SDK action a stored scheduling event records (what a cumulative replay would yield again)."""
    event_type = int(event["EventType"])
    if event_type == EventType.TASK_SCHEDULED:
        return {"actionType": ActionType.CALL_ACTIVITY, "functionName": event.get("Name"), "input": event.get("Input")}
    if event_type == EventType.SUB_ORCHESTRATION_INSTANCE_CREATED:
        return {
            "actionType": ActionType.CALL_SUB_ORCHESTRATOR,
            "functionName": event.get("Name"),
            "instanceId": event.get("InstanceId"),
            "input": event.get("Input"),
        }
    if event_type == EventType.TIMER_CREATED:
        return {"actionType": ActionType.CREATE_TIMER, "fireAt": event.get("FireAt"), "isCanceled": False}
    if event_type == EventType.EVENT_SENT and not str(event.get("InstanceId") or "").startswith("@"):
        return {"actionType": SEND_EVENT_ACTION, "instanceId": event.get("InstanceId"), "eventName": event.get("Name")}
    if event_type == EventType.EVENT_SENT:
        request = _entity_request(event)
        if "lockset" in request:
            return {
                "actionType": LOCK_ENTITIES_ACTION,
                "criticalSectionId": request.get("id"),
                "lockSet": request["lockset"],
                "position": request.get("pos", 0),
            }
        if request.get("release"):
            return {
                "actionType": RELEASE_LOCK_ACTION,
                "criticalSectionId": request.get("id"),
                "instanceId": event.get("InstanceId"),
            }
        # An entity message; replay compares the event type and the operation.
        return {
            "actionType": ActionType.CALL_ENTITY,
            "instanceId": event.get("InstanceId"),
            "operation": event.get("Name"),
        }
    return None


def _entity_request(event: Event) -> dict[str, Any]:
    """The Input of an entity message's EventSent (replay.EntityRequest), {} when it is none."""
    try:
        value = json.loads(event.get("Input") or "null")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _new_action(action: pb.OrchestratorAction) -> dict[str, Any]:
    if action.HasField("scheduleTask"):
        task = action.scheduleTask
        return {
            "actionType": ActionType.CALL_ACTIVITY,
            "functionName": task.name,
            "input": task.input.value if task.HasField("input") else None,
        }
    if action.HasField("createSubOrchestration"):
        sub = action.createSubOrchestration
        return {
            "actionType": ActionType.CALL_SUB_ORCHESTRATOR,
            "functionName": sub.name,
            "instanceId": sub.instanceId or None,
            "input": sub.input.value if sub.HasField("input") else None,
        }
    if action.HasField("createTimer"):
        fire_at = action.createTimer.fireAt.ToDatetime(tzinfo=h.utcnow().tzinfo)
        return {"actionType": ActionType.CREATE_TIMER, "fireAt": h.format_ts(fire_at), "isCanceled": False}
    if action.HasField("sendEvent"):
        sent = action.sendEvent
        return {
            "actionType": SEND_EVENT_ACTION,
            "instanceId": sent.instance.instanceId,
            "eventName": sent.name,
            "input": sent.data.value if sent.HasField("data") else None,
        }
    if action.HasField("sendEntityMessage"):
        # The engine sends entity messages in the Durable Functions shape (EventSent whose input names the
        # request, the reply an EventRaised named by it), which durabletask's worker replays as well.
        message = action.sendEntityMessage
        if message.HasField("entityOperationCalled"):
            called = message.entityOperationCalled
            return {
                "actionType": ActionType.CALL_ENTITY,
                "instanceId": called.targetInstanceId.value,
                "operation": called.operation,
                "input": called.input.value if called.HasField("input") else None,
            }
        if message.HasField("entityOperationSignaled"):
            signaled = message.entityOperationSignaled
            signal: dict[str, Any] = {
                "actionType": ActionType.SIGNAL_ENTITY,
                "instanceId": signaled.targetInstanceId.value,
                "operation": signaled.operation,
                "input": signaled.input.value if signaled.HasField("input") else None,
            }
            if signaled.HasField("scheduledTime"):
                signal["scheduledTime"] = h.format_ts(signaled.scheduledTime.ToDatetime(UTC))
            return signal
        if message.HasField("entityLockRequested"):
            lock = message.entityLockRequested
            if not lock.lockSet or not 0 <= lock.position < len(lock.lockSet):
                raise UnsupportedActionError(
                    f"the entity lock request numbered {action.id} names position {lock.position} of a lock set of "
                    f"{len(lock.lockSet)} entities; lock_entities needs at least one entity"
                )
            return {
                "actionType": LOCK_ENTITIES_ACTION,
                "criticalSectionId": lock.criticalSectionId,
                "lockSet": list(lock.lockSet),
                "position": lock.position,
            }
        if message.HasField("entityUnlockSent"):
            unlock = message.entityUnlockSent
            return {
                "actionType": RELEASE_LOCK_ACTION,
                "criticalSectionId": unlock.criticalSectionId,
                "instanceId": unlock.targetInstanceId.value,
            }
        kind = message.WhichOneof("EntityMessageType")
        raise UnsupportedActionError(f"the orchestrator's entity message '{kind}' is not one devhost's scheduler knows")
    kind = action.WhichOneof("orchestratorActionType")
    raise UnsupportedActionError(
        f"the orchestrator's '{kind}' action is not supported by devhost's scheduler endpoint yet "
        "(supported: activities, sub-orchestrations, timers, external events, events to other instances, entity "
        "calls, signals and locks, continue-as-new)"
    )


def orchestrator_state(past: list[Event], response: pb.OrchestratorResponse) -> str | BaseException:
    """The OrchestratorState JSON text (durable-protocol.md 2.1) the engine's replay step reads for a worker's
    OrchestratorResponse, or the exception that fails the episode (an orchestration failure, or an action
    this endpoint cannot run). ``past`` is the execution's history before this episode."""
    recorded = [action for event in past if (action := _recorded_action(event)) is not None]
    next_id = max((int(e["EventId"]) + 1 for e in past if int(e["EventType"]) in h.SCHEDULING_TYPES), default=0)
    actions: list[dict[str, Any]] = list(recorded)
    state: dict[str, Any] = {"isDone": False, "schemaVersion": 2}
    if response.HasField("customStatus"):
        state["customStatus"] = _parsed(response.customStatus.value)
    try:
        for action in sorted(response.actions, key=lambda a: a.id):
            if action.HasField("completeOrchestration"):
                outcome = _complete(action.completeOrchestration, state, actions)
                if outcome is not None:
                    return outcome
                continue
            expected = next_id + len(actions) - len(recorded)
            if action.id - ID_OFFSET != expected:
                return UnsupportedActionError(
                    f"the worker numbered a new task {action.id}; the history calls for {expected + ID_OFFSET}"
                )
            actions.append(_new_action(action))
    except UnsupportedActionError as exc:
        return exc
    state["actions"] = [actions]
    return json.dumps(state)


def _complete(
    complete: pb.CompleteOrchestrationAction, state: dict[str, Any], actions: list[dict[str, Any]]
) -> BaseException | None:
    status = complete.orchestrationStatus
    result = complete.result.value if complete.HasField("result") else None
    if status == pb.ORCHESTRATION_STATUS_FAILED:
        failure = complete.failureDetails
        return Exception(f"{failure.errorType}: {failure.errorMessage}" if failure.errorType else failure.errorMessage)
    if status == pb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW:
        action: dict[str, Any] = {"actionType": ActionType.CONTINUE_AS_NEW, "input": result}
        if complete.carryoverEvents:
            action["carryoverEvents"] = [_carried_event(event) for event in complete.carryoverEvents]
        actions.append(action)
        state["isDone"] = True
        return None
    if status == pb.ORCHESTRATION_STATUS_COMPLETED:
        state["isDone"] = True
        if result is not None:
            state["outputJson"] = result  # as the worker wrote it (JSON text, or a large-payload token)
        return None
    raise UnsupportedActionError(
        f"completing an orchestration as {pb.OrchestrationStatus.Name(status)} is not supported"
    )


def _carried_event(event: pb.HistoryEvent) -> Event:
    """An event continue_as_new(save_events=True) carries into the next execution: the external events the
    orchestrator received and did not wait for (durabletask's worker sends only those)."""
    if event.WhichOneof("eventType") != "eventRaised":
        raise UnsupportedActionError(
            f"continue-as-new can carry over external events (eventRaised) only, not {event.WhichOneof('eventType')}"
        )
    raised = event.eventRaised
    payload = raised.input.value if raised.HasField("input") else None
    return h.event_raised(h.format_ts(h.utcnow()), raised.name, payload)


def _parsed(text: str | None) -> Any:
    """A JSON payload's value (the engine serializes it again); text that is not JSON stays text."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


# ------------------------------------------------------------------------------------------------
# Entity batches


def entity_batch_request(entity_id: str, request_json: str) -> pb.EntityBatchRequest:
    """The engine's entity batch request (devhost/durable/entities.py) as an EntityBatchRequest. Operation inputs
    are stored as the Durable SDK reads them (JSON text whose value is JSON text); a worker gets the inner text."""
    request = json.loads(request_json)
    operations = [
        pb.OperationRequest(
            operation=str(op["name"]),
            requestId=random_uuid().hex,
            input=text_value(json.loads(op.get("input") or "null")),
        )
        for op in request["batch"]
    ]
    return pb.EntityBatchRequest(
        instanceId=entity_id, entityState=text_value(request.get("state")), operations=operations
    )


def entity_batch_response(result: pb.EntityBatchResult) -> str:
    """An EntityBatchResult as the Durable batch response JSON the engine reads (one result per operation)."""
    if result.HasField("failureDetails"):
        failure = result.failureDetails
        raise RuntimeError(f"{failure.errorType}: {failure.errorMessage}")
    signals, starts = _entity_actions(result.actions)
    state = result.entityState.value if result.HasField("entityState") else None
    results: list[dict[str, Any]] = []
    for item in result.results:
        if item.HasField("failure"):
            failure = item.failure.failureDetails
            results.append({"isError": True, "result": json.dumps(f"{failure.errorType}: {failure.errorMessage}")})
        else:
            value = item.success.result.value if item.success.HasField("result") else "null"
            results.append({"isError": False, "result": value})
    response = {"entityExists": state is not None, "entityState": state, "results": results}
    return json.dumps({**response, "signals": signals, "starts": starts})


def _entity_actions(actions: Iterable[pb.OperationAction]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An entity batch's side effects, as the reference backend runs them: signals to entities and orchestrations
    started (UnsupportedActionError for what devhost cannot do, which fails the batch and keeps the state)."""
    signals: list[dict[str, Any]] = []
    starts: list[dict[str, Any]] = []
    for action in actions:
        if action.HasField("sendSignal"):
            signal = action.sendSignal
            try:
                ent.split_entity_id(signal.instanceId)
            except ValueError:
                raise UnsupportedActionError(
                    f"the entity signalled '{signal.instanceId}', which is not an entity id ('@name@key')"
                ) from None
            # Stored as an operation input is: JSON text whose value is the JSON text sent.
            operation_input = json.dumps(signal.input.value) if signal.HasField("input") else "null"
            item: dict[str, Any] = {"entityId": signal.instanceId, "operation": signal.name, "input": operation_input}
            if signal.HasField("scheduledTime"):  # an entity waking itself (or another) up later
                item["visibleUs"] = h.to_us(signal.scheduledTime.ToDatetime(UTC))
            signals.append(item)
        elif action.HasField("startNewOrchestration"):
            start = action.startNewOrchestration
            if start.HasField("scheduledTime"):
                raise UnsupportedActionError(
                    "orchestrations started by entities at a scheduled time are not supported by devhost yet"
                )
            starts.append(
                {
                    "instanceId": start.instanceId or random_uuid().hex,
                    "name": start.name,
                    "input": start.input.value if start.HasField("input") else None,
                }
            )
        else:
            raise UnsupportedActionError(f"unknown entity action '{action.WhichOneof('operationActionType')}'")
    return signals, starts


def entity_metadata(record: EntityRecord, include_state: bool) -> pb.EntityMetadata:
    """A stored entity as EntityMetadata."""
    metadata = pb.EntityMetadata(
        instanceId=record.entity_id, serializedState=text_value(record.state if include_state else None)
    )
    if record.last_operation_time is not None:
        metadata.lastModifiedTime.CopyFrom(timestamp(record.last_operation_time))
    if record.locked_by:
        metadata.lockedBy.value = record.locked_by
    return metadata


# ------------------------------------------------------------------------------------------------
# Instance records


def orchestration_status(status: RuntimeStatus) -> pb.OrchestrationStatus:
    """The protobuf status of a runtime status (the same DTFx numbers)."""
    return status.orchestration_status_code  # type: ignore[return-value]


def runtime_status(status: int) -> RuntimeStatus:
    """The runtime status of a protobuf OrchestrationStatus number."""
    for candidate in RuntimeStatus:
        if candidate.orchestration_status_code == status:
            return candidate
    raise ValueError(f"unknown orchestration status {status}")


def orchestration_state(record: InstanceRecord, include_payloads: bool) -> pb.OrchestrationState:
    """An instance record as the protobuf OrchestrationState."""
    state = pb.OrchestrationState(
        instanceId=record.instance_id,
        name=record.name,
        orchestrationStatus=orchestration_status(record.runtime_status),
        createdTimestamp=timestamp(record.created_time),
        lastUpdatedTimestamp=timestamp(record.last_updated_time),
        executionId=text_value(record.execution_id),
    )
    if record.completed_time is not None:
        state.completedTimestamp.CopyFrom(timestamp(record.completed_time))
    if record.custom_status is not None:
        state.customStatus.value = record.custom_status
    if record.parent_instance_id is not None:
        state.parentInstanceId.value = record.parent_instance_id
    if record.tags:
        # The reference backend (durabletask/testing/in_memory_backend.py) keeps tags with the instance but leaves
        # this field empty; the proto has it for them, and SDKs that read it (OrchestrationMetadata.Tags in .NET)
        # get what the instance was started with.
        state.tags.update(record.tags)
    if include_payloads:
        if record.input is not None:
            state.input.value = record.input
        if record.output is not None and record.runtime_status != RuntimeStatus.FAILED:
            state.output.value = record.output
    if record.runtime_status == RuntimeStatus.FAILED:
        state.failureDetails.CopyFrom(
            pb.TaskFailureDetails(errorType="OrchestrationFailed", errorMessage=record.failure_message or "")
        )
    return state
