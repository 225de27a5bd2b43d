"""Peer: Microsoft's durabletask Python SDK on its in-memory backend (an in-process gRPC sidecar).

Runs in its own process (``python -m bench.peer_durabletask --sizes JSON``) and prints one
BENCH-RESULT line. Completion times are the backend's own ``last_updated_at`` of each instance.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from durabletask import task
from durabletask.client import AsyncTaskHubGrpcClient, OrchestrationStatus
from durabletask.testing.in_memory_backend import InMemoryOrchestrationBackend
from durabletask.worker import TaskHubGrpcWorker

from bench.common import CHAIN_CITIES, Measurement, Sizes, cities, emit, measurement_from, runner_arguments
from bench.common import say_hello as greet

#: Large fan-outs write two events per activity; the default (10,000) would refuse W3-10000.
MAX_HISTORY = 1_000_000
TIMEOUT_S = 300.0


def say_hello(ctx: task.ActivityContext, city: str) -> str:
    """The activity."""
    return greet(city)


def chaining(ctx: task.OrchestrationContext, data: dict[str, Any]) -> Any:
    """Greet the cities one after another."""
    out = []
    for city in data["cities"]:
        out.append((yield ctx.call_activity(say_hello, input=city)))
    return out


def fan_out(ctx: task.OrchestrationContext, data: dict[str, Any]) -> Any:
    """Greet the cities in parallel."""
    return (yield task.when_all([ctx.call_activity(say_hello, input=city) for city in data["cities"]]))


async def _run(client: AsyncTaskHubGrpcClient, orchestrator: Any, prefix: str, inputs: list[list[str]]) -> Measurement:
    sent: dict[str, float] = {}
    ids = [f"{prefix}-{n}" for n in range(len(inputs))]

    async def start(instance_id: str, names: list[str]) -> None:
        sent[instance_id] = time.time()
        await client.schedule_new_orchestration(orchestrator, input={"cities": names}, instance_id=instance_id)

    await asyncio.gather(*(start(i, names) for i, names in zip(ids, inputs, strict=True)))
    # One wait at a time: each blocks one of the sidecar's 10 gRPC threads until its instance ends, and
    # 200 of them would starve the worker's own calls. Completion times come from the backend, so the
    # order of waiting does not change them.
    states = [await client.wait_for_orchestration_completion(i, timeout=TIMEOUT_S) for i in ids]
    done: dict[str, float] = {}
    for instance_id, state in zip(ids, states, strict=True):
        if state is None or state.runtime_status != OrchestrationStatus.COMPLETED:
            raise RuntimeError(f"{instance_id} did not complete: {state}")
        done[instance_id] = state.last_updated_at.timestamp()
    return measurement_from(sent, done, len(ids))


async def run_all(address: str, sizes: Sizes) -> dict[str, Any]:
    """Every workload, in order, on one backend."""
    client = AsyncTaskHubGrpcClient(host_address=address)
    results: dict[str, Any] = {}
    try:
        await _run(client, chaining, "warmup", [CHAIN_CITIES])
        results["W1"] = (await _run(client, chaining, "w1", [CHAIN_CITIES] * sizes.w1_orchestrations)).to_dict()
        m = await _run(client, chaining, "w2", [cities(sizes.w2_activities)])
        m.count = sizes.w2_activities
        results["W2"] = m.to_dict()
        for size, label in zip(sizes.w3_fan_outs, ("W3-5", "W3-1000", "W3-10000"), strict=True):
            m = await _run(client, fan_out, label.lower(), [cities(size)])
            m.count = size
            results[label] = m.to_dict()
        inputs = [cities(sizes.w4_cities)] * sizes.w4_orchestrations
        results["W4"] = (await _run(client, fan_out, "w4", inputs)).to_dict()
    finally:
        await client.close()
    return results


def run_with_worker(address: str, sizes: Sizes) -> dict[str, Any]:
    """Run the workloads against the sidecar at address, with a durabletask worker for their functions."""
    worker = TaskHubGrpcWorker(host_address=address)
    worker.add_orchestrator(chaining)
    worker.add_orchestrator(fan_out)
    worker.add_activity(say_hello)
    worker.start()
    try:
        return asyncio.run(run_all(address, sizes))
    finally:
        worker.stop()


def main() -> None:
    """Start the in-memory sidecar and a worker, run the workloads, print the result line."""
    sizes, port = runner_arguments()
    backend = InMemoryOrchestrationBackend(max_history_size=MAX_HISTORY, port=port)
    address = backend.start()
    try:
        results = run_with_worker(address, sizes)
    finally:
        backend.stop()
    emit(results)


if __name__ == "__main__":
    main()
