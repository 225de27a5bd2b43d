"""Free loopback ports for tests that start servers (devhost.net.free_ports, which the pytest plugin uses too)."""

from __future__ import annotations

from devhost.net import free_ports

__all__ = ["free_port", "free_ports"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]
