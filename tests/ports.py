"""Free loopback ports for the servers the tests start."""

from __future__ import annotations

import random
import socket


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(size: int) -> int:
    """The first of `size` consecutive free ports on 127.0.0.1."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - size)
        if all(_is_free(base + offset) for offset in range(size)):
            return base
    raise RuntimeError(f"no block of {size} free ports found")
