"""A fake model that streams canned text at a set pace: for load tests and demos only.

It never reads the question. Every answer is either the exact text of the file named by
`SHEETSTREAM_SYNTHETIC_TEXT` (split into word-piece tokens that concatenate back to the file
byte for byte) or `SHEETSTREAM_SYNTHETIC_TOKENS` tokens of deterministic English-like prose
with sentences, numbers and paragraphs. `SHEETSTREAM_SYNTHETIC_RATE` paces each stream in
tokens per second; 0 streams as fast as the event loop allows.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sheetstream.errors import LLMUnavailable
from sheetstream.llm.base import ChatMessage, GenerationOptions, TokenRun

if TYPE_CHECKING:
    from sheetstream.settings import Settings

# Leading whitespace belongs to the word after it; trailing whitespace is its own token.
_WORD = re.compile(r"\s*\S+|\s+")
_MAX_PIECE_CHARS = 8
# At rate 0 the tokens go in runs of this many, each run a turn on the loop: that keeps it
# fair to the other streams, and the run is what a fast model hands over at once.
_RUN = 32

_SENTENCES = (
    "The workbook has 12 sheets and the largest one holds 4,096 rows.",
    "Revenue in column C grew by 3.14 percent between March and April.",
    "Most totals are formulas that sum the cells directly above them.",
    "The average order value is 27.50 euros, with a median of 19.99.",
    "Two rows on the Summary sheet repeat the same invoice number.",
    "Sheet Budget links to Actuals through 48 lookup formulas.",
    "Blank cells in column F are treated as zero by the SUM in F102.",
    "The quarterly figures add up to 1,250,000 when rounded to the nearest unit.",
    "A pivot table on sheet Pivot groups the sales by region and month.",
    "Dates in column A run from 2021-01-04 to 2024-12-30 without gaps.",
    "The ratio of costs to revenue stays near 0.62 for the whole year.",
    "Three named ranges point at cells that no longer exist.",
)
_SENTENCES_PER_PARAGRAPH = 4


def tokenize(text: str) -> tuple[str, ...]:
    """Split text into word pieces of at most 8 characters that concatenate back to it."""
    return tuple(iter_tokens(text))


def iter_tokens(text: str) -> Iterator[str]:
    """`tokenize`, one piece at a time: a reader that stops early splits no further."""
    for match in _WORD.finditer(text):
        word = match.group()
        for start in range(0, len(word), _MAX_PIECE_CHARS):
            yield word[start : start + _MAX_PIECE_CHARS]


def prose_tokens(count: int) -> tuple[str, ...]:
    """Exactly `count` tokens of deterministic prose, paragraphs separated by blank lines."""
    tokens: list[str] = []
    index = 0
    while len(tokens) < count:
        sentence = _SENTENCES[index % len(_SENTENCES)]
        if index == 0:
            separator = ""
        elif index % _SENTENCES_PER_PARAGRAPH == 0:
            separator = "\n\n"
        else:
            separator = " "
        tokens.extend(tokenize(separator + sentence))
        index += 1
    return tuple(tokens[:count])


class SyntheticModel:
    """Streams precomputed tokens; the per-answer cost is one slice of a shared tuple."""

    name = "synthetic"
    supports_tools = False
    reads_questions = False  # canned text, for load tests and demos

    def __init__(self, *, rate: float = 0.0, tokens: int = 64, text_path: Path | None = None):
        if rate < 0:
            raise ValueError("rate must be >= 0")
        self._rate = rate
        self._token_count = tokens
        self._text_path = text_path
        self._tokens: tuple[str, ...] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SyntheticModel:
        text_path = Path(settings.synthetic_text) if settings.synthetic_text else None
        return cls(
            rate=settings.synthetic_rate, tokens=settings.synthetic_tokens, text_path=text_path
        )

    @property
    def ready(self) -> bool:
        return self._tokens is not None

    async def load(self) -> None:
        """Read the text file (or build the prose) once; every answer reuses the tokens."""
        if self._tokens is not None:
            return
        if self._text_path is None:
            self._tokens = prose_tokens(self._token_count)
            return
        try:
            # Bytes, not text mode: text mode would turn \r\n into \n and break the round trip.
            data = await asyncio.to_thread(self._text_path.read_bytes)
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LLMUnavailable(
                f"Could not read the synthetic answer from {self._text_path} ({exc}); "
                "set SHEETSTREAM_SYNTHETIC_TEXT to a readable UTF-8 file or unset it."
            ) from exc
        self._tokens = tokenize(text)

    async def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncGenerator[str | TokenRun, None]:
        """Yield the canned tokens; at rate R the k-th is due k/R s after the first request.

        At rate 0 they come in runs of 32, one run per turn on the loop. At rate R each
        token comes alone when it is due; a loop that was late gets every overdue one in
        one run."""
        if self._tokens is None:
            raise LLMUnavailable("The synthetic model is not loaded; call load() first.")
        tokens = self._tokens[: max(0, options.max_tokens)]
        if self._rate == 0:
            for start in range(0, len(tokens), _RUN):
                if start:
                    await asyncio.sleep(0)
                yield tokens[start : start + _RUN]
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        interval = 1.0 / self._rate
        index = 0
        while index < len(tokens):
            # Deadlines come from the start time, not the previous token, so lateness never
            # accumulates. Re-checking the clock guards against timers that fire a hair early
            # (uvloop rounds them to 1 ms).
            due = started + (index + 1) * interval
            while (now := loop.time()) < due:  # noqa: ASYNC110 - a deadline, not a poll
                await asyncio.sleep(due - now)
            overdue = min(len(tokens), int((now - started) / interval))  # tokens due by now
            if overdue <= index + 1:
                yield tokens[index]
                index += 1
            else:
                yield tokens[index:overdue]
                index = overdue

    async def aclose(self) -> None:
        self._tokens = None
