"""The durableClient binding value: the JSON text the SDK's DurableOrchestrationClient is built from, and
the check-status payload (one instance's management URLs) that it and the management API's 202 answers share."""

from __future__ import annotations

import json
from urllib.parse import quote

#: Placeholder the SDK string-replaces with the instance id in every management URL.
INSTANCE_ID_PLACEHOLDER = "INSTANCEID"
#: Connection name the extension puts into management URLs when the binding names none.
DEFAULT_CONNECTION_NAME = "Storage"


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


def build_client_binding(
    public_base_url: str, rpc_base_url: str, task_hub: str, connection_name: str | None = None
) -> str:
    """Binding JSON text for DurableOrchestrationClient (durable-protocol.md 4.1).

    public_base_url is the management API root (``http://localhost:7071/runtime/webhooks/durabletask``),
    used for the URLs users see; rpc_base_url is where the SDK sends its own calls.
    """
    base = public_base_url.rstrip("/")
    # The SDK concatenates paths onto rpcBaseUrl, so it must end with exactly one slash.
    rpc = rpc_base_url.rstrip("/") + "/"
    connection = connection_name or DEFAULT_CONNECTION_NAME
    query = f"taskHub={quote(task_hub, safe='')}&connection={quote(connection, safe='')}"
    management_urls = check_status_payload(base, INSTANCE_ID_PLACEHOLDER, task_hub, connection)
    binding = {
        "taskHubName": task_hub,
        "connectionName": connection_name,
        "creationUrls": {
            "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
            "createAndWaitOnNewInstancePostUri": (
                f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{query}"
            ),
        },
        "managementUrls": management_urls,
        "baseUrl": base,
        "requiredQueryStringParameters": "",
        "rpcBaseUrl": rpc,
    }
    return json.dumps(binding)
