"""Typed application keys shared by the dashboard's route modules."""

from __future__ import annotations

from aiohttp import web

from devhost.dashboard.events import ChangeFeed
from devhost.dashboard.settings import DashboardSettings
from devhost.dashboard.stats import HubStatistics
from devhost.dashboard.storage import StorageMonitor
from devhost.dashboard.waiting import WaitingSource
from devhost.durable.service import DurableService

SERVICE = web.AppKey("service", DurableService)
STATS = web.AppKey("stats", HubStatistics)
STORAGE = web.AppKey("storage", StorageMonitor)
SETTINGS = web.AppKey("settings", DashboardSettings)
FEED = web.AppKey("feed", ChangeFeed)
#: The task hub's work that waits for a worker (DurableEngine.waiting_work).
WAITING: web.AppKey[WaitingSource] = web.AppKey("waiting")
