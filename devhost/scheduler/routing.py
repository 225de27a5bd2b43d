"""The engine's functions with the scheduler endpoint on: the app's names run in devhost's workers, every
other name goes to the gRPC workers (devhost/scheduler/dispatch.py)."""

from __future__ import annotations

import dataclasses

from devhost.durable.models import DurableFunctions, DurableRunner, EpisodeContext


class RoutingRunner:
    """A DurableRunner that sends the app's functions to the app's runner and the rest to another runner."""

    def __init__(self, app: DurableRunner, app_names: frozenset[str], others: DurableRunner) -> None:
        self.app = app
        self.app_names = app_names
        self.others = others

    def _runner(self, function: str) -> DurableRunner:
        return self.app if function in self.app_names else self.others

    async def orchestrate(self, function: str, instance_id: str, context: EpisodeContext) -> str | BaseException:
        """One episode, by whoever runs the orchestrator."""
        return await self._runner(function).orchestrate(function, instance_id, context)

    async def activity(self, function: str, instance_id: str, input_json: str | None) -> str:
        """One activity, by whoever runs it."""
        return await self._runner(function).activity(function, instance_id, input_json)

    async def entity(self, function: str, entity_id: str, request_json: str) -> str:
        """One entity batch, by whoever runs the entity."""
        return await self._runner(function).entity(function, entity_id, request_json)


def with_scheduler(functions: DurableFunctions, others: DurableRunner) -> DurableFunctions:
    """The app's functions plus every other name, run by ``others`` (names the app defines win, matched
    case-insensitively as Functions names are)."""
    app_names = frozenset(
        [*functions.orchestrators.values(), *functions.activities.values(), *functions.entities.values()]
    )
    return dataclasses.replace(functions, runner=RoutingRunner(functions.runner, app_names, others), open_names=True)
