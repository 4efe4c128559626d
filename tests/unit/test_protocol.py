"""Parsing client frames: what is accepted, and the error every bad frame gets."""

from __future__ import annotations

import orjson
import pytest

from sheetstream.errors import BadRequest
from sheetstream.protocol import (
    BatchOptions,
    CancelFrame,
    ChatFrame,
    PingFrame,
    ResumeFrame,
    StreamingMode,
    is_valid_session_id,
    parse_client_frame,
)

DEFAULT = BatchOptions(max_tokens=4, max_delay_ms=25)


def parse(frame: object) -> object:
    return parse_client_frame(orjson.dumps(frame).decode(), default_batch=DEFAULT)


def test_chat_with_every_field() -> None:
    frame = parse(
        {
            "type": "chat",
            "request_id": "r1",
            "content": "Which region?",
            "workbook_id": "wb_1",
            "mode": "sentence",
            "batch": {"max_tokens": 5},
        }
    )
    assert frame == ChatFrame(
        content="Which region?",
        request_id="r1",
        mode=StreamingMode.SENTENCE_BY_SENTENCE,
        workbook_id="wb_1",
        batch=BatchOptions(max_tokens=5, max_delay_ms=25),
    )


def test_chat_defaults_to_token_mode_and_server_batch() -> None:
    frame = parse({"type": "chat", "content": "hi"})
    assert isinstance(frame, ChatFrame)
    assert frame.mode is StreamingMode.TOKEN_BY_TOKEN and frame.batch == DEFAULT
    assert frame.request_id is None


def test_other_frames() -> None:
    assert parse({"type": "cancel", "request_id": "r1"}) == CancelFrame("r1")
    assert parse({"type": "resume", "stream_id": "st_1", "after_seq": 0}) == ResumeFrame("st_1", 0)
    assert parse({"type": "ping", "ts": 1.5}) == PingFrame(1.5)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('"chat"', "JSON object"),
        ("{}", '"type"'),
        ('{"type": 3}', '"type"'),
        ('{"type": "dance"}', "Unknown message type"),
        ('{"type": "chat"}', '"content"'),
        ('{"type": "chat", "content": "   "}', '"content"'),
        ('{"type": "chat", "content": 5}', '"content"'),
        ('{"type": "chat", "content": "x", "mode": "word"}', '"mode"'),
        ('{"type": "chat", "content": "x", "mode": null}', '"mode"'),
        ('{"type": "chat", "content": "x", "batch": []}', '"batch"'),
        ('{"type": "chat", "content": "x", "batch": {"max_tokens": 0}}', "positive"),
        ('{"type": "chat", "content": "x", "batch": {"max_tokens": 1.5}}', "positive"),
        ('{"type": "chat", "content": "x", "batch": {"max_tokens": true}}', "positive"),
        ('{"type": "chat", "content": "x", "batch": {"size": 3}}', '"batch"'),
        ('{"type": "chat", "content": "x", "workbook_id": 7}', '"workbook_id"'),
        ('{"type": "chat", "content": "x", "request_id": 7}', '"request_id"'),
        ('{"type": "cancel"}', '"request_id"'),
        ('{"type": "resume", "stream_id": "s"}', '"after_seq"'),
        ('{"type": "resume", "stream_id": "s", "after_seq": -1}', '"after_seq"'),
        ('{"type": "resume", "stream_id": "s", "after_seq": "3"}', '"after_seq"'),
        ('{"type": "resume", "after_seq": 3}', '"stream_id"'),
    ],
)
def test_bad_frames_are_bad_requests_that_say_what_to_send(raw: str, needle: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_client_frame(raw, default_batch=DEFAULT)
    assert needle in info.value.message
    assert info.value.code == "bad_request"


def test_errors_echo_the_request_id() -> None:
    with pytest.raises(BadRequest) as info:
        parse({"type": "chat", "request_id": "r9", "content": ""})
    assert info.value.request_id == "r9"
    with pytest.raises(BadRequest) as info:
        parse({"type": "dance", "request_id": "r8"})
    assert info.value.request_id == "r8"


@pytest.mark.parametrize("good", ["a", "A-b_9", "x" * 64, "ss_abc"])
def test_valid_session_ids(good: str) -> None:
    assert is_valid_session_id(good)


@pytest.mark.parametrize("bad", ["", "x" * 65, "a b", "a/b", "é", "chat", "admin", "a.b"])
def test_invalid_session_ids(bad: str) -> None:
    assert not is_valid_session_id(bad)
