"""The Durable Functions HTTP management API, served at two mount points of the host's web server.

The public API lives at MANAGEMENT_PREFIX; the SDK's DurableOrchestrationClient talks to the same
routes at RPC_PREFIX (its ``rpcBaseUrl``). Call ``create_management_app`` once per mount: an aiohttp
sub-application can only be added to one parent prefix.
"""

from __future__ import annotations

MANAGEMENT_PREFIX = "/runtime/webhooks/durabletask"
RPC_PREFIX = "/_rpc/durabletask"

__all__ = ["MANAGEMENT_PREFIX", "RPC_PREFIX"]
