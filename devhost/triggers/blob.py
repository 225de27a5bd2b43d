"""Blob triggers with the polling source: container scans, one invocation per new blob version (ETag),
retries up to maxDequeueCount, then the `webjobs-blobtrigger-poison` queue, as the Functions host does.

How the host does it (azure-sdk-for-net, Microsoft.Azure.WebJobs.Extensions.Storage.Blobs, Listeners/):
ScanBlobScanLogHybridPollingStrategy lists each watched container page by page (10,000 blobs per
polling interval, the continuation token kept between intervals, every 10 s) and hands every blob to
BlobTriggerExecutor, which skips names the path pattern does not match, writes a receipt per ETag
(BlobReceiptManager) and enqueues a BlobTriggerMessage on the host's blob trigger queue; that queue is
processed with host.json extensions.queues (maxDequeueCount 5, visibilityTimeout), and a message that
fails maxDequeueCount times goes to `webjobs-blobtrigger-poison` (SharedBlobQueueListenerFactory).
Blobs already in a container when it is first scanned fire too; deletes fire nothing.

devhost lists the whole container at every scan (page by page, on a thread), more often than the host
(SCAN_INTERVAL_S, so a new blob fires within a second on an idle host where the host may take 10 s),
and compares each blob's ETag with the last one it recorded for it, instead of the host's last-modified
cursor. It keeps the receipts and the tries in its data directory (blob_receipts.py says why) and runs
the function directly instead of through the internal queue, with as many at once as that queue would
(batchSize + newBatchThreshold).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
from azure.core.paging import ItemPaged
from azure.storage.blob import BlobProperties
from azure.storage.blob import ContainerClient as SyncContainerClient
from azure.storage.blob.aio import BlobServiceClient, ContainerClient
from azure.storage.queue.aio import QueueClient

from devhost.app.index import BLOB_POLLING_SOURCE as POLLING_SOURCE
from devhost.app.index import IndexedFunction
from devhost.bindings.queue_output import send_messages
from devhost.bindings.storage import StorageClients, client_options, expand_connection_string
from devhost.config import QueueOptions
from devhost.errors import DevHostError
from devhost.triggers.blob_paths import parse_blob_path
from devhost.triggers.blob_receipts import DONE, GONE, POISONED, BlobVersion, ReceiptStore, Scope, TriggerCounts
from devhost.triggers.invoke import HOST_API_REASON, InvocationFailed, Invoker, TriggerInput
from devhost.triggers.outage import OutageLog

log = logging.getLogger(__name__)

#: The host's poison queue for blob triggers (HostQueueNames.BlobTriggerPoisonQueue).
POISON_QUEUE = "webjobs-blobtrigger-poison"
#: Pause between scans of a container; a scan that took longer waits SCAN_BACKOFF times as long, up to
#: MAX_SCAN_INTERVAL_S, so that a huge container is not listed back to back (the host waits 10 s).
SCAN_INTERVAL_S = 0.5
SCAN_BACKOFF = 3.0
MAX_SCAN_INTERVAL_S = 10.0
#: Blobs per listing page. Pages are fetched and parsed by the storage SDK's sync client on a thread:
#: its XML parsing costs ~0.2 ms a blob in Python, so a page of 500 parsed on the event loop stalled
#: every other trigger for ~90 ms (bench/blob_trigger.py, HTTP ping p95 during a 10,000-blob scan).
PAGE_SIZE = 500
#: No SDK retries for listings (as for queue polling): the next scan is the retry, and an outage shows at once.
_LIST_RETRY: dict[str, Any] = {"retry_total": 0, "connection_timeout": 5}


def function_id(function_name: str) -> str:
    """The FunctionId the host writes in blob trigger messages (its id for a script function)."""
    return f"Host.Functions.{function_name}"


def quoted_etag(etag: str) -> str:
    """The ETag as the blob's ETag header spells it (quoted); blob listings give it bare.

    The host reads it from the blob's properties (BlobTriggerExecutor: FetchPropertiesOrNullIfNotExistAsync),
    so receipts, poison messages and the trigger's Properties all carry the quoted form (a poison message
    captured from Azure, quoted in a public app's tests: ..."ETag":"\"0x8DD51CD85C7A615\""}).
    """
    return etag if etag.startswith('"') else f'"{etag}"'


def poison_message(function_name: str, version: BlobVersion) -> str:
    """The host's BlobTriggerMessage JSON, as it lands on webjobs-blobtrigger-poison.

    Shape and key order from azure-sdk-for-net BlobTriggerMessage / BlobTriggerMessageTests:
    {"Type":"BlobTrigger","FunctionId":...,"BlobType":"BlockBlob","ContainerName":...,"BlobName":...,"ETag":...}.
    """
    return json.dumps(
        {
            "Type": "BlobTrigger",
            "FunctionId": function_id(function_name),
            "BlobType": version.blob_type,
            "ContainerName": version.container,
            "BlobName": version.blob,
            "ETag": version.etag,
        },
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class BlobContent:
    """A downloaded blob version."""

    data: bytes
    uri: str
    properties: dict[str, Any]
    metadata: dict[str, str]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def trigger_input(version: BlobVersion, content: BlobContent, names: Mapping[str, str]) -> TriggerInput:
    """The worker's trigger data and the binding data ({name}, BlobTrigger, Uri, Properties, Metadata)."""
    path = f"{version.container}/{version.blob}"
    data = {
        "data": base64.b64encode(content.data).decode("ascii"),
        "name": path,
        "uri": content.uri,
        "length": len(content.data),
        "properties": content.properties,
        "metadata": content.metadata,
    }
    binding_data: dict[str, Any] = dict(names)
    binding_data.update(
        {"BlobTrigger": path, "Uri": content.uri, "Properties": content.properties, "Metadata": content.metadata}
    )
    reason = f"New blob detected({POLLING_SOURCE}): {path}"
    return TriggerInput(data=data, binding_data=binding_data, reason=reason)


def manual_trigger_input(version: BlobVersion, content: BlobContent, names: Mapping[str, str]) -> TriggerInput:
    """A manual run's trigger input: the blob's, with the reason the host gives a run from its admin API."""
    scanned = trigger_input(version, content, names)
    return TriggerInput(scanned.data, scanned.binding_data, HOST_API_REASON)


class ManualRunError(DevHostError):
    """A manual run's input does not name a blob this trigger can run with."""


class BlobTriggerListener:
    """Scans one container for one function and runs it once per new blob version; run() until stop()."""

    def __init__(
        self,
        function: IndexedFunction,
        invoker: Invoker,
        clients: StorageClients,
        options: QueueOptions,
        receipts: ReceiptStore,
    ) -> None:
        self.function = function
        self.pattern = parse_blob_path(
            str(function.trigger.get("path")), f"function {function.name!r}, blob trigger {function.trigger.name!r}"
        )
        assert function.trigger.connection_string is not None
        self.service: BlobServiceClient = clients.blob_service(function.trigger.connection_string)
        self.container: ContainerClient = self.service.get_container_client(self.pattern.container)
        connection = expand_connection_string(function.trigger.connection_string)
        self._lister = SyncContainerClient.from_connection_string(
            connection, self.pattern.container, **client_options(connection, _LIST_RETRY)
        )
        self.poison_client: QueueClient = clients.queue(function.trigger.connection_string, POISON_QUEUE)
        self.scope = Scope(function.name, str(self.service.account_name), self.pattern.container)
        self.invoker = invoker
        self.options = options
        self.receipts = receipts
        #: Invocations at once: what the host's shared blob queue runs (batchSize + newBatchThreshold).
        self.parallelism = max(1, options.batch_size + options.new_batch_threshold)
        self._stopping = asyncio.Event()
        self._work: asyncio.Queue[BlobVersion] = asyncio.Queue()
        #: Versions whose try storage cut short, waiting to be queued again.
        self._retries: dict[BlobVersion, asyncio.TimerHandle] = {}
        self._latest: dict[str, str] = {}
        self._outage = OutageLog(log, f"Blob container '{self.pattern.container}'", "scanning again every few seconds")
        self._missing_logged = False
        #: Finished scans, and the last one's length and blobs listed (the dashboard shows them).
        self.scans = 0
        self.last_scan_s: float | None = None
        self.last_scan_blobs = 0

    @property
    def container_name(self) -> str:
        """The watched container."""
        return self.pattern.container

    def stop(self) -> None:
        """Stop scanning; run() returns once the invocations in flight are done."""
        self._stopping.set()

    async def counts(self) -> TriggerCounts:
        """Blobs seen and receipts by status, for the dashboard."""
        return await self.receipts.counts(self.scope)

    async def run(self) -> None:
        """Resume unfinished versions, then scan until stopped; the invocation tasks live in this TaskGroup."""
        self._latest = await self.receipts.latest_etags(self.scope)
        for receipt in await self.receipts.unfinished(self.scope):
            self._work.put_nowait(receipt.version)
        try:
            async with asyncio.TaskGroup() as group:
                for index in range(self.parallelism):
                    group.create_task(self._worker(), name=f"blob {self.function.name} worker {index}")
                await self._scan_loop()
        finally:
            for handle in self._retries.values():
                handle.cancel()
            self._retries.clear()
            await asyncio.to_thread(self._lister.close)

    # ------------------------------------------------------------------------------------------ scanning

    async def _scan_loop(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self.scan()
                self._outage.succeeded()
            except AzureError as exc:
                self._outage.failed(exc)
            took = time.monotonic() - started
            pause = min(MAX_SCAN_INTERVAL_S, max(SCAN_INTERVAL_S, took * SCAN_BACKOFF))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), pause)

    async def scan(self) -> None:
        """List the container once, page by page, recording and queueing every new blob version."""
        started = time.monotonic()
        listed = 0
        listing: ItemPaged[BlobProperties] = self._lister.list_blobs(
            name_starts_with=self.pattern.prefix or None, results_per_page=PAGE_SIZE
        )
        pages = listing.by_page()
        try:
            while (page := await asyncio.to_thread(_next_page, pages)) is not None:
                found: list[BlobVersion] = []
                for item in page:
                    listed += 1
                    name = str(item.name)
                    etag = quoted_etag(str(item.etag))
                    if self._latest.get(name) == etag or self.pattern.match(name) is None:
                        continue
                    blob_type = getattr(item.blob_type, "value", None) or str(item.blob_type or "BlockBlob")
                    found.append(BlobVersion(self.pattern.container, name, etag, blob_type))
                if found:
                    for version in await self.receipts.record(self.scope, found):
                        self._work.put_nowait(version)
                    for version in found:
                        self._latest[version.blob] = version.etag
                if self._stopping.is_set():
                    return
        except ResourceNotFoundError:
            if not self._missing_logged:
                self._missing_logged = True
                log.info(
                    "Blob container '%s' (function '%s') does not exist yet; waiting for it to be created",
                    self.pattern.container,
                    self.function.name,
                )
            return
        if self._missing_logged:
            self._missing_logged = False
            log.info("Blob container '%s' exists now; scanning it", self.pattern.container)
        self.scans += 1
        self.last_scan_s = time.monotonic() - started
        self.last_scan_blobs = listed

    # ------------------------------------------------------------------------------------------ invoking

    async def run_manually(self, path: str) -> None:
        """Run the function once now for the blob at "container/blob" (POST /admin/functions/{name}).

        The host binds a manual run's input as a blob path ("Blob identifiers must be in the format
        'container/blob'", azure-functions-templates#186) and runs the function without a receipt, so the
        scan still processes that version once. ManualRunError when the path is not a blob of this trigger.
        """
        container, _, blob = path.strip().partition("/")
        if not container or not blob:
            raise ManualRunError(
                f"Invalid blob path specified : '{path}'. Blob identifiers must be in the format 'container/blob'."
            )
        names = self.pattern.match(blob) if container == self.pattern.container else None
        if names is None:
            raise ManualRunError(f"blob '{path}' does not match the trigger path '{self.function.trigger.get('path')}'")
        try:
            props = await self.container.get_blob_client(blob).get_blob_properties()
        except ResourceNotFoundError:
            raise ManualRunError(f"blob '{path}' does not exist") from None
        blob_type = getattr(props.blob_type, "value", None) or str(props.blob_type or "BlockBlob")
        version = BlobVersion(container, blob, quoted_etag(str(props.etag)), blob_type)
        content = await self._download(version)
        if content is None:
            raise ManualRunError(f"blob '{path}' changed or was deleted while it was read; run it again")
        with contextlib.suppress(InvocationFailed):  # logged by the invoker, as the host logs a failed run
            await self.invoker.invoke(self.function, manual_trigger_input(version, content, names))

    async def _worker(self) -> None:
        while True:
            version = await self._next()
            if version is None:
                return
            try:
                await self._process(version)
            except AzureError as exc:
                # Storage went away mid-try: the receipt stays pending and is tried again at the next scan's
                # turn (or after a restart), its try counted.
                self._outage.failed(exc)
                self._requeue_later(version)
            except Exception:
                log.exception("Blob '%s/%s': unexpected error", version.container, version.blob)

    def _requeue_later(self, version: BlobVersion) -> None:
        """Try the version again after a while (storage failed mid-try); cancelled when run() ends."""
        self._retries[version] = asyncio.get_running_loop().call_later(MAX_SCAN_INTERVAL_S / 2, self._retry, version)

    def _retry(self, version: BlobVersion) -> None:
        self._retries.pop(version, None)
        self._work.put_nowait(version)

    async def _next(self) -> BlobVersion | None:
        """The next version to run, or None once stopping."""
        if self._stopping.is_set():
            return None
        getter = asyncio.ensure_future(self._work.get())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({getter, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not getter.done():
                getter.cancel()
        if self._stopping.is_set():
            # A version taken at the same moment stays pending in the receipts and runs after a restart.
            return None
        return getter.result()

    async def _process(self, version: BlobVersion) -> None:
        max_count = self.options.max_dequeue_count
        while True:
            count = await self.receipts.begin_attempt(self.scope, version)
            if count > max_count:
                # Tried max_count times already (the last try was cut short by a crash or shutdown).
                await self._poison(version, max_count)
                return
            content = await self._download(version)
            if content is None:
                await self.receipts.finish(self.scope, version, GONE)
                return
            names = self.pattern.match(version.blob) or {}
            try:
                await self.invoker.invoke(self.function, trigger_input(version, content, names))
            except InvocationFailed:
                if count >= max_count:
                    await self._poison(version, max_count)
                    return
                await self._wait(self.options.visibility_timeout.total_seconds())
                if self._stopping.is_set():
                    return  # still pending: the next start tries again
                continue
            await self.receipts.finish(self.scope, version, DONE)
            return

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _download(self, version: BlobVersion) -> BlobContent | None:
        """The version's bytes and properties; None when the blob was deleted or replaced meanwhile.

        The host drops such a message too (BlobQueueTriggerExecutor: "If the blob no longer exists, just
        ignore this message"; a changed ETag is a new version the scan finds).
        """
        client = self.container.get_blob_client(version.blob)
        try:
            downloader = await client.download_blob(etag=version.etag, match_condition=MatchConditions.IfNotModified)
            data = await downloader.readall()
        except (ResourceNotFoundError, ResourceModifiedError):
            log.debug(
                "Blob '%s/%s' (%s) is gone or changed; skipping it", version.container, version.blob, version.etag
            )
            return None
        props = downloader.properties
        settings = props.content_settings
        properties: dict[str, Any] = {
            "ContentLength": props.size,
            "ContentType": getattr(settings, "content_type", None),
            "ContentEncoding": getattr(settings, "content_encoding", None),
            "ETag": props.etag,
            "BlobType": version.blob_type.removesuffix("Blob"),
            "CreatedOn": _iso(props.creation_time),
            "LastModified": _iso(props.last_modified),
        }
        return BlobContent(data=data, uri=client.url, properties=properties, metadata=dict(props.metadata or {}))

    async def _poison(self, version: BlobVersion, max_count: int) -> None:
        log.warning(
            "Blob '%s/%s' (ETag %s) failed function 'Functions.%s' %d times: message has reached MaxDequeueCount "
            "of %d. Moving message to queue '%s'.",
            version.container,
            version.blob,
            version.etag,
            self.function.name,
            max_count,
            max_count,
            POISON_QUEUE,
        )
        await send_messages(
            self.poison_client, [poison_message(self.function.name, version)], self.options.message_encoding
        )
        await self.receipts.finish(self.scope, version, POISONED)


def _next_page(pages: Any) -> list[BlobProperties] | None:
    """The next page of a sync listing, fetched and parsed on the calling (worker) thread; None at the end."""
    try:
        return list(next(pages))
    except StopIteration:
        return None
