"""`context.is_replaying` as Azure sets it: every episode replays the whole history.

Modelled on the Durable extension's five IsReplaying end-to-end scenarios
(test/e2e/Apps/BasicPython/is_replaying_checks.py, asserted in test/e2e/Tests/Tests/IsReplayingTests.cs).
The extension runs each orchestrator afresh on every episode and feeds it the whole history, old events
marked IsPlayed; the Python SDK reports is_replaying=True while the code it resumes is driven by old
events and False once it reaches the events new to this episode. The output an instance ends with is the
one its last episode computed, so every value below is the one seen during that last episode: code that
ran before the last completed task is replaying (True), code after it is live (False).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.fidelity.helpers import APP, start, wait_for_status
from tests.support.azurite import Azurite
from tests.support.devhost import DevHost, running_devhost
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.azurite, pytest.mark.slow]


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHost]:
    with running_devhost(APP, azurite, data_dir=tmp_path_factory.mktemp("replay")) as devhost:
        yield devhost


def _output_of(host: DevHost, orchestrator: str) -> object:
    instance_id = start(host, orchestrator)
    return wait_for_status(host, instance_id, {"Completed"})["output"]


def test_is_replaying_before_and_after_an_activity(host: DevHost):
    # IsReplayingBasic asserts before_activity true and after_activity false: the last episode replays
    # the code up to the activity's (old) scheduling and runs the code after its (new) completion live.
    assert _output_of(host, "replay_basic") == {
        "before_activity": True,
        "after_activity": False,
        "activity_result": "hello",
    }


def test_is_replaying_snapshots_show_earlier_checkpoints_replayed(host: DevHost):
    # IsReplayingMultiActivity takes four snapshots (start, after the first, second and third activity,
    # i.e. before each of the three activities and after the last) and asserts the first three true and
    # the last false: on the last episode everything up to the third completion is replayed.
    output = _output_of(host, "replay_checkpoints")
    assert output == {
        "snapshots": [
            {"label": "before_one", "is_replaying": True},
            {"label": "before_two", "is_replaying": True},
            {"label": "before_three", "is_replaying": True},
            {"label": "after_three", "is_replaying": False},
        ],
        "activities": ["one", "two", "three"],
    }


def test_log_guarded_by_is_replaying_is_written_once(host: DevHost):
    # IsReplayingConditionalLog asserts live_log_count 1 on the final pass and expects the guarded "LIVE
    # before activity" line exactly once (first episode) across all episodes. One activity means two
    # episodes (ExecutionStarted, then TaskCompleted): the unguarded line is written once in each.
    instance_id = start(host, "replay_conditional_log")
    status = wait_for_status(host, instance_id, {"Completed"})
    assert status["output"] == {"live_checkpoints": 1, "activity_result": "logged"}
    guarded, unguarded = f"fidelity-live-start {instance_id}", f"fidelity-episode {instance_id}"
    host.wait_for_output(guarded, unguarded)

    def two_episodes_logged() -> bool:
        return host.output().count(unguarded) >= 2

    wait_until(two_episodes_logged, 15, "the second episode's unguarded log line")
    output = host.output()
    assert output.count(guarded) == 1, output
    assert output.count(unguarded) == 2, output


def test_is_replaying_counts_replayed_and_live_checkpoints(host: DevHost):
    # IsReplayingCounter: four checkpoints (start and after each of three activities); the extension
    # asserts replay_count 3, non_replay_count 1, total 4.
    assert _output_of(host, "replay_counter") == {
        "replay_count": 3,
        "non_replay_count": 1,
        "total_checkpoints": 4,
        "activities": ["a", "b", "c"],
    }


def test_is_replaying_around_a_fan_out(host: DevHost):
    # IsReplayingFanOutFanIn asserts before_fan_out true and after_fan_in false: task_all takes its
    # is_played from the completion that finished it, the newest event of the last episode.
    assert _output_of(host, "replay_fan_out") == {
        "before_fan_out": True,
        "after_fan_in": False,
        "activities": ["alpha", "beta", "gamma"],
    }
