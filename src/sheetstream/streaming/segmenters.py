"""Where a chunk may end, per streaming mode. Pure: scanners fed text, no I/O, no clock.

A scanner is fed the answer's text as it arrives and keeps `boundary`: how many characters,
from the start of the answer, end at the last confirmed boundary of its mode. A boundary that
later text could still move (white space at the very end, a lone `\\r`) is not confirmed until
that text arrives; at the end of the answer everything goes anyway.

Each character is looked at once, when it is fed: the state a boundary depends on (the run of
terminators, the white space after it, the word before it) is carried between feeds, so the
work for an answer is linear in its length however it is split into tokens and whatever the
text is (a run of 5,000 dots or of spaces is as cheap as prose).
"""

from __future__ import annotations

from typing import Protocol

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

_TERMINATORS = frozenset(".!?…")
_CLOSERS = frozenset("\"'”’)]")  # may follow a terminator: `"Stop." He left.`
_OPENERS = frozenset("\"'“‘([")  # may open the word an abbreviation ends: `(e.g. this)`
_LONGEST_ABBREVIATION = max(map(len, ABBREVIATIONS))
_INTERESTING = frozenset(_TERMINATORS | {"\r", "\n"})

# sentence scanner states
_TEXT = 0  # ordinary text
_TERM = 1  # inside a run of terminators
_CLOSE = 2  # after the run, inside closing quotes and brackets
_SPACE = 3  # in the white space after a terminator: a candidate boundary
_CR = 4  # just after a `\r` that may be the first half of `\r\n`


class Scanner(Protocol):
    """Fed an answer's text in order; `boundary` is where its last confirmed boundary ends."""

    boundary: int

    def feed(self, text: str) -> None: ...


class SentenceScanner:
    """Sentence mode: after the white space that follows `.`, `!`, `?` or `…`, or a line break.

    A `.` ending an abbreviation (`e.g.`) does not end a sentence, nor does an ellipsis
    followed by a lower-case word; a line break inside their white space still does.
    """

    __slots__ = (
        "_abbreviation",
        "_at",
        "_dots",
        "_ellipsis",
        "_lead",
        "_newline",
        "_single_dot",
        "_state",
        "_word",
        "boundary",
    )

    def __init__(self) -> None:
        self.boundary = 0
        self._at = 0  # offset of the next character fed
        self._state = _TEXT
        # the current word without its leading openers, lower-cased; None once it is longer
        # than any abbreviation; "" at the start of a word (`_lead`: still in its openers)
        self._word: str | None = ""
        self._lead = True
        self._single_dot = False  # the terminator run is exactly one "."
        self._abbreviation = False  # ... and the word it ends is an abbreviation
        self._ellipsis = False  # the run holds "..." or "…"
        self._dots = 0  # consecutive dots at the end of the run
        self._newline = -1  # just after the last "\n" in the white space after the run

    def feed(self, text: str) -> None:
        if self._state == _TEXT and _INTERESTING.isdisjoint(text):
            self._words(text)  # the common case: no character here can end a sentence
            self._at += len(text)
            return
        for ch in text:
            self._step(ch)
            self._at += 1

    def _words(self, text: str) -> None:
        """Track the current word across `text`, which holds no terminator or line break."""
        if not text:
            return
        if text.isspace():
            self._word, self._lead = "", True
            return
        last = text.split()[-1]
        if not text[-1].isspace() and len(last) == len(text):  # one word, no white space
            self._extend(last)
        else:
            self._word, self._lead = "", True
            if not text[-1].isspace():
                self._extend(last)

    def _extend(self, chars: str) -> None:
        for ch in chars:
            if self._word == "" and self._lead and ch in _OPENERS:
                continue
            self._lead = False
            if self._word is not None:
                word = self._word + ch.lower()
                self._word = word if len(word) <= _LONGEST_ABBREVIATION else None

    def _step(self, ch: str) -> None:
        space = ch.isspace()
        state = self._state
        if state == _SPACE:
            if space:
                if ch == "\n":
                    self._newline = self._at + 1
                return
            ends = not (self._single_dot and self._abbreviation) and not (
                self._ellipsis and ch.islower()
            )
            if ends:
                self.boundary = self._newline if self._newline >= 0 else self._at
            elif self._newline >= 0:  # a line break is a boundary even after "e.g." or "..."
                self.boundary = self._newline
            state = _TEXT
        elif state == _CR:
            if ch == "\n":
                self.boundary = self._at + 1
                self._state = _TEXT
                self._word, self._lead = "", True
                return
            self.boundary = self._at
            state = _TEXT
        elif state in (_TERM, _CLOSE):
            if state == _TERM and ch in _TERMINATORS:
                self._extend_run(ch)
                self._extend(ch)
                return
            if ch in _CLOSERS:
                self._state = _CLOSE
                self._extend(ch)
                return
            if space:
                self._state = _SPACE
                self._newline = self._at + 1 if ch == "\n" else -1
                self._word, self._lead = "", True
                return
            state = _TEXT  # no white space after the run: not a boundary
        # _TEXT, or a character that ended another state and is read again as text
        self._state = state
        if space:
            self._word, self._lead = "", True
            if ch == "\n":
                self.boundary = self._at + 1
            elif ch == "\r":
                self._state = _CR
            return
        self._extend(ch)
        if ch in _TERMINATORS:
            self._state = _TERM
            self._single_dot = ch == "."
            self._abbreviation = self._word is not None and self._word in ABBREVIATIONS
            self._ellipsis = ch == "…"
            self._dots = 1 if ch == "." else 0

    def _extend_run(self, ch: str) -> None:
        self._single_dot = False
        if ch == ".":
            self._dots += 1
            if self._dots >= 3:
                self._ellipsis = True
        else:
            self._dots = 0
            if ch == "…":
                self._ellipsis = True


class ParagraphScanner:
    """Paragraph mode: after a blank line (a line of only white space counts as blank).

    The boundary goes after the last line break of the white space, so the next paragraph
    keeps its indent.
    """

    __slots__ = ("_at", "_newline", "_newlines", "_space", "boundary")

    def __init__(self) -> None:
        self.boundary = 0
        self._at = 0
        self._space = False  # inside a run of white space
        self._newlines = 0  # "\n" in that run
        self._newline = 0  # just after its last "\n"

    def feed(self, text: str) -> None:
        if not self._space and "\n" not in text:
            # only a run that holds line breaks can be a boundary; track whether it is open
            self._space = text[-1:].isspace() if text else self._space
            self._newlines = 0
            self._at += len(text)
            return
        at = self._at
        for ch in text:
            if ch.isspace():
                if not self._space:
                    self._space, self._newlines = True, 0
                if ch == "\n":
                    self._newlines += 1
                    self._newline = at + 1
            elif self._space:
                if self._newlines >= 2:
                    self.boundary = self._newline
                self._space = False
            at += 1
        self._at = at


def scanner_for(mode: StreamingMode) -> Scanner | None:
    """The mode's scanner; None in token mode, where every token ends at a boundary."""
    if mode is StreamingMode.SENTENCE_BY_SENTENCE:
        return SentenceScanner()
    if mode is StreamingMode.PARAGRAPH_BY_PARAGRAPH:
        return ParagraphScanner()
    return None


def sentence_boundary(text: str, final: bool) -> int:
    """How much of `text` ends at a sentence boundary (all of it when `final`)."""
    return _boundary(SentenceScanner(), text, final)


def paragraph_boundary(text: str, final: bool) -> int:
    """How much of `text` ends at a paragraph boundary (all of it when `final`)."""
    return _boundary(ParagraphScanner(), text, final)


def _boundary(scanner: Scanner, text: str, final: bool) -> int:
    if final:
        return len(text)
    scanner.feed(text)
    return scanner.boundary
