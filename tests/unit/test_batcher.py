"""The batcher: adaptive flushing, and chunks that always concatenate to the model's output."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from sheetstream.protocol import StreamingMode
from sheetstream.streaming.batcher import Batcher, Demand
from sheetstream.streaming.segmenters import (
    paragraph_boundary,
    scanner_for,
    sentence_boundary,
)

DEMANDS = list(Demand)
MODES = list(StreamingMode)

# Text with the characters that matter to boundaries: terminators, digits, abbreviations,
# white space of every kind, and multi-byte characters.
ALPHABET = st.sampled_from([*"ab .!?…,3\n\r\t e.g.Dr.", "é", "😀", "中", "...", "\r\n"])
TEXT = st.lists(ALPHABET, max_size=120).map("".join)


@st.composite
def token_splits(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = draw(TEXT)
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=40)))
    edges = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=400, deadline=None)
@given(
    split=token_splits(),
    mode=st.sampled_from(MODES),
    demands=st.lists(st.sampled_from(DEMANDS), min_size=1, max_size=50),
    max_tokens=st.integers(1, 6),
)
def test_chunks_concatenate_to_the_output_byte_for_byte(
    split: tuple[str, list[str]], mode: StreamingMode, demands: list[Demand], max_tokens: int
) -> None:
    text, tokens = split
    batcher = Batcher(scanner_for(mode), max_tokens=max_tokens, max_delay_s=0.025)
    pieces, now = [], 0.0
    for i, token in enumerate(tokens):
        now += 0.01
        batcher.add(token, now)
        piece = batcher.take(demands[i % len(demands)], now)
        if piece is not None:
            pieces.append(piece)
    final = batcher.drain()
    sent = [p.text for p in pieces] + ([final.text] if final else [])
    assert "".join(sent).encode() == text.encode()
    counted = sum(p.tokens for p in pieces) + (final.tokens if final else 0)
    assert counted == sum(1 for t in tokens if t)
    # every chunk but the last ends where the mode allows, judged on the whole text
    if mode is StreamingMode.TOKEN_BY_TOKEN:
        return
    boundary = (
        sentence_boundary if mode is StreamingMode.SENTENCE_BY_SENTENCE else paragraph_boundary
    )
    confirmed = {boundary(text[:i], False) for i in range(len(text) + 1)}
    position = 0
    for piece in pieces:
        position += len(piece.text)
        assert position in confirmed


@settings(max_examples=300, deadline=None)
@given(
    split=token_splits(),
    mode=st.sampled_from(MODES),
    runs=st.lists(st.integers(1, 5), min_size=1, max_size=20),
    demands=st.lists(st.sampled_from(DEMANDS), min_size=1, max_size=20),
    max_tokens=st.integers(1, 6),
)
def test_a_run_of_tokens_cuts_as_the_same_tokens_added_one_by_one(
    split: tuple[str, list[str]],
    mode: StreamingMode,
    runs: list[int],
    demands: list[Demand],
    max_tokens: int,
) -> None:
    _, tokens = split
    one, many = (Batcher(scanner_for(mode), max_tokens, 0.025) for _ in range(2))
    position, step = 0, 0
    while position < len(tokens):
        run = tokens[position : position + runs[step % len(runs)]]
        position += len(run)
        now = step * 0.01
        for token in run:
            one.add(token, now)
        many.add_many(run, now)
        demand = demands[step % len(demands)]
        assert one.pending_tokens == many.pending_tokens
        assert one.take(demand, now) == many.take(demand, now)
        step += 1
    assert one.drain() == many.drain()


def test_idle_reader_gets_the_first_token_at_once() -> None:
    batcher = Batcher(None, max_tokens=4, max_delay_s=0.025)
    batcher.add("Hello", 0.0)
    piece = batcher.take(Demand.IDLE, 0.0)
    assert piece is not None and piece.text == "Hello" and piece.tokens == 1


def started(max_tokens: int, max_delay_s: float) -> Batcher:
    """A batcher whose stream already sent its first chunk."""
    batcher = Batcher(None, max_tokens=max_tokens, max_delay_s=max_delay_s)
    batcher.add("first", 0.0)
    assert batcher.take(Demand.IDLE, 0.0) is not None
    return batcher


def test_first_token_goes_at_once_even_while_a_send_is_busy() -> None:
    batcher = Batcher(None, max_tokens=4, max_delay_s=0.025)
    batcher.add("Hi", 0.0)
    piece = batcher.take(Demand.BUSY, 0.0)
    assert piece is not None and piece.text == "Hi"


def test_busy_reader_gathers_until_max_tokens() -> None:
    batcher = started(max_tokens=3, max_delay_s=1.0)
    for i, token in enumerate(["a", "b"]):
        batcher.add(token, i * 0.001)
        assert batcher.take(Demand.BUSY, i * 0.001) is None
    batcher.add("c", 0.002)
    piece = batcher.take(Demand.BUSY, 0.002)
    assert piece is not None and (piece.text, piece.tokens) == ("abc", 3)


def test_busy_reader_gets_a_chunk_once_the_delay_passes() -> None:
    batcher = started(max_tokens=10, max_delay_s=0.025)
    batcher.add("a", 1.0)
    assert batcher.take(Demand.BUSY, 1.010) is None
    assert batcher.deadline() == 1.025
    piece = batcher.take(Demand.BUSY, 1.025)
    assert piece is not None and piece.text == "a"


def test_saturated_readers_make_the_chunk_grow_past_max_tokens() -> None:
    batcher = Batcher(None, max_tokens=2, max_delay_s=0.001)
    for i in range(10):
        batcher.add(str(i), i)
        assert batcher.take(Demand.SATURATED, i) is None
    piece = batcher.take(Demand.IDLE, 11)
    assert piece is not None and piece.tokens == 10 and piece.text == "0123456789"


def test_token_split_by_a_sentence_boundary_counts_where_it_ends() -> None:
    batcher = Batcher(scanner_for(StreamingMode.SENTENCE_BY_SENTENCE), 4, 0.025)
    batcher.add("One", 0.0)
    batcher.add(". Tw", 0.1)  # the boundary falls inside this token
    first = batcher.take(Demand.IDLE, 0.1)
    assert first is not None and (first.text, first.tokens) == ("One. ", 1)
    batcher.add("o.", 0.2)
    rest = batcher.drain()
    assert rest is not None and (rest.text, rest.tokens) == ("Two.", 2)
    assert rest.oldest == 0.1
