"""What one owner may keep, and what each owner's live sessions hold in memory."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sheetstream.client import ServerError, SheetstreamClient
from tests.conftest import StartServer, small_workbook

ALICE = "alice-quota-token-0123"
BOB = "bob-quota-token-456789"
TOKENS = [f"alice:{ALICE}", f"bob:{BOB}"]


async def test_a_live_session_keeps_only_the_turns_its_prompt_uses(
    start_server: StartServer,
) -> None:
    """Every turn of a live session once stayed in memory; the prompt uses the last few."""
    srv = await start_server(history_turns=3)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/long-talk") as client:
        for n in range(12):
            answer = await client.ask(f"question {n}")
            assert answer.reason == "complete"
    session = srv.app.state.chat.registry.sessions["long-talk"]
    for _ in range(200):  # the last turn is kept just after its `end` goes out
        if session.history and session.history[-1][0] == "question 11":
            break
        await asyncio.sleep(0.01)
    assert session.history is not None
    assert [q for q, _ in session.history] == ["question 9", "question 10", "question 11"]
    async with httpx.AsyncClient(base_url=srv.http) as http:
        stored = (await http.get("/api/sessions/long-talk/messages")).json()["messages"]
    assert len(stored) == 12  # storage keeps them all


async def test_a_full_history_quota_refuses_chat_until_a_session_is_deleted(
    start_server: StartServer,
) -> None:
    srv = await start_server(api_tokens=TOKENS, quota_history_bytes=1500)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/first", token=ALICE) as client:
        answers = [await client.ask(f"question {n}") for n in range(3)]
        assert all(a.reason == "complete" for a in answers)  # each answer is ~300 bytes
        with pytest.raises(ServerError) as refused:
            for n in range(3, 10):
                await client.ask(f"question {n}")
    assert refused.value.code == "quota_exceeded"
    message = refused.value.frame["message"]
    assert "stored history is full" in message and "DELETE /api/sessions/{id}" in message
    async with SheetstreamClient.connect(f"{srv.ws}/ws/bobs", token=BOB) as bob:
        assert (await bob.ask("unaffected?")).reason == "complete"  # a quota per owner
    async with httpx.AsyncClient(
        base_url=srv.http, headers={"Authorization": f"Bearer {ALICE}"}
    ) as http:
        assert (await http.delete("/api/sessions/first")).status_code == 204
        assert (await http.get("/api/sessions/first/messages")).status_code == 404
        assert (await http.delete("/api/sessions/first")).status_code == 404
    async with SheetstreamClient.connect(f"{srv.ws}/ws/second", token=ALICE) as client:
        assert (await client.ask("room again?")).reason == "complete"


async def test_deleting_a_session_closes_its_tabs_and_is_refused_to_other_owners(
    start_server: StartServer,
) -> None:
    srv = await start_server(api_tokens=TOKENS)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/mine", token=ALICE) as client:
        await client.ask("hello")
        async with httpx.AsyncClient(base_url=srv.http) as http:
            other = await http.delete(
                "/api/sessions/mine", headers={"Authorization": f"Bearer {BOB}"}
            )
            own = await http.delete(
                "/api/sessions/mine", headers={"Authorization": f"Bearer {ALICE}"}
            )
        await client.ws.wait_closed()
    assert other.status_code == 404
    assert own.status_code == 204
    assert client.ws.close_code == 1000 and client.ws.close_reason == "session deleted"


async def test_workbook_quotas_by_count_and_by_bytes(start_server: StartServer) -> None:
    srv = await start_server(api_tokens=TOKENS, quota_workbooks=2, quota_workbook_bytes=10**9)
    files = {"file": ("wb.xlsx", small_workbook())}
    async with httpx.AsyncClient(
        base_url=srv.http, headers={"Authorization": f"Bearer {ALICE}"}, timeout=60
    ) as http:
        first = await http.post("/api/workbooks", files=files)
        second = await http.post("/api/workbooks", files=files)
        third = await http.post("/api/workbooks", files=files)
        assert (first.status_code, second.status_code, third.status_code) == (201, 201, 403)
        assert third.json()["error"] == "quota_exceeded"
        assert "2 workbooks" in third.json()["message"]
        deleted = await http.delete(f"/api/workbooks/{first.json()['workbook_id']}")
        assert deleted.status_code == 204
        assert (await http.post("/api/workbooks", files=files)).status_code == 201
    small = await start_server(api_tokens=TOKENS, quota_workbook_bytes=20_000)
    async with httpx.AsyncClient(
        base_url=small.http, headers={"Authorization": f"Bearer {BOB}"}, timeout=60
    ) as http:
        refused = await http.post("/api/workbooks", files=files)
        listed = (await http.get("/api/workbooks")).json()["workbooks"]
    assert refused.status_code == 403 and "the quota is" in refused.json()["message"]
    assert listed == []  # nothing of the refused upload is kept
