"""User tokens: parsing entries, owners, refusals that say how to fix them, log redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from sheetstream.access import TokenBook, TokenConfigError, read_token_file, redact_tokens, visible

ALICE = "alice-secret-0123456789"
BOB = "bob-secret-0123456789ab"


def test_entries_name_their_owner_and_unknown_tokens_have_none() -> None:
    book = TokenBook.from_entries([f"alice:{ALICE}", f" bob:{BOB} ", "", "# a comment"])
    assert not book.open
    assert book.owner_for(ALICE) == "alice"
    assert book.owner_for(BOB) == "bob"
    assert book.owner_for(ALICE[:-1]) is None
    assert book.owner_for(ALICE + "x") is None
    assert book.owner_for("") is None
    assert book.owner_for(None) is None


def test_a_bare_token_gets_an_owner_named_after_its_hash_not_the_token() -> None:
    owner = TokenBook.from_entries([ALICE]).owner_for(ALICE)
    assert owner is not None and owner.startswith("token-") and ALICE not in owner
    assert TokenBook.from_entries([ALICE]).owner_for(ALICE) == owner  # stable across restarts


def test_a_token_may_contain_colons_the_owner_is_before_the_first_one() -> None:
    book = TokenBook.from_entries(["carol:abc:defghijklmnopqrstu"])
    assert book.owner_for("abc:defghijklmnopqrstu") == "carol"
    assert book.owner_for("defghijklmnopqrstu") is None


def test_no_entries_is_an_open_service() -> None:
    book = TokenBook.from_entries([])
    assert book.open and book.owner_for(ALICE) is None


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("alice:short", "at least 16"),
        ("alice:has a space in it ok", "no spaces or quotes"),
        ("alice:quote'inside0123456789", "no spaces or quotes"),
        ("al ice:" + ALICE, "owner"),
        (":" + ALICE, "owner"),
    ],
)
def test_bad_entries_refuse_to_start_and_never_quote_the_token(entry: str, says: str) -> None:
    with pytest.raises(TokenConfigError) as info:
        TokenBook.from_entries([entry])
    assert says in str(info.value)
    assert entry.partition(":")[2] not in str(info.value)


def test_token_file_lines_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# owners\nalice:{ALICE}\n\nbob:{BOB}\n")
    book = TokenBook.from_entries(read_token_file(path))
    assert (book.owner_for(ALICE), book.owner_for(BOB)) == ("alice", "bob")
    with pytest.raises(TokenConfigError, match="SHEETSTREAM_API_TOKENS_FILE"):
        read_token_file(tmp_path / "missing")


def test_visibility_open_sees_all_owners_see_their_own() -> None:
    assert visible("alice", None) and visible("", None)
    assert visible("alice", "alice")
    assert not visible("alice", "bob")
    assert not visible("", "bob")  # made while the service was open: no owner can claim it


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"GET /api/workbooks?token=abc HTTP/1.1"', '"GET /api/workbooks?token=*** HTTP/1.1"'),
        ("/ws/chat?session_id=s1&token=abc&x=1", "/ws/chat?session_id=s1&token=***&x=1"),
        ("/ws/chat?TOKEN=abc", "/ws/chat?TOKEN=***"),
        ("/ws/chat?session_id=s1", "/ws/chat?session_id=s1"),
        ("Bearer abc.def-ghi", "Bearer ***"),
        ("/api/workbooks?%74oken=abc", "/api/workbooks?%74oken=***"),
        ("/api/workbooks?%74%6Fken%3dabc&x=1", "/api/workbooks?%74%6Fken%3d***&x=1"),
        ("authorization: bearer  abc", "authorization: bearer  ***"),
    ],
)
def test_redact_tokens(line: str, expected: str) -> None:
    assert redact_tokens(line) == expected
