"""The dashboard's settings (re-exported by devhost.dashboard.app)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from devhost.triggers.blob import BlobTriggerListener


@dataclass(frozen=True)
class DashboardSettings:
    """What the dashboard shows besides the task hub. Lists passed for queue_names and orchestrator_names are
    stored as tuples."""

    #: Task hub name shown in the header.
    task_hub: str = "default"
    #: Connection string of the app's storage account (AzureWebJobsStorage); None hides queues and results.
    storage_connection_string: str | None = None
    #: Queues the app's triggers read; shown even before they exist. Every queue in the account is shown too.
    queue_names: Sequence[str] = field(default_factory=tuple)
    #: Table holding collected results, shown on the queues page when set.
    results_table: str | None = None
    #: The app's orchestrator functions, offered by the Start dialog and the name filter.
    orchestrator_names: Sequence[str] = field(default_factory=tuple)
    #: The app's blob triggers, shown on the queues page with their receipts and poison entries.
    blob_triggers: Sequence[BlobTriggerListener] = field(default_factory=tuple)
    #: Every task hub the server's dashboard shows, offered by the header's hub picker (hub_path says where
    #: each one is); empty when task_hub is the only one.
    task_hubs: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "queue_names", tuple(self.queue_names))
        object.__setattr__(self, "orchestrator_names", tuple(self.orchestrator_names))
        object.__setattr__(self, "blob_triggers", tuple(self.blob_triggers))
        object.__setattr__(self, "task_hubs", tuple(self.task_hubs))

    def hub_links(self) -> list[dict[str, str]]:
        """The hub picker's entries: each hub's name and the path of its dashboard."""
        hubs = self.task_hubs or (self.task_hub,)
        return [{"name": name, "url": hub_path(hubs, name)} for name in hubs]


#: Where a task hub's dashboard lives when the server has more than one: /hubs/NAME/ (the first hub is at /).
HUB_PREFIX = "/hubs/"


def hub_path(hubs: Sequence[str], name: str) -> str:
    """The path of a hub's dashboard: '/' for the first (default) hub, /hubs/NAME/ for the others."""
    return "/" if name == hubs[0] else f"{HUB_PREFIX}{name}/"
