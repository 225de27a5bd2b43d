"""The 202 response carrying the check-status payload (the management URLs of one instance, built in
devhost/durable/client_binding.py, which the durableClient binding shares)."""

from __future__ import annotations

import json

from aiohttp import web

from devhost.durable.client_binding import check_status_payload

#: Seconds a client should wait before polling statusQueryGetUri after a start (the extension's value).
START_RETRY_AFTER_SECONDS = 10


def check_status_response(base_url: str, instance_id: str, task_hub: str, connection_name: str) -> web.Response:
    """202 Accepted with the check-status payload, Location = statusQueryGetUri and Retry-After: 10."""
    payload = check_status_payload(base_url, instance_id, task_hub, connection_name)
    return web.Response(
        status=202,
        text=json.dumps(payload),
        content_type="application/json",
        headers={"Location": payload["statusQueryGetUri"], "Retry-After": str(START_RETRY_AFTER_SECONDS)},
    )
