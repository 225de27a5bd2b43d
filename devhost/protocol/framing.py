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


class FrameWriter:
    """Writes frames to a stream, those queued in one turn of the event loop in one write.

    A fan-out dispatches hundreds of requests in one turn of the host's loop and a worker answers many in
    one turn of its own; one send per frame cost a system call each. Call only on the loop's thread.
    """

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._pending: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, frame: bytes) -> None:
        """Queue an encoded frame; it is written at the end of this turn of the loop."""
        self._pending.append(frame)
        if len(self._pending) == 1:
            self._loop.call_soon(self._flush)

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message."""
        self.write(encode_frame(message))

    def close(self) -> None:
        """Write what is queued and close the stream."""
        self._flush()
        self.writer.close()

    def _flush(self) -> None:
        if not self._pending or self.writer.is_closing():
            self._pending.clear()
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self.writer.write(data)


def encode_bytes(data: bytes) -> str:
    """Bytes as frame text."""
    return base64.b64encode(data).decode("ascii")


def decode_bytes(text: str) -> bytes:
    """Bytes from frame text."""
    return base64.b64decode(text)
