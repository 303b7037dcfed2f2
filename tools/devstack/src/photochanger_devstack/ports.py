"""Loopback TCP ports: pick free ones, check that one is free, wait until one accepts."""

from __future__ import annotations

import contextlib
import socket

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct ports that are free on 127.0.0.1 right now.

    All sockets are held open until every port is picked, so the ports differ from each other.
    Another process may still take one before the server binds it; callers start servers soon.
    """
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port() -> int:
    """Return one port that is free on 127.0.0.1 right now."""
    return free_ports(1)[0]


def is_port_free(port: int) -> bool:
    """Return True if nothing listens on 127.0.0.1:``port`` and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers bind with SO_REUSEADDR, so connections of a previous run that linger in
        # TIME_WAIT do not make the port busy for them; check the same way.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def accepts_connections(port: int, timeout: float = 0.5) -> bool:
    """Return True if a TCP connection to 127.0.0.1:``port`` succeeds."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False
