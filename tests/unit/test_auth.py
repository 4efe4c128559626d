"""Admin token parsing and comparison."""

from __future__ import annotations

import pytest

from sheetstream.routes.auth import parse_bearer, token_matches


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer ", None),
        ("", None),
    ],
)
def test_parse_bearer(header: str, expected: str | None) -> None:
    assert parse_bearer(header) == expected


def test_token_matches_only_a_configured_token_given_exactly() -> None:
    assert token_matches("t0k", "t0k")
    assert not token_matches("t0K", "t0k")
    assert not token_matches(None, "t0k")
    assert not token_matches("", "")  # no configured token opens nothing
    assert not token_matches("anything", "")
