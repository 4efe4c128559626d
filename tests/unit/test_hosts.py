"""Which Host names a request may carry (DNS rebinding)."""

from __future__ import annotations

import pytest

from sheetstream.hosts import LOOPBACK, default_hosts, host_allowed, host_name
from sheetstream.settings import Settings


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8005", "127.0.0.1"),
        ("LocalHost", "localhost"),
        ("localhost.:8005", "localhost"),
        ("[::1]:8005", "[::1]"),
        ("[::1]", "[::1]"),
        ("evil.test:8005", "evil.test"),
        ("[::1", None),
        ("[::1]x", None),
        ("host:port", None),
        ("", None),
        (None, None),
    ],
)
def test_the_name_of_a_host_header(header: str | None, name: str | None) -> None:
    assert host_name(header) == name


def test_a_loopback_server_answers_only_to_loopback_names() -> None:
    allowed = default_hosts("127.0.0.1")
    assert allowed == LOOPBACK
    assert host_allowed("127.0.0.1:8005", allowed) and host_allowed("[::1]:1", allowed)
    assert not host_allowed("evil.test:8005", allowed)
    assert not host_allowed("127.0.0.1.evil.test", allowed)
    assert not host_allowed(None, allowed)


def test_a_server_on_every_interface_answers_to_this_machine_s_addresses() -> None:
    allowed = default_hosts("0.0.0.0")
    assert allowed >= LOOPBACK and len(allowed) > len(LOOPBACK)
    assert "evil.test" not in allowed


def test_listed_names_and_the_wildcard() -> None:
    listed = Settings(allowed_hosts="sheets.example,10.0.0.5,::1").resolved_allowed_hosts()
    assert {"sheets.example", "10.0.0.5", "[::1]", "localhost"} <= listed
    assert not host_allowed("evil.test", listed)
    assert host_allowed("anything.at.all", Settings(allowed_hosts="*").resolved_allowed_hosts())


def test_listed_names_may_be_written_with_a_port_or_in_any_case() -> None:
    listed = Settings(
        allowed_hosts="Sheets.Example:8443,10.0.0.5:80,[fe80::2]:8005,fe80::3"
    ).resolved_allowed_hosts()
    assert {"sheets.example", "10.0.0.5", "[fe80::2]", "[fe80::3]"} <= listed
    assert host_allowed("sheets.example:8005", listed)
    assert host_allowed("[fe80::2]:1", listed)
