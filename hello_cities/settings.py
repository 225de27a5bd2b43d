"""Names and defaults of the app settings Hello Cities reads (local.settings.json / Azure app settings)."""

from __future__ import annotations

import os

#: Storage queue the queue-triggered starter listens on (the binding reads it as %HELLO_CITIES_QUEUE%).
QUEUE_SETTING = "HELLO_CITIES_QUEUE"
DEFAULT_QUEUE = "hello-cities-requests"
#: NCRONTAB (six fields, with seconds) schedule of the results collector timer.
COLLECTOR_SCHEDULE_SETTING = "HELLO_CITIES_COLLECTOR_SCHEDULE"
DEFAULT_COLLECTOR_SCHEDULE = "*/10 * * * * *"
#: Azure Storage table holding collected results and the collector's watermark.
RESULTS_TABLE_SETTING = "HELLO_CITIES_RESULTS_TABLE"
DEFAULT_RESULTS_TABLE = "HelloCitiesResults"
#: Storage connection used by the queue trigger and the results table.
STORAGE_CONNECTION_SETTING = "AzureWebJobsStorage"


class MissingSettingError(RuntimeError):
    """A required app setting is not configured."""


def results_table_name() -> str:
    """The results table name from the app settings, or its default."""
    return os.environ.get(RESULTS_TABLE_SETTING, "").strip() or DEFAULT_RESULTS_TABLE


def storage_connection_string() -> str:
    """The AzureWebJobsStorage connection string; raises MissingSettingError naming the setting."""
    value = os.environ.get(STORAGE_CONNECTION_SETTING, "").strip()
    if not value:
        raise MissingSettingError(f"app setting {STORAGE_CONNECTION_SETTING} is not set")
    return value
