"""The chat protocol end to end: real uvicorn, real WebSocket clients."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from sheetstream.client import SheetstreamClient
from tests.conftest import SAMPLE, StartServer


def check_stream(answer_chunks: list[dict], end: dict) -> None:
    seqs = [c["seq"] for c in answer_chunks]
    assert seqs == list(range(1, len(seqs) + 1))
    assert end["seq"] == (seqs[-1] if seqs else 0)
    assert end["tokens"] == sum(c["tokens"] for c in answer_chunks)


async def test_session_frame_comes_first(start_server: StartServer) -> None:
    srv = await start_server()
    async with connect(f"{srv.ws}/ws/chat") as ws:
        first = orjson.loads(await ws.recv())
    assert first["type"] == "session" and first["protocol"] == 1
    assert first["session_id"].startswith("ss_") and first["resumable"] == []


async def test_session_id_from_path_and_query(start_server: StartServer) -> None:
    srv = await start_server()
    async with SheetstreamClient.connect(f"{srv.ws}/ws/my-session_1") as a:
        assert a.session_id == "my-session_1"
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat", session_id="other") as b:
        assert b.session_id == "other"


@pytest.mark.parametrize("path", ["/ws/chat?session_id=bad%20id", "/ws/" + "x" * 65])
async def test_malformed_session_id_is_refused_with_1008(
    start_server: StartServer, path: str
) -> None:
    srv = await start_server()
    async with connect(f"{srv.ws}{path}") as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008


@pytest.mark.parametrize("mode", ["token", "sentence", "paragraph"])
async def test_answer_streams_byte_for_byte_in_every_mode(
    start_server: StartServer, mode: str
) -> None:
    srv = await start_server()
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask("How did revenue do?", mode=mode)
    assert answer.text.encode() == SAMPLE.encode()
    assert answer.reason == "complete" and answer.mode == mode
    assert answer.end is not None
    check_stream(answer.chunks, answer.end)


async def test_sentence_chunks_end_at_sentence_boundaries(start_server: StartServer) -> None:
    srv = await start_server(synthetic_rate=400)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask("q", mode="sentence")
    texts = [c["text"] for c in answer.chunks]
    assert texts[0] == "Revenue grew 3.14% in Q1, e.g. in the North region. "
    for text in texts[:-1]:
        assert text.endswith((". ", "! ", "? ", "\n", "… ")), text


async def test_paragraph_chunks_end_after_blank_lines(start_server: StartServer) -> None:
    srv = await start_server(synthetic_rate=400)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask("q", mode="paragraph")
    assert [c["text"] for c in answer.chunks] == [
        part + sep
        for part, sep in [
            (SAMPLE.split("\n\n")[0], "\n\n"),
            (SAMPLE.split("\n\n")[1].split("\r\n\r\n")[0], "\r\n\r\n"),
            ("Last paragraph, no newline", ""),
        ]
    ]


async def test_token_mode_honours_the_batch_option(start_server: StartServer) -> None:
    srv = await start_server(synthetic_rate=0)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask("q", batch={"max_tokens": 1})
    assert answer.text == SAMPLE
    # with the client keeping up and one token per batch, most chunks carry one token
    assert sum(c["tokens"] for c in answer.chunks) == answer.end["tokens"]  # type: ignore[index]


async def test_second_chat_while_answering_is_busy_and_first_goes_on(
    start_server: StartServer,
) -> None:
    srv = await start_server(synthetic_rate=200)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        first = await client.chat("one", request_id="r1")
        await client.chat("two", request_id="r2")
        busy = None
        answer = []
        end = None
        while end is None:
            frame = await client.recv()
            if frame["type"] == "error":
                busy = frame
            elif frame["type"] == "chunk":
                answer.append(frame)
            elif frame["type"] == "end":
                end = frame
    assert first == "r1"
    assert busy is not None and busy["code"] == "busy" and busy["request_id"] == "r2"
    assert "".join(c["text"] for c in answer) == SAMPLE and end["reason"] == "complete"


async def test_cancel_stops_the_answer_and_keeps_what_was_produced(
    start_server: StartServer,
) -> None:
    srv = await start_server(synthetic_rate=100)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        request_id = await client.chat("long one")
        chunks: list[dict] = []
        end = None
        async for frame in client.follow(request_id):
            if frame["type"] == "chunk":
                chunks.append(frame)
                if len(chunks) == 3:
                    await client.cancel(request_id)
            elif frame["type"] == "end":
                end = frame
        assert end is not None and end["reason"] == "cancelled"
        check_stream(chunks, end)
        text = "".join(c["text"] for c in chunks)
        assert SAMPLE.startswith(text) and len(text) < len(SAMPLE)
        await client.cancel(request_id)
        error = await client.recv()
    assert error["code"] == "not_found" and error["request_id"] == request_id
    async with httpx.AsyncClient(base_url=srv.http) as http:
        history = (await http.get(f"/api/sessions/{client.session_id}/messages")).json()
    stored = history["messages"][0]
    assert stored["status"] == "cancelled" and stored["partial"] is True
    assert stored["answer"] == text


async def test_cancel_right_behind_the_chat_still_ends_the_stream(
    start_server: StartServer,
) -> None:
    srv = await start_server(synthetic_rate=50)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        # back to back, so the cancel is usually read before the answer's task first runs
        await client.chat("q", request_id="r1")
        await client.cancel("r1")
        frames = [f async for f in client.follow("r1")]
        assert frames[0]["type"] == "start" and frames[-1]["type"] == "end"
        assert frames[-1]["reason"] == "cancelled"
        answer = await client.ask("next question is not busy")
    assert answer.reason == "complete"


async def test_dropped_connection_cancels_nothing_and_resume_replays_exact_seqs(
    start_server: StartServer,
) -> None:
    srv = await start_server(synthetic_rate=150)
    client = await SheetstreamClient.connect(f"{srv.ws}/ws/chat")
    session_id = client.session_id
    request_id = await client.chat("q")
    seen: list[dict] = []
    stream_id = None
    async for frame in client.follow(request_id):
        if frame["type"] == "start":
            stream_id = frame["stream_id"]
        if frame["type"] == "chunk":
            seen.append(frame)
        if len(seen) == 4:
            break
    client.ws.transport.abort()  # the network drops; no closing handshake
    await asyncio.sleep(0.3)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/{session_id}") as again:
        assert stream_id in again.resumable
        rest = await again.resume(stream_id, after_seq=2)  # type: ignore[arg-type]
    assert rest.chunks[0]["seq"] == 3
    assert [c["text"] for c in rest.chunks[:2]] == [c["text"] for c in seen[2:4]]
    whole = "".join(c["text"] for c in seen[:2]) + rest.text
    assert whole == SAMPLE and rest.reason == "complete"
    check_stream(seen[:2] + rest.chunks, rest.end)  # type: ignore[arg-type]


async def test_finished_stream_stays_resumable_then_expires(start_server: StartServer) -> None:
    srv = await start_server(stream_retention_s=0.5)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask("q")
        replay = await client.resume(answer.stream_id, after_seq=0)  # type: ignore[arg-type]
        assert replay.text == SAMPLE and replay.chunks == answer.chunks
        await asyncio.sleep(1.3)  # the sweeper runs every 0.5 s
        await client.send({"type": "resume", "stream_id": answer.stream_id, "after_seq": 0})
        error = await client.recv()
    assert error["code"] == "stream_expired" and "history" in error["message"]


async def test_two_tabs_of_a_session_both_see_the_stream_live(start_server: StartServer) -> None:
    srv = await start_server(synthetic_rate=300)
    async with (
        SheetstreamClient.connect(f"{srv.ws}/ws/tabs") as one,
        SheetstreamClient.connect(f"{srv.ws}/ws/tabs") as two,
    ):
        request_id = await one.chat("shared question")
        mine = [f async for f in one.follow(request_id)]
        theirs = [f async for f in two.follow(request_id)]
    assert mine == theirs
    assert "".join(f["text"] for f in mine if f["type"] == "chunk") == SAMPLE


async def test_busy_spans_every_connection_of_the_session(start_server: StartServer) -> None:
    srv = await start_server(synthetic_rate=100)
    async with (
        SheetstreamClient.connect(f"{srv.ws}/ws/busy") as one,
        SheetstreamClient.connect(f"{srv.ws}/ws/busy") as two,
    ):
        await one.chat("first")
        await two.send({"type": "chat", "request_id": "x", "content": "second"})
        while (frame := await two.recv())["type"] != "error":
            pass
    assert frame["code"] == "busy" and frame["request_id"] == "x"


async def test_ping_gets_pong_with_both_times(start_server: StartServer) -> None:
    srv = await start_server()
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        pong = await client.ping(12.5)
    assert pong["ts"] == 12.5 and isinstance(pong["server_ts"], float)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "bad_request"),
        ('{"type": "dance", "request_id": "r7"}', "bad_request"),
        ('{"type": "chat", "request_id": "r7"}', "bad_request"),
        (
            '{"type": "chat", "content": "q", "workbook_id": "wb_x", "request_id": "r7"}',
            "workbook_not_found",
        ),
        (
            '{"type": "resume", "stream_id": "st_nope", "after_seq": 0, "request_id": "r7"}',
            "stream_expired",
        ),
    ],
)
async def test_bad_messages_get_an_error_and_the_connection_stays_usable(
    start_server: StartServer, message: str, code: str
) -> None:
    srv = await start_server()
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        await client.ws.send(message)
        error = await client.recv()
        assert error["type"] == "error" and error["code"] == code and error["message"]
        if '"r7"' in message:
            assert error["request_id"] == "r7"
        answer = await client.ask("still there?")
    assert answer.text == SAMPLE


async def test_binary_message_closes_with_1003(start_server: StartServer) -> None:
    srv = await start_server()
    async with connect(f"{srv.ws}/ws/chat") as ws:
        await ws.recv()
        await ws.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1003


async def test_message_of_exactly_the_limit_is_accepted_and_one_more_byte_closes_1009(
    start_server: StartServer,
) -> None:
    srv = await start_server(max_message_bytes=1024)
    prefix = '{"type": "ping", "ts": "'
    exact = prefix + "x" * (1024 - len(prefix) - 2) + '"}'
    assert len(exact.encode()) == 1024
    async with connect(f"{srv.ws}/ws/chat", max_size=None) as ws:
        await ws.recv()
        await ws.send(exact)
        assert orjson.loads(await ws.recv())["type"] == "pong"
        await ws.send(exact[:-2] + 'x"}')
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_history_survives_a_restart(start_server: StartServer) -> None:
    srv = await start_server()
    async with SheetstreamClient.connect(f"{srv.ws}/ws/keep") as client:
        await client.ask("first question", mode="sentence")
        await client.ask("second question")
    await srv.stop()
    again = await start_server()
    async with httpx.AsyncClient(base_url=again.http) as http:
        body = (await http.get("/api/sessions/keep/messages")).json()
        missing = await http.get("/api/sessions/nobody/messages")
    assert [m["question"] for m in body["messages"]] == ["first question", "second question"]
    first = body["messages"][0]
    assert first["answer"] == SAMPLE and first["status"] == "complete"
    assert first["mode"] == "sentence" and first["partial"] is False
    assert first["answer_tokens"] > 0 and first["chunks"] > 0 and first["duration_ms"] >= 0
    assert missing.status_code == 404


async def test_reader_that_never_reads_blocks_neither_the_model_nor_others(
    start_server: StartServer,
) -> None:
    srv = await start_server(
        synthetic_rate=0, synthetic_tokens=40_000, max_answer_tokens=50_000, synthetic_text=""
    )
    async with (
        connect(f"{srv.ws}/ws/stuck", max_queue=1, compression=None) as stuck,
        SheetstreamClient.connect(f"{srv.ws}/ws/free") as free,
    ):
        await stuck.recv()
        await stuck.send(orjson.dumps({"type": "chat", "content": "big"}).decode())
        # the stuck client never reads again; another session chats normally meanwhile
        answer = await free.ask("small")
        assert answer.reason == "complete" and answer.end["tokens"] == 40_000  # type: ignore[index]
        service = srv.app.state.chat
        for _ in range(200):
            running = [s for s in service.registry.streams.values() if s.session_id == "stuck"]
            if running and running[0].finished:
                break
            await asyncio.sleep(0.05)
        assert running and running[0].finished and running[0].reason.value == "complete"
        assert running[0].tokens == 40_000
        stuck.transport.abort()  # its closing handshake would wait behind unread data
