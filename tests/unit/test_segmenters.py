"""Where chunks may end in sentence and paragraph mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from sheetstream.streaming.segmenters import (
    ABBREVIATIONS,
    paragraph_boundary,
    sentence_boundary,
)


def sentences(text: str) -> list[str]:
    """Split a complete text the way sentence mode would cut it."""
    pieces = []
    while text:
        # the shortest prefix that confirms a boundary confirms exactly the first one
        cut = next(
            (b for i in range(1, len(text) + 1) if (b := sentence_boundary(text[:i], False))),
            len(text),
        )
        pieces.append(text[:cut])
        text = text[cut:]
    return pieces


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One. ", "Two! ", "Three? ", "Four"]),
        ("Pi is 3.14 today. Next", ["Pi is 3.14 today. ", "Next"]),
        ("Total 1,234.56 EUR. Done", ["Total 1,234.56 EUR. ", "Done"]),
        ("Use e.g. sums. Or not", ["Use e.g. sums. ", "Or not"]),
        ("Ask Dr. Who and Mr. Smith. Then", ["Ask Dr. Who and Mr. Smith. ", "Then"]),
        ("So i.e. this vs. that. Ok", ["So i.e. this vs. that. ", "Ok"]),
        ("Wait... then it grew. Yes", ["Wait... then it grew. ", "Yes"]),
        ("Wait… then it grew. Yes", ["Wait… then it grew. ", "Yes"]),
        ("It ended... Then more", ["It ended... ", "Then more"]),
        ("line one\nline two\r\nthree", ["line one\n", "line two\r\n", "three"]),
        ("Done.\n  Indented", ["Done.\n", "  Indented"]),
        ('He said "stop." Then', ['He said "stop." ', "Then"]),
        ("Space after.   Many", ["Space after.   ", "Many"]),
        ("Items etc.\nNext line", ["Items etc.\n", "Next line"]),
        ("It went on...\nand on", ["It went on...\n", "and on"]),
    ],
)
def test_sentence_mode_cuts_only_at_sentence_ends(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_trailing_white_space_waits_for_more_text() -> None:
    assert sentence_boundary("End. ", False) == 0
    assert sentence_boundary("End. ", True) == len("End. ")


def test_lone_carriage_return_waits_for_its_line_feed() -> None:
    assert sentence_boundary("a\r", False) == 0
    assert sentence_boundary("a\r\nb", False) == 3


def test_number_split_across_tokens_is_not_a_boundary() -> None:
    assert sentence_boundary("It is 3.", False) == 0
    assert sentence_boundary("It is 3.14 now", False) == 0


def test_documented_abbreviations_match_the_code() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    for abbreviation in ABBREVIATIONS:
        assert f"`{abbreviation}`" in doc, f"{abbreviation} is not listed in docs/protocol.md"


def test_paragraph_mode_cuts_after_blank_lines() -> None:
    text = "First para.\nStill first.\n\nSecond.\n \t\nThird"
    assert paragraph_boundary(text, False) == text.index("Third")
    assert paragraph_boundary("One.\n\n", False) == 0  # more blank lines may follow
    assert paragraph_boundary("One.\r\n\r\nTwo", False) == len("One.\r\n\r\n")
    assert paragraph_boundary("One.\nTwo.", False) == 0


def test_paragraph_keeps_next_indent() -> None:
    assert paragraph_boundary("A\n\n    code", False) == 3
