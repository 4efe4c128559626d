"""Models that call tools: the service runs `run_sql`, streams a `tool` frame, feeds the result
back, and checks the answer's numbers, against a scripted OpenAI-compatible server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from sheetstream.client import SheetstreamClient
from tests.conftest import StartServer, free_port
from tests.e2e.test_workbooks import sales_workbook

ANSWER = "North sold 1,333.5 in total, and 42 units."


def sse(event: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


class ScriptedModelServer:
    """Asks for run_sql first; once it has the tool's result, answers in words."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.calls = 1  # run_sql calls asked for in the first round
        self.requests: list[dict[str, Any]] = []

    async def completions(self, request: Request) -> StreamingResponse:
        body = orjson.loads(await request.body())
        self.requests.append(body)
        has_result = any(m["role"] == "tool" for m in body["messages"])
        return StreamingResponse(
            self._answer() if has_result else self._call(), media_type="text/event-stream"
        )

    async def _call(self) -> AsyncIterator[bytes]:
        arguments = orjson.dumps({"sql": self.sql}).decode()
        half = len(arguments) // 2
        for index in range(self.calls):
            first = {
                "index": index,
                "id": f"call_{index + 1}",
                "type": "function",
                "function": {"name": "run_sql", "arguments": arguments[:half]},
            }
            rest = {"index": index, "function": {"arguments": arguments[half:]}}
            for piece in (first, rest):
                yield sse({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]})
        yield sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        yield b"data: [DONE]\n\n"

    async def _answer(self) -> AsyncIterator[bytes]:
        for word in ANSWER.split(" "):
            yield sse({"choices": [{"index": 0, "delta": {"content": word + " "}}]})
        yield b"data: [DONE]\n\n"

    def app(self) -> Starlette:
        async def models(request: Request) -> JSONResponse:
            return JSONResponse({"data": [{"id": "scripted"}]})

        return Starlette(
            routes=[
                Route("/v1/chat/completions", self.completions, methods=["POST"]),
                Route("/v1/models", models),
            ]
        )


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedModelServer, str]]:
    model = ScriptedModelServer("")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(model.app(), port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield model, f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    await task


async def test_tool_call_runs_sql_and_grounds_the_answer(
    start_server: StartServer, scripted: tuple[ScriptedModelServer, str]
) -> None:
    model, base_url = scripted
    srv = await start_server(model="openai", openai_base_url=base_url)
    async with httpx.AsyncClient(base_url=srv.http) as http:
        created = await http.post("/api/workbooks", files={"file": ("s.xlsx", sales_workbook())})
    workbook = created.json()
    table = workbook["sheets"][0]["table"]
    model.sql = f"SELECT region, sum(revenue) AS total FROM {table} GROUP BY 1 ORDER BY 1"
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        request_id = await client.chat(
            "Which region sold most?", workbook_id=workbook["workbook_id"]
        )
        frames = [f async for f in client.follow(request_id)]
    kinds = [f["type"] for f in frames]
    assert kinds[:2] == ["start", "tool"] and kinds[-1] == "end", kinds
    tool = frames[1]
    assert tool["name"] == "run_sql" and tool["query"] == model.sql
    assert tool["rows"] == [["North", 1333.5], ["South", 800.25]] and tool["row_count"] == 2
    text = "".join(f["text"] for f in frames if f["type"] == "chunk")
    assert text.strip() == ANSWER
    grounding = frames[-1]["grounding"]
    assert [g["text"] for g in grounding["found"]] == ["1,333.5"]
    assert grounding["found"][0]["source"] == {"kind": "query", "label": model.sql}
    assert [g["text"] for g in grounding["not_found"]] == ["42"]
    # the model was offered the tool, then got the result back as a tool message
    first, second = model.requests
    assert first["tools"][0]["function"]["name"] == "run_sql"
    assert "Sales" in first["messages"][0]["content"]  # the profile is in the instructions
    call_turn, result_turn = second["messages"][-2:]
    assert (
        call_turn["tool_calls"][0]["function"]["arguments"]
        == orjson.dumps({"sql": model.sql}).decode()
    )
    assert result_turn["role"] == "tool" and result_turn["tool_call_id"] == "call_1"
    assert orjson.loads(result_turn["content"])["rows"] == [["North", 1333.5], ["South", 800.25]]


async def test_a_refused_tool_query_is_reported_to_the_model(
    start_server: StartServer, scripted: tuple[ScriptedModelServer, str]
) -> None:
    model, base_url = scripted
    model.sql = "DROP TABLE sales"
    srv = await start_server(model="openai", openai_base_url=base_url)
    async with httpx.AsyncClient(base_url=srv.http) as http:
        created = await http.post("/api/workbooks", files={"file": ("s.xlsx", sales_workbook())})
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask("Drop it", workbook_id=created.json()["workbook_id"])
    assert answer.reason == "complete"
    result_turn = model.requests[1]["messages"][-1]
    assert result_turn["role"] == "tool" and "did not run" in result_turn["content"]


async def test_a_model_asking_for_many_queries_at_once_gets_four_run(
    start_server: StartServer, scripted: tuple[ScriptedModelServer, str]
) -> None:
    """A question can talk a model into asking for hundreds of queries in one turn; each
    round runs at most four and tells the model why the rest did not run."""
    model, base_url = scripted
    model.sql, model.calls = "SELECT 1 AS one", 12
    srv = await start_server(model="openai", openai_base_url=base_url)
    async with httpx.AsyncClient(base_url=srv.http) as http:
        created = await http.post("/api/workbooks", files={"file": ("s.xlsx", sales_workbook())})
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask("Query it all", workbook_id=created.json()["workbook_id"])
    assert answer.reason == "complete" and len(answer.tools) == 4
    results = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert len(results) == 12
    assert all("at most 4 tool calls" in m["content"] for m in results[4:])
