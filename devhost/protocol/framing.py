"""Length-prefixed JSON frames over a stream socket (a socketpair shared by host and worker).

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON: one object per message.
Bytes values travel base64-encoded (``encode_bytes``/``decode_bytes``); everything else is plain JSON.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from typing import Any

_HEADER = struct.Struct(">I")
#: Largest frame either side accepts (an HTTP body or a history of this size is a bug, not a request).
MAX_FRAME_BYTES = 256 * 1024 * 1024


class ChannelClosed(Exception):
    """The other side closed the channel (or died)."""


def encode_frame(message: dict[str, Any]) -> bytes:
    """The bytes of one frame for a message."""
    payload = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return _HEADER.pack(len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The next message; ChannelClosed at end of stream."""
    try:
        header = await reader.readexactly(_HEADER.size)
        (length,) = _HEADER.unpack(header)
        if length > MAX_FRAME_BYTES:
            raise ChannelClosed(f"frame of {length} bytes exceeds the limit of {MAX_FRAME_BYTES}")
        payload = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise ChannelClosed(str(exc) or "end of stream") from None
    message = json.loads(payload)
    if not isinstance(message, dict):
        raise ChannelClosed("a frame did not hold a JSON object")
    return message


def encode_bytes(data: bytes) -> str:
    """Bytes as frame text."""
    return base64.b64encode(data).decode("ascii")


def decode_bytes(text: str) -> bytes:
    """Bytes from frame text."""
    return base64.b64decode(text)
