"""Rewind a Failed instance: drop its task failures, schedule those tasks again, run again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from devhost.durable import history as h
from devhost.durable.episode import KIND_EVENT, new_execution_id, start_message, updated_row
from devhost.durable.history import Event, ParentInstance
from devhost.durable.models import DurableFunctions, RuntimeStatus
from devhost.durable.protocol import EventType
from devhost.durable.replay import ExecutionState
from devhost.durable.store import queries as q

_FAILURES = (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_INSTANCE_FAILED)
_ENDINGS = (EventType.EXECUTION_COMPLETED, EventType.EXECUTION_FAILED)


def plan_rewind(
    row: q.InstanceRow,
    events: list[Event],
    reason: str | None,
    now: datetime,
    new_work_id: Callable[[], int],
    functions: DurableFunctions,
) -> tuple[q.EpisodeCommit, q.InstanceRow]:
    """The commit that rewinds a Failed instance, and its row afterwards.

    A failed task is one whose failure was final: a plain task's TaskFailed /
    SubOrchestrationInstanceFailed, or the last attempt of a retry task (its trailing retry timer is
    dropped too, so the SDK's ids line up again). Earlier attempts of a retry task stay failed.
    """
    record = row.record
    iid = record.instance_id
    state = ExecutionState.from_history(events, row.replay_state)
    scheduled = {int(e["EventId"]): e for e in events if e["EventType"] in h.SCHEDULING_TYPES}
    drop_ids: set[int] = set()  # scheduling/fired events of dropped retry timers
    rescheduled: list[int] = []
    for event in events:
        if event["EventType"] not in _FAILURES:
            continue
        task_id = int(event["TaskScheduledId"])
        group = next((g for g in state.retry_groups if g.current_id == task_id), None)
        in_group = any(task_id in g.ids for g in state.retry_groups)
        if group is None and in_group:
            continue  # an earlier attempt of a retry task
        if group is not None:
            later = [i for i in group.ids if i > task_id]
            drop_ids.update(later)
            group.ids = [i for i in group.ids if i <= task_id]
            group.timer_id = None
        rescheduled.append(task_id)

    stamp = h.format_ts(now)
    kept: list[Event] = []
    for event in events:
        kind = event["EventType"]
        if kind in _ENDINGS:
            continue
        if kind in _FAILURES and int(event["TaskScheduledId"]) in rescheduled:
            continue
        if kind == EventType.TIMER_CREATED and int(event["EventId"]) in drop_ids:
            continue
        if kind == EventType.TIMER_FIRED and int(event["TimerId"]) in drop_ids:
            continue
        kept.append(event)
    kept.append({"EventType": EventType.GENERIC_EVENT, "EventId": -1, "Timestamp": stamp, "Data": f"Rewound: {reason}"})

    commit = q.EpisodeCommit(iid, replace_history=True, history_chunk=kept, drop_work_items=True)
    now_us = h.to_us(now)
    for task_id in rescheduled:
        source = scheduled.get(task_id)
        if source is None:
            continue
        if source["EventType"] == EventType.TASK_SCHEDULED:
            commit.work_items.append(
                q.WorkItem(new_work_id(), iid, record.execution_id, task_id, source["Name"], source.get("Input"))
            )
        elif (
            source["EventType"] == EventType.SUB_ORCHESTRATION_INSTANCE_CREATED
            and functions.orchestrator(source["Name"]) is not None
        ):
            child_id = str(source["InstanceId"])
            child_execution = new_execution_id()
            parent: ParentInstance = {"InstanceId": iid, "ExecutionId": record.execution_id, "TaskScheduledId": task_id}
            refusal = h.sub_orchestration_failed(stamp, task_id, f"Instance '{child_id}' is still running.", None)
            commit.children.append(
                q.ChildStart(
                    q.NewInstance(
                        child_id,
                        child_execution,
                        source["Name"],
                        source.get("Input"),
                        now_us,
                        iid,
                        record.execution_id,
                        task_id,
                    ),
                    start_message(child_id, child_execution, source["Name"], source.get("Input"), now, parent),
                    q.NewMessage(iid, record.execution_id, KIND_EVENT, refusal, now_us),
                )
            )
    if not commit.work_items and not commit.children:
        # Nothing to redo (the orchestrator itself raised): run it once more.
        nudge = {"EventType": EventType.GENERIC_EVENT, "EventId": -1, "Timestamp": stamp, "Data": "rewind"}
        commit.messages.append(q.NewMessage(iid, record.execution_id, KIND_EVENT, nudge, now_us))
    update, new_row = updated_row(
        row,
        now,
        runtime_status=RuntimeStatus.RUNNING,
        output=None,
        completed_time=None,
        failure_message=None,
        replay_state=state.retry_json(),
    )
    commit.update = update
    return commit, new_row
