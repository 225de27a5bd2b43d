"""W5-floor's consumer: receives and deletes queue messages and does nothing else.

It polls the way devhost's queue trigger does, with the same calls (devhost/bindings/queue_messages.py;
batches of 32, the next receive as soon as one returns, 20 ms after an empty one, deletes in the
background). It prints "ready" on stdout once it polls, then,
as JSON on one line, when it received each message. Run by bench.ours as its own process, like the
host: with the same sender and Azurite, its sent-to-received latency is the part of W5's
message-to-Running that no host on this machine can avoid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from devhost.bindings.storage import StorageClients  # noqa: E402

BATCH = 32
EMPTY_POLL_S = 0.02


async def consume(connection_string: str, queue_name: str, count: int, timeout_s: float) -> dict[str, float]:
    """Message content -> epoch seconds when it was received, for `count` messages (or until timeout_s)."""
    received: dict[str, float] = {}
    deletes: set[asyncio.Future[None]] = set()
    deadline = time.monotonic() + timeout_s
    clients = StorageClients()
    queue = clients.queue_messages(connection_string, queue_name)
    try:
        ready = False
        while len(received) < count and time.monotonic() < deadline:
            batch = await queue.receive(BATCH, 30)
            now = time.time()
            if not ready:
                # The bench starts sending on this line: its first messages must not wait for this
                # process to start up.
                print("ready", flush=True)
                ready = True
            if not batch:
                await asyncio.sleep(EMPTY_POLL_S)
            for message in batch:
                received[str(message.content)] = now
                task = asyncio.ensure_future(queue.delete(message))
                deletes.add(task)
                task.add_done_callback(deletes.discard)
        await asyncio.gather(*deletes)
    finally:
        await clients.close()
    return received


def main() -> int:
    """Consume, then print the receive times as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connection-string", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    received = asyncio.run(consume(args.connection_string, args.queue, args.count, args.timeout))
    print(json.dumps(received), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
