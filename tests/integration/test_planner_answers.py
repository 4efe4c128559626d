"""Exact answers with the embedded default model: the planner through the chat socket.

The embedded SmolLM2 model cannot write SQL; a data question about the attached workbook is
answered by the planner's one query, in every mode, its numbers grounded. A question that
names something the workbook lacks is declined with queries that run.
"""

from __future__ import annotations

import io
from typing import Any

import httpx
import openpyxl
import pytest

from sheetstream.client import SheetstreamClient
from tests.conftest import StartServer

ROWS = [
    ("North", "Widget", 12, 30.5),
    ("South", "Widget", 7, 30.5),
    ("North", "Gadget", 3, 99.0),
    ("East", "Gadget", 9, 99.0),
    ("South", "Gizmo", 20, 4.25),
]


def sales_workbook() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Sales"
    sheet.append(["Region", "Product", "Units", "Price"])
    for row in ROWS:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def upload(http: str) -> str:
    async with httpx.AsyncClient(base_url=http) as client:
        response = await client.post(
            "/api/workbooks", files={"file": ("sales.xlsx", sales_workbook())}
        )
    response.raise_for_status()
    workbook_id: str = response.json()["workbook_id"]
    return workbook_id


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["token", "sentence", "paragraph"])
async def test_a_data_question_gets_the_exact_answer_in_every_mode(
    start_server: StartServer, mode: str
) -> None:
    srv = await start_server(model="llamacpp")
    workbook_id = await upload(srv.http)
    units = {region: sum(r[2] for r in ROWS if r[0] == region) for region in ("North", "South")}
    best = max(units, key=lambda region: units[region])
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask(
            "Which region had the most units sold?", mode=mode, workbook_id=workbook_id
        )
    assert answer.reason == "complete", answer
    assert f"Region {best}: {units[best]}." in answer.text
    assert [t["name"] for t in answer.tools] == ["run_sql"]
    tool: dict[str, Any] = answer.tools[0]
    assert "GROUP BY 1 ORDER BY 2 DESC" in tool["query"] and tool["rows"] == [[best, units[best]]]
    assert answer.end is not None
    grounding = answer.end["grounding"]
    assert grounding["not_found"] == []
    assert {item["text"] for item in grounding["found"]} == {str(units[best])}


@pytest.mark.slow
async def test_a_total_by_group_and_a_decline_on_one_socket(start_server: StartServer) -> None:
    srv = await start_server(model="llamacpp")
    workbook_id = await upload(srv.http)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        table = await client.ask("total units by product", workbook_id=workbook_id)
        missing = await client.ask("What is the total profit?", workbook_id=workbook_id)
    for product in ("Widget", "Gadget", "Gizmo"):
        total = sum(r[2] for r in ROWS if r[1] == product)
        assert f"| {product} | {total} |" in table.text
    assert table.end is not None and table.end["grounding"]["not_found"] == []
    assert 'nothing in the workbook is called "profit"' in missing.text
    assert "/sql SELECT" in missing.text and missing.tools == []
    assert missing.end is not None and missing.end["grounding"]["not_found"] == []
