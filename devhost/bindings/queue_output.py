"""Queue output binding and the queue message encoding (host.json extensions.queues.messageEncoding)."""

from __future__ import annotations

import base64
import binascii
import contextlib

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue.aio import QueueClient

from devhost.errors import DevHostError


class QueueOutputError(DevHostError):
    """A value cannot be written as queue messages."""


def encode_message(body: bytes | str, encoding: str) -> str:
    """The text stored in the queue for a message body: base64 of its bytes, or the text itself for "none"."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise QueueOutputError(
            'binary queue messages need messageEncoding "base64" in host.json extensions.queues'
        ) from None


def decode_message(text: str, encoding: str) -> bytes:
    """The message body bytes from stored text; raises ValueError when base64 is expected but not found."""
    if encoding == "base64":
        try:
            return base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError(f"message is not valid base64 ({exc})") from None
    return text.encode("utf-8")


async def send_messages(client: QueueClient, bodies: list[bytes | str], encoding: str) -> None:
    """Send each body, creating the queue when it does not exist yet (as the Functions host does)."""
    texts = [encode_message(body, encoding) for body in bodies]
    for text in texts:
        try:
            await client.send_message(text)
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()
            await client.send_message(text)
