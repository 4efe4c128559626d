"""Where chunks may end in sentence and paragraph mode."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sheetstream.protocol import StreamingMode
from sheetstream.streaming.batcher import Batcher, Demand
from sheetstream.streaming.segmenters import (
    ABBREVIATIONS,
    ParagraphScanner,
    SentenceScanner,
    paragraph_boundary,
    scanner_for,
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


# --- the scanners agree with the rules written as regular expressions ----------------------
#
# The first version found boundaries by matching these patterns over all the pending text on
# every token: simple to read, but quadratic on runs of terminators or spaces. They stay here
# as the statement of the rules, and the scanners must find the same boundaries.

_SENTENCE = re.compile(r"(?P<term>(?:[.!?]|…)+[\"'”’)\]]*)(?P<ws>\s+)|(?P<nl>\r\n|\r|\n)")
_PARAGRAPH = re.compile(r"\s*\n[^\S\n]*\n\s*")
_LAST_WORD = re.compile(r"\S+$")


def rule_sentence(text: str) -> int:
    cut, end = 0, len(text)
    for match in _SENTENCE.finditer(text):
        if match.group("nl") is not None:
            if match.end() == end and text[-1] == "\r":
                break
            cut = match.end()
            continue
        if match.end() == end:
            break
        term = match.group("term")
        word = _LAST_WORD.search(text, 0, match.start("term") + 1)
        abbreviation = (
            term.startswith(".")
            and len(term.rstrip("\"'”’)]")) == 1
            and word is not None
            and word.group().lstrip("\"'“‘([").lower() in ABBREVIATIONS
        )
        ellipsis = ("..." in term or "…" in term) and text[match.end() : match.end() + 1].islower()
        newline = text.rfind("\n", match.start("ws"), match.end())
        if not abbreviation and not ellipsis:
            cut = newline + 1 if newline >= 0 else match.end()
        elif newline >= 0:
            cut = newline + 1
    return cut


def rule_paragraph(text: str) -> int:
    cut = 0
    for match in _PARAGRAPH.finditer(text):
        if match.end() == len(text):
            break
        cut = text.rfind("\n", match.start(), match.end()) + 1
    return cut


# every character a rule treats specially, white space of several kinds, and words the
# abbreviation rule looks at
PIECES = st.sampled_from(
    [*".!?…\"'”’)]“‘([ \t\n\r", "\xa0", "\u2028", "\x1c", "...", "e.g.", "Dr", "etc",
     "approx", "a", "B", "x", "3", "é", "😀", "K", "\r\n", "\n\n", " \n \n"]
)  # fmt: skip


@st.composite
def split_text(draw: st.DrawFn) -> list[str]:
    """A text of the pieces above, split into tokens at random places."""
    text = "".join(draw(st.lists(PIECES, max_size=60)))
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=30)))
    edges = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=1500, deadline=None)
@given(split=split_text())
def test_sentence_scanner_confirms_what_the_rules_confirm(split: list[str]) -> None:
    scanner, fed = SentenceScanner(), ""
    for token in split:
        scanner.feed(token)
        fed += token
        assert scanner.boundary == rule_sentence(fed), repr(fed)


@settings(max_examples=1500, deadline=None)
@given(split=split_text())
def test_paragraph_scanner_confirms_what_the_rules_confirm(split: list[str]) -> None:
    scanner, fed = ParagraphScanner(), ""
    for token in split:
        scanner.feed(token)
        fed += token
        assert scanner.boundary == rule_paragraph(fed), repr(fed)


# --- linear work -----------------------------------------------------------------------------

# Texts that made the first version rescan a growing run on every token.
HOSTILE = {
    "dots": ".",
    "bangs and closers": "!)",
    "spaces": " ",
    "carriage returns": "\r",
    "openers": "(",
    "ellipsis words": "... a",
    "abbreviations": "e.g. ",
    "one long word": "x",
    "blank lines": "\n \n",
}


def stream_through(mode: StreamingMode, unit: str, count: int) -> float:
    """CPU seconds to stream `unit` * `count`, one unit per token, the way a stream does."""
    batcher = Batcher(scanner_for(mode), max_tokens=4, max_delay_s=0.025)
    started = time.process_time()
    for i in range(count):
        batcher.add(unit, i)
        batcher.take(Demand.IDLE, i)
    batcher.drain()
    return time.process_time() - started


@pytest.mark.parametrize(
    "mode", [StreamingMode.SENTENCE_BY_SENTENCE, StreamingMode.PARAGRAPH_BY_PARAGRAPH]
)
@pytest.mark.parametrize("unit", list(HOSTILE.values()), ids=list(HOSTILE))
def test_work_grows_linearly_with_the_answer(mode: StreamingMode, unit: str) -> None:
    """Eight times the text costs about eight times the work, not sixty-four: the ratio of
    CPU times (best of five, so a busy machine only makes it noisier, not wrong) stays far
    below the quadratic one. The first version took 27 s on 5,000 dots."""
    small, large = 4_000, 32_000
    best_small = min(stream_through(mode, unit, small) for _ in range(5))
    best_large = min(stream_through(mode, unit, large) for _ in range(5))
    assert best_large / max(best_small, 1e-6) < 24
