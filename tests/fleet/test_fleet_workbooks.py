"""Workbooks across nodes: two real servers in this process on one Redis, one PostgreSQL
database (the workbook index) and one data directory (the workbooks' files). A workbook
uploaded through one node is listed, described, queried and chatted about through the other,
and a delete through either is seen by both."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sheetstream.client import ServerError, SheetstreamClient
from tests.conftest import RunningServer, StartServer, small_workbook

ALICE = "alice-fleet-token-0123"
BOB = "bob-fleet-token-4567890"
TOKENS = [f"alice:{ALICE}", f"bob:{BOB}"]


async def two_nodes(
    start_server: StartServer, redis_url: str, database_url: str, **extra: Any
) -> tuple[RunningServer, RunningServer]:
    settings = {"broker_url": redis_url, "database_url": database_url, **extra}
    a = await start_server(node_id="node-a", **settings)
    b = await start_server(node_id="node-b", **settings)
    assert a.settings.data_dir == b.settings.data_dir  # the files are shared, as in a fleet
    return a, b


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_workbook_uploaded_on_one_node_is_served_by_the_other_until_deleted(
    start_server: StartServer, redis_url: str, database_url: str
) -> None:
    a, b = await two_nodes(start_server, redis_url, database_url)
    async with (
        httpx.AsyncClient(base_url=a.http, timeout=60) as on_a,
        httpx.AsyncClient(base_url=b.http, timeout=60) as on_b,
    ):
        created = await on_a.post("/api/workbooks", files={"file": ("s.xlsx", small_workbook())})
        assert created.status_code == 201, created.text
        body = created.json()
        workbook_id, table = body["workbook_id"], body["sheets"][0]["table"]

        listed = (await on_b.get("/api/workbooks")).json()["workbooks"]
        assert [w["workbook_id"] for w in listed] == [workbook_id]
        assert listed[0]["sheets"] == [{"name": "Sales", "rows": 2, "columns": 2}]
        # B has not read it yet: its chat asks the database
        async with SheetstreamClient.connect(f"{b.ws}/ws/chat") as client:
            answer = await client.ask(
                f"/sql SELECT region, revenue FROM {table} ORDER BY 1", workbook_id=workbook_id
            )
        assert answer.reason == "complete", answer
        assert answer.tools[0]["rows"] == [["North", 1234.5], ["South", 800.25]]
        assert "| North | 1234.5 |" in answer.text
        described = await on_b.get(f"/api/workbooks/{workbook_id}")
        assert described.status_code == 200 and described.json() == body
        sql = {"sql": f"SELECT sum(revenue) AS total FROM {table}"}
        queried = await on_b.post(f"/api/workbooks/{workbook_id}/query", json=sql)
        assert queried.status_code == 200, queried.text
        assert queried.json()["rows"] == [[2034.75]]

        assert (await on_b.delete(f"/api/workbooks/{workbook_id}")).status_code == 204
        assert not (a.settings.data_dir / "workbooks" / workbook_id).exists()
        # A uploaded it and remembers it, but the database says it is gone
        async with SheetstreamClient.connect(f"{a.ws}/ws/chat") as client:
            late = await client.ask("/sheets", workbook_id=workbook_id)
            # the session lets go of it: its next question is answered without it
            after = await client.ask("hello")
        assert late.reason == "error" and late.chunks == []
        assert [e["code"] for e in late.errors] == ["workbook_not_found"]
        assert after.reason == "complete"
        gone = await on_a.get(f"/api/workbooks/{workbook_id}")
        assert gone.status_code == 404 and gone.json()["error"] == "workbook_not_found"
        refused = await on_a.post(f"/api/workbooks/{workbook_id}/query", json=sql)
        assert refused.status_code == 404
        assert (await on_a.delete(f"/api/workbooks/{workbook_id}")).status_code == 404
        assert (await on_a.get("/api/workbooks")).json()["workbooks"] == []
        assert (await on_b.get("/api/workbooks")).json()["workbooks"] == []


async def test_owners_and_quotas_hold_across_nodes(
    start_server: StartServer, redis_url: str, database_url: str
) -> None:
    a, b = await two_nodes(
        start_server, redis_url, database_url, api_tokens=TOKENS, quota_workbooks=1
    )
    files = {"file": ("s.xlsx", small_workbook())}
    async with (
        httpx.AsyncClient(base_url=a.http, timeout=60) as on_a,
        httpx.AsyncClient(base_url=b.http, timeout=60) as on_b,
    ):
        first = await on_a.post("/api/workbooks", files=files, headers=auth(ALICE))
        assert first.status_code == 201, first.text
        workbook_id = first.json()["workbook_id"]
        # Alice's one workbook counts on every node
        second = await on_b.post("/api/workbooks", files=files, headers=auth(ALICE))
        assert second.status_code == 403 and second.json()["error"] == "quota_exceeded"
        bobs = await on_b.post("/api/workbooks", files=files, headers=auth(BOB))
        assert bobs.status_code == 201, bobs.text
        # another owner's workbook is not found on either node, and not listed
        for node in (on_a, on_b):
            theirs = await node.get(f"/api/workbooks/{workbook_id}", headers=auth(BOB))
            assert theirs.status_code == 404
            listed = (await node.get("/api/workbooks", headers=auth(BOB))).json()["workbooks"]
            assert [w["workbook_id"] for w in listed] == [bobs.json()["workbook_id"]]
        assert (
            await on_b.delete(f"/api/workbooks/{workbook_id}", headers=auth(BOB))
        ).status_code == 404
        # B has seen whose it is, so Bob's chat is refused before any `start`
        async with SheetstreamClient.connect(f"{b.ws}/ws/bob", token=BOB) as bob:
            with pytest.raises(ServerError) as caught:
                await bob.ask("/sheets", workbook_id=workbook_id)
        assert caught.value.code == "workbook_not_found"
        deleted = await on_b.delete(f"/api/workbooks/{workbook_id}", headers=auth(ALICE))
        assert deleted.status_code == 204
        again = await on_a.post("/api/workbooks", files=files, headers=auth(ALICE))
        assert again.status_code == 201, again.text
