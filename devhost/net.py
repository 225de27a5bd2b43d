"""Network address helpers shared by the host's layers (standard library only)."""

from __future__ import annotations

import ipaddress


def is_loopback_host(host: str) -> bool:
    """True when a bind address only accepts local connections (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
