"""Which `Host` a request may name: the defence against DNS rebinding.

A page on `evil.test` whose name the attacker re-points at 127.0.0.1 is same-origin with this
server as far as the browser knows: its requests carry `Host: evil.test:8005` and `Origin:
http://evil.test:8005`. Only the `Host` tells them apart, so every HTTP request and WebSocket
handshake must name one of the server's own names.
"""

from __future__ import annotations

import ipaddress
import socket

ANY = "*"
LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def host_name(header: str | None) -> str | None:
    """The name in a `Host` header, without its port, lower-cased; None when malformed."""
    if not header:
        return None
    text = header.strip().lower()
    if text.startswith("["):  # [v6]:port
        end = text.find("]")
        if end < 0 or (len(text) > end + 1 and not text[end + 1 :].startswith(":")):
            return None
        return text[: end + 1]
    name, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") or None


def host_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    if ANY in allowed:
        return True
    name = host_name(header)
    return name is not None and name in allowed


def as_host(address: str) -> str:
    """An address as a `Host` header names it: IPv6 in brackets, without a zone."""
    address = address.split("%", 1)[0].lower()
    try:
        return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError:
        return address.rstrip(".")


def listed_host(entry: str) -> str:
    """An ALLOWED_HOSTS entry as `host_name` gives it: a port, if written, is dropped (every
    port of a name is the same site to DNS rebinding), a bare IPv6 address gets brackets."""
    entry = entry.strip()
    if entry == ANY:
        return ANY
    if entry.count(":") > 1 and not entry.startswith("["):  # a bare IPv6 address
        return as_host(entry)
    return host_name(entry) or as_host(entry)


def default_hosts(bind: str) -> frozenset[str]:
    """The names of the address the server binds, and the loopback names.

    Bound to every interface, the server answers to this machine's names and addresses."""
    names = set(LOOPBACK)
    if bind.strip("[]") not in _WILDCARDS:
        names.add(as_host(bind.strip("[]")))
        return frozenset(names)
    import psutil

    names |= {as_host(socket.gethostname()), as_host(socket.getfqdn())}
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                names.add(as_host(address.address))
    return frozenset(names)
