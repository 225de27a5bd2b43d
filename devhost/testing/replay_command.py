"""`devhost replay INSTANCE_ID`: replay one stored instance's history through the app's current orchestrator code.

It runs in the foreground (breakpoints and pdb in the orchestrator work) and judges the replay with the
engine's own checks (durable/replay.py ``decide``): the first step where the code and the history disagree
is reported in the words the host would fail the instance with, else "replay matches".

The orchestrator runs in the app's Python, chosen as `devhost start` chooses its workers' (devhost/workers/
interpreter.py): the app's own SDK versions and dependencies decide what its code does, as in the host.
When that is not devhost's own interpreter, the one orchestrator call runs there in a foreground process
(replay_episode.py, from a staged copy of the few devhost modules it imports); reading the task hub and
judging stay here, in devhost's Python, so apps on Python 3.10 replay with the engine's own code.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from devhost.durable import history as h
from devhost.durable.models import RuntimeStatus
from devhost.durable.protocol import EventType
from devhost.durable.replay import (
    NON_DETERMINISTIC,
    Decision,
    EpisodeInfo,
    ExecutionState,
    Outcome,
    PreparedEpisode,
    build_context_json,
    decide,
)
from devhost.durable.store import queries as q
from devhost.errors import DevHostError
from devhost.testing.replay_episode import EPISODE_MODULES, run_episode
from devhost.workers.interpreter import InterpreterChoice, choose_interpreter, probe_interpreter
from devhost.workers.worker_code import module_files, stage_modules

TASK_HUB_FILE = "taskhub.sqlite"
#: The staged copies' parent folder, under the data directory.
STAGE_FOLDER = "replay-code"


#: Runs one episode of the app's orchestrator: (orchestrator name, context JSON) -> replay_episode.run_episode's
#: answer.
EpisodeRunner = Callable[[str, str], dict[str, Any]]


class ReplayInputError(DevHostError):
    """No task hub, no such instance, or an app without that orchestrator."""


class ReplayRunError(DevHostError):
    """The orchestrator could not be run in the app's Python (the app failed to import there, say)."""


@dataclass(frozen=True)
class ReplayReport:
    """The verdict: matches, and the lines that explain it."""

    matches: bool
    lines: list[str]


def _load(data_dir: Path, instance_id: str) -> tuple[q.InstanceRow, list[h.Event]]:
    path = data_dir / TASK_HUB_FILE
    if not path.is_file():
        raise ReplayInputError(f"no task hub at {path}; pass --data-dir (the host's, default APP_DIR/.devhost)")
    # Read-only: a running host may own the task hub meanwhile.
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = q.get_instance(conn, instance_id)
        if row is None:
            raise ReplayInputError(f"no instance '{instance_id}' in {path}")
        return row, q.load_history(conn, instance_id)
    finally:
        conn.close()


def _describe(event: h.Event) -> str:
    event_type = EventType(event["EventType"])
    name = event.get("Name")
    if event_type == EventType.TIMER_CREATED:
        return f"timer until {event.get('FireAt')}"
    kind = {
        EventType.TASK_SCHEDULED: "activity",
        EventType.SUB_ORCHESTRATION_INSTANCE_CREATED: "sub-orchestration",
        EventType.EVENT_SENT: "entity operation",
    }.get(event_type, event_type.history_name)
    return f"{kind} '{name}' with input {event.get('Input')}"


def replay_instance(data_dir: Path, app_dir: Path, instance_id: str, run: EpisodeRunner | None = None) -> ReplayReport:
    """Replay the instance's stored history through the app's orchestrator (in this process unless run says
    otherwise) and judge it."""
    row, events = _load(data_dir, instance_id)
    record = row.record
    state = ExecutionState.from_history(events, row.replay_state)
    steps = [event for event in events if event["EventType"] in h.SCHEDULING_TYPES]
    lines = [
        f"Replaying '{record.name}' instance '{instance_id}' ({record.runtime_status.value}, "
        f"{_count(state.episodes, 'episode')}, {_count(len(steps), 'scheduled step')}) through "
        f"{app_dir / 'function_app.py'}"
    ]
    lines += [f"  step {event['EventId']}: {_describe(event)}" for event in steps]
    info = EpisodeInfo(instance_id, record.name, state.input, record.parent_instance_id)
    context = build_context_json(state, info, [])
    answer = (run or functools.partial(run_episode, app_dir))(record.name, context)
    if "missing" in answer:
        known = ", ".join(answer["missing"]) or "none"
        raise ReplayInputError(
            f"the app in {app_dir} has no orchestrator '{record.name}' (instance '{instance_id}' ran it); "
            f"its orchestrators: {known}"
        )
    # As the host takes a worker's answer: the state JSON, or the text the SDK raised on its failure path.
    result: str | BaseException = answer["result"] if "result" in answer else Exception(answer["failure"])
    timestamp = state.last_started or h.format_ts(record.created_time)
    prepared = PreparedEpisode(timestamp=timestamp, now=h.parse_ts(timestamp), new_events=[])
    decision = decide(state, info, prepared, result)
    verdict = _judge(decision, len(steps), record.runtime_status, record.output, record.failure_message)
    return ReplayReport(verdict is None, [*lines, verdict or "replay matches"])


def _judge(
    decision: Decision, history_steps: int, status: RuntimeStatus, output: str | None, failure: str | None
) -> str | None:
    """None when the replay agrees with the stored outcome, else what differs."""
    if decision.outcome is Outcome.FAILED:
        message = decision.failure_message or ""
        if message.startswith(NON_DETERMINISTIC):
            return message
        if status == RuntimeStatus.FAILED and failure == message:
            return None
        return f"the replay fails, but the history does not end so: {message}"
    new_steps = [
        *(f"activity '{a.name}' with input {a.input}" for a in decision.activities),
        *(f"sub-orchestration '{s.name}' with input {s.input}" for s in decision.sub_orchestrations),
        *(f"timer until {t.fire_at_text}" for t in decision.timers),
        *(f"entity operation '{e.operation}' on '{e.entity_id}'" for e in decision.entity_messages),
    ]
    if new_steps:
        return (
            f"{NON_DETERMINISTIC}the history holds {history_steps} scheduled step(s), but the current code goes on "
            f"to schedule {new_steps[0]}. Was a change made to the orchestrator code after this instance had "
            "already started running?"
        )
    if decision.outcome is Outcome.COMPLETED:
        if status != RuntimeStatus.COMPLETED:
            return f"the replay completes with output {decision.output}, but the instance is {status.value}"
        if _json(decision.output) != _json(output):
            return f"the replay returns {decision.output}, but the instance returned {output}"
        return None
    if status == RuntimeStatus.COMPLETED:
        return "the instance completed, but the replay of its history does not complete (it waits for more)"
    return None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _json(text: str | None) -> object:
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return text


def replay_main(
    instance_id: str, data_dir: Path | None, app_dir: Path, python: Path | None = None, out: TextIO | None = None
) -> int:
    """The command: 0 when the replay matches, 1 when it does not or cannot run (the reason is printed)."""
    app_dir = app_dir.resolve()
    data_dir = (data_dir or app_dir / ".devhost").resolve()
    try:
        choice = choose_interpreter(app_dir, python, os.environ)
        run = None
        if os.path.abspath(choice.path) != os.path.abspath(sys.executable):
            run = functools.partial(_run_in, choice, data_dir, app_dir)
        return _print_report(replay_instance(data_dir, app_dir, instance_id, run), out or sys.stdout)
    except DevHostError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


def _print_report(report: ReplayReport, stream: TextIO) -> int:
    for line in report.lines:
        print(line, file=stream, flush=True)
    return 0 if report.matches else 1


def _run_in(choice: InterpreterChoice, data_dir: Path, app_dir: Path, function: str, context: str) -> dict[str, Any]:
    """Run the episode in another Python (the app's), in the foreground, with this terminal."""
    interpreter = probe_interpreter(choice)
    staged = stage_modules(data_dir / STAGE_FOLDER, module_files((), EPISODE_MODULES))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(staged), env.get("PYTHONPATH")]))
    print(f"Replaying in Python {interpreter.version_text} at {interpreter.path} ({choice.reason})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="devhost-replay-") as scratch:
        context_file, answer_file = Path(scratch) / "context.json", Path(scratch) / "answer.json"
        context_file.write_text(context, encoding="utf-8")
        command = [str(choice.path), "-m", "devhost.testing.replay_episode", "--app-dir", str(app_dir)]
        command += ["--function", function, "--context", str(context_file), "--answer", str(answer_file)]
        code = subprocess.run(command, env=env).returncode
        if code != 0 or not answer_file.is_file():
            raise ReplayRunError(f"the orchestrator could not run in {choice.path} (exit code {code}; see above)")
        answer: dict[str, Any] = json.loads(answer_file.read_text(encoding="utf-8"))
        return answer
