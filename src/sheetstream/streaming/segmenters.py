"""Where a chunk may end, per streaming mode. Pure functions over the pending text.

Each segmenter answers one question: given the text produced but not yet sent, how long is the
longest prefix that ends at a boundary of this mode? A boundary that later text could still
move (white space at the very end, a lone `\\r`) is not confirmed until that text arrives or
the stream ends (`final`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sheetstream.protocol import StreamingMode

# `docs/protocol.md` lists this set; a `.` ending one of these does not end a sentence.
ABBREVIATIONS = frozenset(
    {
        "e.g.", "i.e.", "etc.", "cf.", "vs.", "approx.", "incl.", "no.", "nos.", "fig.",
        "dr.", "mr.", "mrs.", "ms.", "prof.", "sr.", "jr.", "st.", "mt.", "inc.", "ltd.",
        "co.", "corp.", "jan.", "feb.", "mar.", "apr.", "jun.", "jul.", "aug.", "sep.",
        "sept.", "oct.", "nov.", "dec.", "u.s.", "u.k.", "a.m.", "p.m.",
    }
)  # fmt: skip

_SENTENCE = re.compile(r"(?P<term>(?:[.!?]|…)+[\"'”’)\]]*)(?P<ws>\s+)|(?P<nl>\r\n|\r|\n)")
_PARAGRAPH = re.compile(r"\s*\n[^\S\n]*\n\s*")
_LAST_WORD = re.compile(r"\S+$")

Segmenter = Callable[[str, bool], int]


def token_boundary(text: str, final: bool) -> int:
    """Token mode: every token ends at a boundary, so all of it may go."""
    return len(text)


def sentence_boundary(text: str, final: bool) -> int:
    """Sentence mode: after the white space that follows `.`, `!`, `?` or `…`, or a line break."""
    cut = 0
    end = len(text)
    for match in _SENTENCE.finditer(text):
        if match.group("nl") is not None:
            if match.end() == end and text[-1] == "\r" and not final:
                break  # may be the first half of \r\n
            cut = match.end()
            continue
        if match.end() == end and not final:
            break  # more white space may follow; it belongs to this sentence
        ends_sentence = not _is_abbreviation(
            text, match.start("term"), match.group("term")
        ) and not _continues_after_ellipsis(text, match)
        newline = text.rfind("\n", match.start("ws"), match.end())
        if ends_sentence:
            cut = newline + 1 if newline >= 0 else match.end()
        elif newline >= 0:  # a line break is a boundary even after "e.g." or "..."
            cut = newline + 1
    return end if final else cut


def paragraph_boundary(text: str, final: bool) -> int:
    """Paragraph mode: after a blank line (a line of only white space counts as blank)."""
    cut = 0
    end = len(text)
    for match in _PARAGRAPH.finditer(text):
        if match.end() == end and not final:
            break
        cut = _after_last_newline(text, match.start(), match.end())
    return end if final else cut


def segmenter_for(mode: StreamingMode) -> Segmenter:
    if mode is StreamingMode.SENTENCE_BY_SENTENCE:
        return sentence_boundary
    if mode is StreamingMode.PARAGRAPH_BY_PARAGRAPH:
        return paragraph_boundary
    return token_boundary


def _after_last_newline(text: str, start: int, end: int) -> int:
    """End a boundary after the run's last line break, so the next line keeps its indent."""
    newline = text.rfind("\n", start, end)
    return newline + 1 if newline >= 0 else end


def _is_abbreviation(text: str, term_start: int, term: str) -> bool:
    if not term.startswith(".") or len(term.rstrip("\"'”’)]")) != 1:
        return False
    word = _LAST_WORD.search(text, 0, term_start + 1)
    if word is None:
        return False
    candidate = word.group().lstrip("\"'“‘([").lower()
    return candidate in ABBREVIATIONS


def _continues_after_ellipsis(text: str, match: re.Match[str]) -> bool:
    term = match.group("term")
    if "..." not in term and "…" not in term:
        return False
    following = text[match.end() : match.end() + 1]
    return following.islower()
