"""The durableClient binding value: the JSON text the SDK's DurableOrchestrationClient is built from."""

from __future__ import annotations

import json
from urllib.parse import quote

from devhost.management.payloads import check_status_payload

#: Placeholder the SDK string-replaces with the instance id in every management URL.
INSTANCE_ID_PLACEHOLDER = "INSTANCEID"
#: Connection name the extension puts into management URLs when the binding names none.
DEFAULT_CONNECTION_NAME = "Storage"


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
