"""Blob input and output bindings ("container/name" paths)."""

from __future__ import annotations

import contextlib
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient

from devhost.errors import DevHostError


class BlobBindingError(DevHostError):
    """A blob binding value or path cannot be used."""


def split_path(path: str) -> tuple[str, str]:
    """("container", "name/in/container") from a resolved binding path."""
    container, _, name = path.strip("/").partition("/")
    if not container or not name:
        raise BlobBindingError(f'blob path {path!r} must be "container/blob-name"')
    return container, name


async def read_blob(service: BlobServiceClient, path: str) -> tuple[bytes, dict[str, Any]] | None:
    """The blob's content and properties, or None when the blob or container does not exist."""
    container, name = split_path(path)
    client = service.get_blob_client(container, name)
    try:
        downloader = await client.download_blob()
        data = await downloader.readall()
    except ResourceNotFoundError:
        return None
    properties = {"ContentLength": len(data), "Uri": client.url, "Name": f"{container}/{name}"}
    return data, properties


async def write_blob(service: BlobServiceClient, path: str, data: bytes) -> None:
    """Upload (overwrite) the blob, creating its container when missing."""
    container, name = split_path(path)
    client = service.get_blob_client(container, name)
    try:
        await client.upload_blob(data, overwrite=True)
    except ResourceNotFoundError:
        with contextlib.suppress(ResourceExistsError):
            await service.create_container(container)
        await client.upload_blob(data, overwrite=True)
