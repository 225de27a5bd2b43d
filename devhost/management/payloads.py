"""Check-status payloads: the management URLs of one instance, and the 202 response carrying them."""

from __future__ import annotations

import json
from urllib.parse import quote

from aiohttp import web

#: Seconds a client should wait before polling statusQueryGetUri after a start (the extension's value).
START_RETRY_AFTER_SECONDS = 10


def _query_suffix(task_hub: str, connection_name: str) -> str:
    return f"taskHub={quote(task_hub, safe='')}&connection={quote(connection_name, safe='')}"


def check_status_payload(base_url: str, instance_id: str, task_hub: str, connection_name: str) -> dict[str, str]:
    """The management URLs of one instance under base_url (e.g. http://localhost:7071/runtime/webhooks/durabletask)."""
    instance_url = f"{base_url.rstrip('/')}/instances/{quote(instance_id, safe='')}"
    query = _query_suffix(task_hub, connection_name)
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{instance_url}?{query}",
        "sendEventPostUri": f"{instance_url}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{instance_url}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{instance_url}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{instance_url}?{query}",
        "restartPostUri": f"{instance_url}/restart?{query}",
        "suspendPostUri": f"{instance_url}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{instance_url}/resume?reason={{text}}&{query}",
    }


def check_status_response(base_url: str, instance_id: str, task_hub: str, connection_name: str) -> web.Response:
    """202 Accepted with the check-status payload, Location = statusQueryGetUri and Retry-After: 10."""
    payload = check_status_payload(base_url, instance_id, task_hub, connection_name)
    return web.Response(
        status=202,
        text=json.dumps(payload),
        content_type="application/json",
        headers={"Location": payload["statusQueryGetUri"], "Retry-After": str(START_RETRY_AFTER_SECONDS)},
    )
