"""The service answering through real models: the embedded default and an OpenAI server."""

from __future__ import annotations

import asyncio

import httpx

from sheetstream.client import SheetstreamClient
from tests.conftest import StartServer, free_port


async def test_embedded_default_model_answers_offline(start_server: StartServer) -> None:
    srv = await start_server(model="llamacpp", max_answer_tokens=24)
    async with httpx.AsyncClient(base_url=srv.http) as http:
        health = (await http.get("/")).json()
    assert health["status"] == "ok" and health["model"]["backend"] == "llamacpp"
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask("Name one colour.", mode="token")
    assert answer.reason in ("complete", "length")
    assert answer.text.strip() and answer.end is not None and answer.end["tokens"] > 1


async def test_embedded_model_cancel_stops_generation(start_server: StartServer) -> None:
    srv = await start_server(model="llamacpp", max_answer_tokens=400)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        request_id = await client.chat("Write a long story about a spreadsheet.")
        chunks = 0
        end = None
        async for frame in client.follow(request_id):
            if frame["type"] == "chunk":
                chunks += 1
                if chunks == 2:
                    await client.cancel(request_id)
            if frame["type"] == "end":
                end = frame
        assert end is not None and end["reason"] == "cancelled" and end["tokens"] < 400
        model = srv.app.state.chat.model
        for _ in range(100):  # the worker thread notices the stop between two tokens
            if model.active_generations == 0:
                break
            await asyncio.sleep(0.02)
        assert model.active_generations == 0
        again = await client.ask("Say yes.")
    assert again.reason in ("complete", "length")


async def test_openai_backend_streams_from_a_real_server(
    start_server: StartServer, llama_server_url: str
) -> None:
    srv = await start_server(
        model="openai", openai_base_url=f"{llama_server_url}/v1", max_answer_tokens=24
    )
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask("Name one fruit.", mode="sentence")
    assert answer.reason in ("complete", "length") and answer.text.strip()


async def test_unreachable_model_server_gives_error_then_end(start_server: StartServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    srv = await start_server(
        model="openai", openai_base_url=dead, openai_retries=1, openai_retry_backoff_s=0.01
    )
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        request_id = await client.chat("anyone there?")
        frames = [f async for f in client.follow(request_id)]
        kinds = [f["type"] for f in frames]
        assert kinds == ["start", "error", "end"]
        error, end = frames[1], frames[2]
        assert error["code"] == "llm_unavailable" and error["request_id"] == request_id
        assert "SHEETSTREAM_OPENAI_BASE_URL" in error["message"]
        assert end["reason"] == "error" and end["seq"] == 0
        # a reader resuming later gets the cause too, before the end
        await client.send({"type": "resume", "stream_id": end["stream_id"], "after_seq": 0})
        replay = [await client.recv(), await client.recv()]
        assert [f["type"] for f in replay] == ["error", "end"]
        assert replay[0]["code"] == "llm_unavailable"
    async with httpx.AsyncClient(base_url=srv.http) as http:
        stored = (await http.get(f"/api/sessions/{client.session_id}/messages")).json()
    assert stored["messages"][0]["status"] == "error"
    assert stored["messages"][0]["error_code"] == "llm_unavailable"
