"""Network address helpers shared by the host's layers (standard library only)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket


def is_loopback_host(host: str) -> bool:
    """True when a bind address only accepts local connections (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_ports(count: int, avoid: tuple[int, ...] = ()) -> list[int]:
    """`count` different TCP ports on 127.0.0.1 that nothing listens on right now, none of them in `avoid`.

    All are held open until all are chosen: asked for one at a time, the kernel may hand out the port it
    just took back, and one server would then find another's port taken.
    """
    with contextlib.ExitStack() as held:
        ports: list[int] = []
        while len(ports) < count:
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port not in avoid:
                ports.append(port)
        return ports
