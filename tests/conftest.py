"""Shared pytest fixtures."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest


class NetworkAccessBlockedError(RuntimeError):
    """Raised when a test tries to reach anything but this machine's loopback."""


def _is_local_address(family: int, address: Any) -> bool:
    """Whether a socket address points at this machine (loopback or a Unix socket)."""
    if family == getattr(socket, "AF_UNIX", None):
        return True
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return False  # a host name: it would need DNS, which is not local either
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _is_ip(host: Any) -> bool:
    try:
        ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host))
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail any test that connects (or resolves a name) beyond 127.0.0.0/8, ::1 and localhost.

    The attempt raises NetworkAccessBlockedError at once, and since libraries may catch and
    retry that, the test is also failed at teardown if any attempt was made. The fixture's
    value is the list of attempts (a test that expects some clears it).
    """
    attempts: list[str] = []

    def block(what: str) -> NetworkAccessBlockedError:
        attempts.append(what)
        return NetworkAccessBlockedError(f"tests must stay on 127.0.0.1, tried {what}")

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create_connection = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_local_address(self.family, address):
            raise block(f"connect to {address!r}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_local_address(self.family, address):
            raise block(f"connect_ex to {address!r}")
        return real_connect_ex(self, address)

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if not _is_local_address(socket.AF_INET, address):
            raise block(f"create_connection to {address!r}")
        return real_create_connection(address, *args, **kwargs)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        # Resolving a name sends DNS queries off the machine; IP literals are checked at connect.
        if host and not _is_local_address(socket.AF_INET, (host, 0)) and not _is_ip(host):
            raise block(f"resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    if attempts:
        pytest.fail("network access outside 127.0.0.1 attempted: " + "; ".join(attempts))
