"""The origin rule: programs, same-origin pages and exact allow-list entries only."""

from __future__ import annotations

import pytest

from sheetstream.origins import origin_allowed

ALLOWED = ["https://app.example", "http://localhost:3000"]


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "expected"),
    [
        (None, "svc:8005", "ws", True),  # a program, not a browser
        ("http://svc:8005", "svc:8005", "ws", True),  # same origin
        ("https://svc", "svc", "wss", True),
        ("http://svc", "svc", "wss", False),  # same host, other scheme
        ("https://app.example", "svc:8005", "ws", True),
        ("http://localhost:3000", "svc:8005", "ws", True),
        ("https://evil.example", "svc:8005", "ws", False),
        ("null", "svc:8005", "ws", False),
        ("https://app.example.evil.com", "svc:8005", "ws", False),  # suffix trick
        ("https://evil-app.example", "svc:8005", "ws", False),
        ("https://app.exampl", "svc:8005", "ws", False),  # prefix trick
        ("https://app.example:443", "svc:8005", "ws", False),  # exact entries only
        ("http://svc:8005.evil.com", "svc:8005", "ws", False),
    ],
)
def test_origin_matrix(origin: str | None, host: str, scheme: str, expected: bool) -> None:
    assert origin_allowed(origin, host, scheme, ALLOWED) is expected
