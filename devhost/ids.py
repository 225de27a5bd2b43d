"""Random ids for invocations, instances and executions."""

from __future__ import annotations

import random
import uuid


def random_uuid() -> uuid.UUID:
    """A random (version 4) UUID from the fast generator: these ids must be unique, not secret, and
    uuid.uuid4() (os.urandom) was a twentieth of the host's CPU in a fan-out of 10,000 activities."""
    return uuid.UUID(int=random.getrandbits(128), version=4)
