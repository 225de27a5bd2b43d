"""The scheduler endpoint: a plaintext gRPC server (grpc.aio) for TaskHubSidecarService on the host's loop."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import grpc
from durabletask.internal import orchestrator_service_pb2_grpc as stubs

from devhost.errors import ConfigError, DevHostError
from devhost.scheduler.servicer import HEALTH_PING_SECONDS, Access, SchedulerServicer, TaskHub

log = logging.getLogger(__name__)

#: How long stop() lets calls in flight finish; open GetWorkItems streams are cancelled after it.
STOP_GRACE_SECONDS = 1.0
#: gRPC's default message limit (4 MiB), stated so that the error a bigger payload gets can name it.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: How often the server pings each worker's connection (HTTP/2 PING), and how long it waits for the answer before
#: it drops the connection. TaskHubSidecarService has no lock renewal: a work item is a worker's while its
#: GetWorkItems stream is open, however long the work takes (durabletask's reference backend has no timeout
#: either). A worker that disconnects gives its items back at once; one that froze or lost the network without
#: closing its connection (SIGSTOP, a suspended VM, a pulled cable) stops answering pings, and this finds it.
KEEPALIVE_SECONDS = 20.0
#: Setting that overrides KEEPALIVE_SECONDS (tests and fault drills shorten it).
KEEPALIVE_SETTING = "DEVHOST_SCHEDULER_KEEPALIVE_SECONDS"


def keepalive_seconds(environ: Mapping[str, str]) -> float:
    """The worker connection ping interval and timeout: KEEPALIVE_SETTING when set, else KEEPALIVE_SECONDS."""
    text = environ.get(KEEPALIVE_SETTING)
    if not text:
        return KEEPALIVE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value < 1.0:
        raise ConfigError(f"{KEEPALIVE_SETTING}={text!r}: give a number of seconds, 1 or more")
    return value


class SchedulerPortError(DevHostError):
    """The scheduler endpoint could not listen on its port."""


def scheduler_origin(host: str, port: int) -> str:
    """The endpoint address a Durable Task SDK is given (ENDPOINT in the SDK samples)."""
    return f"http://{host}:{port}"


class SchedulerEndpoint:
    """Serves TaskHubSidecarService for the given task hubs until stop()."""

    def __init__(
        self,
        hubs: list[TaskHub],
        host: str,
        port: int,
        admin_key: str | None,
        ping_seconds: float = HEALTH_PING_SECONDS,
        keepalive_s: float | None = None,
    ) -> None:
        if not hubs:
            raise ValueError("the scheduler endpoint needs at least one task hub")
        self.hubs = hubs
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.keepalive_s = keepalive_seconds(os.environ) if keepalive_s is None else keepalive_s
        self._servicer = SchedulerServicer(hubs, Access(admin_key), ping_seconds)
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Bind and start serving; returns the bound port (SchedulerPortError when it is taken)."""
        server = grpc.aio.server(
            options=[
                # gRPC sets SO_REUSEPORT by default: a second devhost would then share the port silently.
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.keepalive_time_ms", round(self.keepalive_s * 1000)),
                ("grpc.keepalive_timeout_ms", round(self.keepalive_s * 1000)),
                # gRPC 1.85's transport times out an unanswered ping by this one (keepalive_timeout_ms alone did
                # not drop a frozen peer when tried).
                ("grpc.http2.ping_timeout_ms", round(self.keepalive_s * 1000)),
                # Keep pinging a connection that gets no data back (a frozen worker sends none).
                ("grpc.http2.max_pings_without_data", 0),
            ]
        )
        stubs.add_TaskHubSidecarServiceServicer_to_server(self._servicer, server)
        address = f"[{self.host}]:{self.requested_port}" if ":" in self.host else f"{self.host}:{self.requested_port}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise SchedulerPortError(
                f"the scheduler endpoint cannot listen on {address} ({exc}): the port is taken (another devhost "
                "or the Durable Task Scheduler emulator?); pick another with --scheduler-port N, "
                "or --scheduler-port off"
            ) from None
        await server.start()
        self._server = server
        self.port = port
        names = ", ".join(hub.name for hub in self.hubs)
        log.info(
            "Durable Task Scheduler endpoint listening on %s (task hubs: %s)",
            address.rsplit(":", 1)[0] + f":{port}",
            names,
        )
        return port

    async def stop(self) -> None:
        """Stop taking calls; calls in flight get STOP_GRACE_SECONDS, worker streams are closed."""
        if self._server is not None:
            await self._server.stop(STOP_GRACE_SECONDS)
            self._server = None
