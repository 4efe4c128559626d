"""Workbooks end to end: upload, describe, query, delete, hostile files, chat commands."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import httpx
import openpyxl
import pytest

from sheetstream.client import SheetstreamClient
from tests.conftest import RunningServer, StartServer


def sales_workbook() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Sales"
    sheet.append(["region", "revenue", "units", "day"])
    rows = [
        ("North", 1234.5, 10, dt.date(2024, 3, 1)),
        ("South", 800.25, 7, dt.date(2024, 3, 2)),
        ("North", 99.0, 1, dt.date(2024, 3, 3)),
    ]
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def upload(srv: RunningServer, name: str, data: bytes) -> httpx.Response:
    async with httpx.AsyncClient(base_url=srv.http, timeout=60) as http:
        return await http.post("/api/workbooks", files={"file": (name, data)})


async def test_upload_describe_query_delete(start_server: StartServer) -> None:
    srv = await start_server()
    created = await upload(srv, "sales.xlsx", sales_workbook())
    assert created.status_code == 201, created.text
    body = created.json()
    workbook_id = body["workbook_id"]
    assert body["filename"] == "sales.xlsx" and body["format"] == "xlsx"
    (sheet,) = body["sheets"]
    assert sheet["name"] == "Sales" and sheet["rows"] == 3 and sheet["hidden"] is False
    assert sheet["warnings"] == [] and body["warnings"] == []
    assert [c["name"] for c in sheet["columns"]] == ["region", "revenue", "units", "day"]
    async with httpx.AsyncClient(base_url=srv.http) as http:
        assert (await http.get(f"/api/workbooks/{workbook_id}")).json() == body
        listed = (await http.get("/api/workbooks")).json()["workbooks"]
        assert [w["workbook_id"] for w in listed] == [workbook_id]
        table = sheet["table"]
        answer = await http.post(
            f"/api/workbooks/{workbook_id}/query",
            json={
                "sql": f"SELECT region, sum(revenue) AS total FROM {table} GROUP BY 1 ORDER BY 1"
            },
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["columns"] == ["region", "total"]
        assert result["rows"] == [["North", 1333.5], ["South", 800.25]]
        assert result["truncated"] is False
        refused = await http.post(
            f"/api/workbooks/{workbook_id}/query", json={"sql": f"DROP TABLE {table}"}
        )
        assert refused.status_code == 400 and "SELECT" in refused.json()["message"]
        folder = srv.settings.data_dir / "workbooks" / workbook_id
        assert folder.is_dir()
        assert (await http.delete(f"/api/workbooks/{workbook_id}")).status_code == 204
        assert not folder.exists()
        gone = await http.get(f"/api/workbooks/{workbook_id}")
        assert gone.status_code == 404 and gone.json()["error"] == "workbook_not_found"


async def test_traversal_name_is_cleaned_and_stays_in_the_data_dir(
    start_server: StartServer, tmp_path: Path
) -> None:
    srv = await start_server()
    created = await upload(srv, "../../x.xlsx", sales_workbook())
    assert created.status_code == 201, created.text
    assert created.json()["filename"] == "x.xlsx"
    assert not (tmp_path / "x.xlsx").exists() and not (tmp_path.parent / "x.xlsx").exists()


async def test_oversize_upload_is_413_with_the_limit(start_server: StartServer) -> None:
    srv = await start_server(workbook_max_bytes=20_000)
    refused = await upload(srv, "big.xlsx", b"PK\x03\x04" + b"\0" * 50_000)
    assert refused.status_code == 413
    assert "limit" in refused.json()["message"]
    assert list((srv.settings.data_dir / "workbooks").iterdir()) == []


async def test_renamed_text_is_refused_and_chat_still_works(start_server: StartServer) -> None:
    srv = await start_server()
    refused = await upload(srv, "notes.xlsx", b"<html><body>hello</body></html>")
    assert refused.status_code == 415, refused.text
    assert refused.json()["message"]
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        assert (await client.ask("still fine?")).reason == "complete"


async def test_zip_bomb_is_refused(start_server: StartServer) -> None:
    srv = await start_server()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("[Content_Types].xml", "<Types/>")
        bomb.writestr("xl/workbook.xml", "<workbook/>")
        bomb.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 << 20))  # about 1000 to 1
    refused = await upload(srv, "bomb.xlsx", buffer.getvalue())
    assert refused.status_code == 422, refused.text
    assert "ratio" in refused.json()["message"] or "limit" in refused.json()["message"]


async def test_commands_answer_exactly_with_tool_frame_and_grounding(
    start_server: StartServer,
) -> None:
    srv = await start_server()
    body = (await upload(srv, "sales.xlsx", sales_workbook())).json()
    table = body["sheets"][0]["table"]
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        sheets = await client.ask("/sheets", workbook_id=body["workbook_id"])
        assert "Sales" in sheets.text and f"`{table}`" in sheets.text
        # the workbook stays attached to the session
        profile = await client.ask("/profile Sales", mode="paragraph")
        assert "revenue" in profile.text and "2133.75" in profile.text
        request_id = await client.chat(
            f"/sql SELECT region, sum(revenue) AS total FROM {table} GROUP BY 1 ORDER BY 1"
        )
        frames = [f async for f in client.follow(request_id)]
    kinds = [f["type"] for f in frames]
    assert kinds[:2] == ["start", "tool"] and kinds[-1] == "end"
    tool = frames[1]
    assert tool["name"] == "run_sql" and tool["rows"] == [["North", 1333.5], ["South", 800.25]]
    text = "".join(f["text"] for f in frames if f["type"] == "chunk")
    assert "| North | 1333.5 |" in text
    grounding = frames[-1]["grounding"]
    found = {g["text"] for g in grounding["found"]}
    assert {"1333.5", "800.25"} <= found
    async with httpx.AsyncClient(base_url=srv.http) as http:
        history = (await http.get(f"/api/sessions/{client.session_id}/messages")).json()
    assert history["messages"][-1]["grounding"] == grounding


async def test_commands_without_a_workbook_say_how_to_attach_one(
    start_server: StartServer,
) -> None:
    srv = await start_server()
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        await client.chat("/sheets", request_id="w1")
        error = await client.recv()
    assert error["code"] == "workbook_not_found" and error["request_id"] == "w1"
    assert "workbook_id" in error["message"]


@pytest.mark.parametrize("sql", ["SELECT * FROM read_csv('/etc/passwd')", "COPY sales TO '/tmp/x'"])
async def test_sql_command_refusals_are_answered_in_words(
    start_server: StartServer, sql: str
) -> None:
    srv = await start_server()
    body = (await upload(srv, "sales.xlsx", sales_workbook())).json()
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask(f"/sql {sql}", workbook_id=body["workbook_id"])
    assert answer.text.startswith("The query did not run:")
    assert answer.reason == "complete"


async def test_sheet_warnings_name_the_sheet_they_concern(start_server: StartServer) -> None:
    book = openpyxl.Workbook()
    data = book.active
    assert data is not None
    data.title = "Data"
    data.append(["Totals", None])
    data.merge_cells("A1:B1")
    data.append([1, 2])
    secret = book.create_sheet("Secret")
    secret.sheet_state = "hidden"
    buffer = io.BytesIO()
    book.save(buffer)
    srv = await start_server()
    created = await upload(srv, "w.xlsx", buffer.getvalue())
    assert created.status_code == 201, created.text
    first, second = created.json()["sheets"]
    assert any("merged header" in w for w in first["warnings"]), first["warnings"]
    assert second["hidden"] is True
    assert "This sheet is hidden in the workbook." in second["warnings"]
    assert "This sheet has no data rows." in second["warnings"]


async def test_a_csv_is_one_sheet_named_after_its_file(start_server: StartServer) -> None:
    srv = await start_server()
    created = await upload(srv, "May log.csv", b"level,duration_ms\nINFO,12\nERROR,40\n")
    assert created.status_code == 201, created.text
    body = created.json()
    (sheet,) = body["sheets"]
    assert sheet["name"] == "May log" and sheet["rows"] == 2
    async with httpx.AsyncClient(base_url=srv.http, timeout=60) as http:
        result = await http.post(
            f"/api/workbooks/{body['workbook_id']}/query",
            json={"sql": f'SELECT sum(duration_ms) FROM "{sheet["table"]}"'},
        )
    assert result.status_code == 200 and result.json()["rows"] == [[52]]
    # the upload is still stored under its own name; the sheet's name came with the job
    folder = srv.settings.data_dir / "workbooks" / body["workbook_id"]
    assert (folder / "original").read_bytes().startswith(b"level,duration_ms")
