"""No single client can freeze, exhaust or crash the server: each defect found in review, as a
regression test against a real server (`sheetstream serve` in a child process where the
server's own event loop or memory is what the test watches)."""

from __future__ import annotations

import asyncio
import io
import struct
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import orjson
import psutil
import pytest
from fastapi.routing import APIRoute
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from sheetstream.app import create_app
from sheetstream.client import Answer, SheetstreamClient
from sheetstream.settings import Settings
from tests.conftest import (
    RunningServer,
    ServerProcess,
    StartServer,
    serve_process,
    small_workbook,
)


async def health_while(server: ServerProcess, work: asyncio.Task[object]) -> list[float]:
    """Ask `/healthz` every 50 ms until `work` is done; each answer's wait, in seconds.

    A request that waits longer than 5 s fails the test: the server's loop was frozen."""
    waits = []
    async with httpx.AsyncClient(timeout=5.0) as http:
        while not work.done():
            started = asyncio.get_running_loop().time()
            response = await http.get(f"{server.http}/healthz")
            assert response.status_code == 200
            waits.append(asyncio.get_running_loop().time() - started)
            await asyncio.sleep(0.05)
    return waits


@pytest.mark.parametrize(
    ("mode", "text"),
    [
        ("sentence", "." * 20_000),
        ("sentence", "!)" * 10_000),
        ("paragraph", " " * 20_000),
        ("paragraph", "\r" * 20_000),
    ],
    ids=["dots", "bangs", "spaces", "carriage-returns"],
)
async def test_an_answer_without_boundaries_does_not_freeze_the_server(
    tmp_path: Path, mode: str, text: str
) -> None:
    """The first version rescanned all pending text on every token: 5,000 dots in sentence
    mode froze the server for 27 s. A model can write such text; it must stream like any."""
    answer_file = tmp_path / "answer.txt"
    answer_file.write_text(text + "\nEnd.")
    async with (
        serve_process(
            tmp_path / "data",
            model="synthetic",
            synthetic_text=answer_file,
            max_answer_tokens=100_000,
        ) as server,
        SheetstreamClient.connect(f"{server.ws}/ws/chat") as client,
    ):
        asking = asyncio.create_task(client.ask("go", mode=mode))
        await health_while(server, asking)
        answer = await asking
    assert answer.reason == "complete"
    assert answer.text == text + "\nEnd."


async def upload_workbook(
    http: httpx.AsyncClient,
    base: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    files = {"file": ("sales.xlsx", data or small_workbook())}
    response = await http.post(f"{base}/api/workbooks", files=files, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["workbook_id"])


def rss_mib(server: ServerProcess) -> float:
    """The resident memory of the server and every process it started, in MiB."""
    root = psutil.Process(server.proc.pid)
    processes = [root, *root.children(recursive=True)]
    return sum(p.memory_info().rss for p in processes if p.is_running()) / 2**20


HUGE = "SELECT repeat(repeat('x', 10000), 100) AS a FROM range(1000)"  # 1,000 cells of 1 MB


async def test_a_huge_query_result_is_capped_in_bytes_and_the_server_stays_small(
    tmp_path: Path,
) -> None:
    """It once came back as a 1 GB body and grew the server to 5.4 GiB."""
    async with (
        serve_process(tmp_path / "data", model="synthetic") as server,
        httpx.AsyncClient(timeout=60) as http,
    ):
        workbook_id = await upload_workbook(http, server.http)
        before = rss_mib(server)
        response = await http.post(
            f"{server.http}/api/workbooks/{workbook_id}/query", json={"sql": HUGE}
        )
        after = rss_mib(server)
    assert response.status_code == 200
    body = response.json()
    assert len(response.content) <= 1024 * 1024 + 4096  # the rows' cap, and the envelope
    assert body["truncated"] is True and body["truncated_by"] == "bytes"
    assert body["rows"][0][0].endswith("…[1000000 characters]")
    assert after - before < 300, f"the server grew from {before:.0f} to {after:.0f} MiB"


async def test_sql_in_chat_sends_bounded_frames_and_stores_a_bounded_copy(
    tmp_path: Path,
) -> None:
    """`/sql` once tokenized the whole result on the loop, sent it in a `tool` frame to every
    reader and stored it whole in the history."""
    async with (
        serve_process(tmp_path / "data", model="synthetic") as server,
        httpx.AsyncClient(timeout=60) as http,
    ):
        workbook_id = await upload_workbook(http, server.http)
        async with SheetstreamClient.connect(f"{server.ws}/ws/chat") as client:
            answer = await client.ask(f"/sql {HUGE}", workbook_id=workbook_id)
            session_id = client.session_id
        history = await http.get(f"{server.http}/api/sessions/{session_id}/messages")
    assert answer.reason == "complete"  # a command's table is not cut at MAX_ANSWER_TOKENS
    (tool,) = answer.tools
    assert len(orjson.dumps(tool)) < 40 * 1024
    assert tool["truncated"] is True and len(tool["rows"]) <= 20
    assert len(answer.text.encode()) < 40 * 1024
    assert "truncated at the size limit; long text shortened" in answer.text
    (stored,) = history.json()["messages"]
    assert len(orjson.dumps(stored)) < 100 * 1024


def string_table_bomb() -> bytes:
    """A 1.5 MB workbook whose shared-strings table inflates to 64 MiB of tiny strings that
    no cell uses (1,500 of them, repeated): readers build millions of strings from it."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["A1"] = "only cell"
    plain = io.BytesIO()
    book.save(plain)
    block = b"".join(b"<si><t>%d</t></si>" % i for i in range(1500))
    table = b"<sst>" + block * (64 * 2**20 // len(block)) + b"</sst>"
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(plain.getvalue())) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            if info.filename != "xl/sharedStrings.xml":
                dst.writestr(info.filename, src.read(info))
        dst.writestr("xl/sharedStrings.xml", table)
    return out.getvalue()


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("[Content_Types].xml", "<Types/>")
        bomb.writestr("xl/workbook.xml", "<workbook/>")
        bomb.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 << 20))
    return buffer.getvalue()


async def test_a_burst_of_hostile_uploads_is_refused_within_bounded_memory(
    tmp_path: Path,
) -> None:
    """Eight string-table bombs and eight zip bombs at once drove the server's processes to
    5.5 GiB. Parses now run two at a time, each capped at half of WORKBOOK_PARSE_MEMORY_MB,
    and the string tables are refused before any reader builds them."""
    bombs = [("s.xlsx", string_table_bomb())] * 8 + [("z.xlsx", zip_bomb())] * 8
    async with (
        serve_process(
            tmp_path / "data", model="synthetic", workbook_uploads_per_client=32
        ) as server,
        httpx.AsyncClient(timeout=120) as http,
    ):
        peak = rss_mib(server)

        async def send(name: str, data: bytes) -> httpx.Response:
            return await http.post(f"{server.http}/api/workbooks", files={"file": (name, data)})

        sending = asyncio.gather(*(send(name, data) for name, data in bombs))
        while not sending.done():
            peak = max(peak, rss_mib(server))
            await asyncio.sleep(0.02)
        responses = await sending
        health = await http.get(f"{server.http}/healthz")
    assert peak < 2048 + 400, f"the server's processes reached {peak:.0f} MiB"
    assert health.status_code == 200
    for (name, _), response in zip(bombs, responses, strict=True):
        assert response.status_code in (422, 503), (name, response.text)
        if response.status_code == 503:
            assert int(response.headers["retry-after"]) >= 1
        elif name == "s.xlsx":
            assert "shared-strings table" in response.json()["message"]
    assert sum(r.status_code == 422 for r in responses) >= 2


class StalledBody:
    """A multipart upload whose body stops after its first bytes until `release()`."""

    def __init__(self, data: bytes) -> None:
        request = httpx.Request("POST", "http://x/", files={"file": ("wb.xlsx", data)})
        self.content_type = request.headers["content-type"]
        self.body = request.read()
        self.released = asyncio.Event()
        self.started = asyncio.Event()

    async def stream(self) -> AsyncIterator[bytes]:
        yield self.body[:100]
        self.started.set()
        await self.released.wait()
        yield self.body[100:]

    def release(self) -> None:
        self.released.set()


async def wait_for_work(
    http: httpx.AsyncClient, base: str, ready: Callable[[dict[str, Any]], bool]
) -> None:
    """Until the server's work in progress (`/api/websocket/performance`) is as `ready` says."""
    for _ in range(500):
        work = (await http.get(f"{base}/api/websocket/performance")).json()["work"]
        if ready(work):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the server's work never got there: {work}")


async def test_uploads_past_their_bounds_are_turned_away_at_once(tmp_path: Path) -> None:
    """Uploads in progress are bounded per client (429) and in total (503, Retry-After); the
    ones already in progress finish."""
    alice, bob = "alice-token-0123456789", "bob-token-0123456789ab"
    async with (
        serve_process(
            tmp_path / "data",
            model="synthetic",
            api_tokens=f"alice:{alice},bob:{bob}",
            workbook_uploads=3,
            workbook_uploads_per_client=2,
        ) as server,
        httpx.AsyncClient(timeout=60) as http,
    ):
        url = f"{server.http}/api/workbooks"
        stalled = [StalledBody(small_workbook()) for _ in range(3)]

        def post(body: StalledBody, token: str) -> asyncio.Task[httpx.Response]:
            headers = {"content-type": body.content_type, "authorization": f"Bearer {token}"}
            return asyncio.create_task(http.post(url, content=body.stream(), headers=headers))

        waiting = [post(stalled[0], alice), post(stalled[1], alice), post(stalled[2], bob)]
        for body in stalled:
            await body.started.wait()
        await wait_for_work(http, server.http, lambda work: work["uploads"]["in_progress"] == 3)
        files = {"file": ("wb.xlsx", small_workbook())}
        third = await http.post(url, files=files, headers={"authorization": f"Bearer {alice}"})
        full = await http.post(url, files=files, headers={"authorization": f"Bearer {bob}"})
        for body in stalled:
            body.release()
        finished = await asyncio.gather(*waiting)
        after = await http.post(url, files=files, headers={"authorization": f"Bearer {bob}"})
    assert third.status_code == 429 and "2 uploads in progress" in third.json()["message"]
    assert full.status_code == 503 and int(full.headers["retry-after"]) >= 1
    assert full.json()["error"] == "overloaded"
    assert [r.status_code for r in finished] == [201, 201, 201]
    assert after.status_code == 201


async def test_one_client_cannot_fill_the_query_queue_for_everyone(tmp_path: Path) -> None:
    """Each client has QUERY_PER_CLIENT places among the running and waiting queries, through
    the API and the chat together; its next query gets 429 and other clients still get in."""
    alice, bob = "alice-token-0123456789", "bob-token-0123456789ab"
    slow = "SELECT count(*) FROM range(100000000000) a"  # runs until QUERY_TIMEOUT_S
    async with (
        serve_process(
            tmp_path / "data",
            model="synthetic",
            api_tokens=f"alice:{alice},bob:{bob}",
            query_concurrency=1,
            query_per_client=2,
            query_timeout_s=1.5,
        ) as server,
        httpx.AsyncClient(timeout=60) as http,
    ):
        as_alice = {"authorization": f"Bearer {alice}"}
        as_bob = {"authorization": f"Bearer {bob}"}
        workbook_id = await upload_workbook(http, server.http, headers=as_alice)
        bobs_workbook = await upload_workbook(http, server.http, headers=as_bob)
        url = f"{server.http}/api/workbooks/{workbook_id}/query"
        running = asyncio.create_task(http.post(url, json={"sql": slow}, headers=as_alice))
        await wait_for_work(http, server.http, lambda work: work["queries"]["running"] == 1)
        async with SheetstreamClient.connect(f"{server.ws}/ws/chat", token=alice) as client:
            in_chat = asyncio.create_task(client.ask(f"/sql {slow}", workbook_id=workbook_id))
            await wait_for_work(http, server.http, lambda work: work["queries"]["waiting"] == 1)
            third = await http.post(url, json={"sql": "SELECT 1 AS one"}, headers=as_alice)
            theirs = await http.post(
                f"{server.http}/api/workbooks/{bobs_workbook}/query",
                json={"sql": "SELECT 1 AS one"},
                headers=as_bob,
            )
            answer = await in_chat
        first = await running
    assert third.status_code == 429 and third.json()["error"] == "rate_limited"
    assert "2 SQL queries running or waiting" in third.json()["message"]
    assert theirs.status_code == 200 and theirs.json()["rows"] == [[1]]
    assert first.status_code == 400 and "longer than 1.5 s" in first.json()["message"]
    assert "did not run" in answer.text and "longer than 1.5 s" in answer.text


async def send_chunked_head(
    port: int, path: str, headers: dict[str, str]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    return reader, writer


async def send_chunks(writer: asyncio.StreamWriter, total: int, size: int = 16384) -> None:
    piece = b"%x\r\n%s\r\n" % (size, b"x" * size)
    for _ in range(total // size):
        writer.write(piece)
        await writer.drain()


async def read_status(reader: asyncio.StreamReader) -> int:
    """The status of the response, which must come before the body was all sent."""
    line = await asyncio.wait_for(reader.readline(), timeout=10)
    return int(line.split()[1])


@pytest.mark.parametrize("path", ["/api/admin/broadcast", "/api/workbooks/wb_x/query"])
async def test_a_body_without_a_token_is_refused_before_it_is_read(
    start_server: StartServer, path: str
) -> None:
    """FastAPI read a declared body before the token check: a 4 GB chunked POST without a
    token was read whole before the 403. Now the refusal comes after the headers."""
    srv = await start_server(admin_token="admin-token-0123456789", api_tokens=["a:" + "t" * 20])
    reader, writer = await send_chunked_head(srv.port, path, {"Content-Type": "application/json"})
    await send_chunks(writer, 64 * 1024)  # a start; the rest of the 4 GB never comes
    try:
        assert await read_status(reader) == 401
    finally:
        writer.close()


async def test_a_body_over_the_limit_is_refused_once_it_passes_it(
    start_server: StartServer,
) -> None:
    srv = await start_server(admin_token="admin-token-0123456789", max_body_bytes=32 * 1024)
    headers = {"Authorization": "Bearer admin-token-0123456789"}
    reader, writer = await send_chunked_head(srv.port, "/api/admin/broadcast", headers)
    await send_chunks(writer, 128 * 1024)  # past the limit; the rest never comes
    try:
        assert await read_status(reader) == 413
    finally:
        writer.close()
    async with httpx.AsyncClient(base_url=srv.http, headers=headers) as http:
        declared = await http.post("/api/admin/broadcast", content=b"{" + b" " * 40000 + b"}")
        ok = await http.post("/api/admin/broadcast", json={"content": "hi"})
        bad = await http.post("/api/admin/broadcast", json={"content": 3})
    assert declared.status_code == 413 and "32,768 bytes" in declared.json()["message"]
    assert ok.status_code == 200
    assert bad.status_code == 400 and "content" in bad.json()["message"]


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # an included router's routes
        if included is not None:
            yield from api_routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def test_no_route_declares_a_body_that_would_be_read_before_its_dependencies() -> None:
    """The class of the defect above: every route reads its body itself (`read_json`)."""
    app = create_app(Settings(model="synthetic"))
    routes = list(api_routes(app.routes))
    assert any(route.path == "/api/workbooks/{workbook_id}/query" for route in routes)
    for route in routes:
        assert route.body_field is None, f"{route.path} declares a body parameter"


async def test_listing_workbooks_reads_no_record_and_chat_reads_one_once(
    start_server: StartServer,
) -> None:
    """`GET /api/workbooks` read and parsed every owner's record on the event loop, and every
    chat turn parsed its workbook's again. The list comes from an index now; a record is read
    off the loop, once. Records made unreadable on disk show which reads still happen."""
    srv = await start_server()
    async with httpx.AsyncClient(base_url=srv.http, timeout=60) as http:
        ids = [await upload_workbook(http, srv.http) for _ in range(3)]
        async with SheetstreamClient.connect(f"{srv.ws}/ws/reader") as client:
            first = await client.ask("/sheets", workbook_id=ids[0])
            for workbook_id in ids:
                record = srv.settings.data_dir / "workbooks" / workbook_id / "workbook.json"
                record.write_text("not json")
            listed = (await http.get("/api/workbooks")).json()["workbooks"]
            again = await client.ask("/sheets", workbook_id=ids[0])  # read once, kept
            unread = await http.get(f"/api/workbooks/{ids[1]}")
    assert sorted(w["workbook_id"] for w in listed) == sorted(ids)
    assert first.reason == again.reason == "complete" and first.text == again.text
    assert unread.status_code == 404 and "can no longer be read" in unread.json()["message"]


async def test_the_event_loop_lag_is_reported(start_server: StartServer) -> None:
    srv = await start_server(admin_token="admin-token-0123456789")
    headers = {"Authorization": "Bearer admin-token-0123456789"}
    await asyncio.sleep(0.35)  # a few samples
    async with httpx.AsyncClient(base_url=srv.http, headers=headers) as http:
        figures = (await http.get("/api/websocket/performance")).json()
        metrics = (await http.get("/metrics")).text
    lag = figures["event_loop_lag_ms"]
    assert lag["samples"] >= 2 and lag["window_s"] == 60
    assert 0 <= lag["p99"] <= lag["max"]
    (lag_family,) = [
        f
        for f in text_string_to_metric_families(metrics)
        if f.name == "sheetstream_event_loop_lag_seconds"
    ]
    assert {s.labels["stat"] for s in lag_family.samples} == {"max", "p99"}  # and maybe `node`


def zip64_locator_past_the_end() -> bytes:
    """A workbook whose end record points at a ZIP64 locator with an offset of 2**64 - 1."""
    data = small_workbook()
    eocd = bytearray(data[-22:])
    assert eocd.startswith(b"PK\x05\x06")
    eocd[16:20] = b"\xff\xff\xff\xff"  # the directory's offset: look in the ZIP64 record
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, 2**64 - 1, 1)
    return data[:-22] + locator + bytes(eocd)


def ods_with_unknown_compression() -> bytes:
    """An .ods whose `mimetype` entry claims compression method 9 (Deflate64)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as ods:
        ods.writestr("mimetype", b"application/vnd.oasis.opendocument.spreadsheet")
        ods.writestr("content.xml", b"<office:document-content/>")
    data = bytearray(buffer.getvalue())
    for signature, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = data.find(signature)  # the first entry's local and central headers
        data[start + at : start + at + 2] = struct.pack("<H", 9)
    return bytes(data)


@pytest.mark.parametrize(
    ("name", "content_type", "body", "status"),
    [
        ("multipart that does not parse", "multipart/form-data; boundary=abc", b"xyz", 400),
        ("a ZIP64 locator past the end", None, zip64_locator_past_the_end(), 422),
        ("an unknown compression method", None, ods_with_unknown_compression(), 422),
    ],
)
async def test_malformed_uploads_get_a_4xx_that_says_what_is_wrong(
    start_server: StartServer, name: str, content_type: str | None, body: bytes, status: int
) -> None:
    """Each of these was a 500 (an exception out of the multipart parser or the ZIP reader)."""
    srv = await start_server()
    async with httpx.AsyncClient(base_url=srv.http, timeout=60) as http:
        if content_type is None:
            filename = "x.ods" if "compression" in name else "x.xlsx"
            response = await http.post("/api/workbooks", files={"file": (filename, body)})
        else:
            response = await http.post(
                "/api/workbooks", content=body, headers={"content-type": content_type}
            )
        assert response.status_code == status, response.text
        assert "upload" in response.json()["message"] or "send" in response.json()["message"]
        assert (await http.get("/healthz")).status_code == 200


async def test_a_ping_too_deep_to_echo_gets_an_error_and_the_connection_stays(
    start_server: StartServer,
) -> None:
    """orjson reads JSON nested 1,024 deep but writes 254: the pong failed and closed 1011."""
    srv = await start_server()
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        await client.ws.send('{"type":"ping","ts":' + "[" * 300 + "]" * 300 + "}")
        error = await client.recv()
        pong = await client.ping(1.5)
    assert error["type"] == "error" and error["code"] == "bad_request"
    assert "nested too deeply" in error["message"]
    assert pong["ts"] == 1.5


async def test_a_rebound_name_gets_neither_the_api_nor_the_chat(start_server: StartServer) -> None:
    """`Host: evil.test:8005` with `Origin: http://evil.test:8005` (a page whose name was
    re-pointed at 127.0.0.1) passed the same-origin check and got every API."""
    srv = await start_server()
    evil = f"evil.test:{srv.port}"
    async with httpx.AsyncClient(base_url=srv.http) as http:
        refused = await http.get("/api/workbooks", headers={"host": evil})
        upload = await http.post(
            "/api/workbooks", headers={"host": evil}, files={"file": ("x.xlsx", b"x")}
        )
        own = await http.get("/api/workbooks")
        by_name = await http.get("/healthz", headers={"host": f"localhost:{srv.port}"})
    assert refused.status_code == 400 and "SHEETSTREAM_ALLOWED_HOSTS" in refused.json()["message"]
    assert upload.status_code == 400
    assert own.status_code == 200 and by_name.status_code == 200
    for path in ("/ws/chat", "/ws/admin"):
        with pytest.raises(InvalidStatus) as handshake:
            async with connect(  # to this server, under the rebound name
                f"ws://{evil}{path}",
                host="127.0.0.1",
                port=srv.port,
                additional_headers={"Origin": f"http://{evil}"},
            ):
                pass
        assert handshake.value.response.status_code == 403
    twice = {"Host": f"127.0.0.1:{srv.port}"}  # a second Host: which one to believe?
    with pytest.raises(InvalidStatus):
        async with connect(f"{srv.ws}/ws/chat", additional_headers=twice):
            pass
    async with SheetstreamClient.connect(
        f"{srv.ws}/ws/chat", additional_headers={"Origin": f"http://127.0.0.1:{srv.port}"}
    ) as client:
        assert (await client.ask("still mine?")).reason == "complete"


async def test_listed_host_names_are_served(start_server: StartServer) -> None:
    srv = await start_server(allowed_hosts=["sheets.example"])
    async with httpx.AsyncClient(base_url=srv.http) as http:
        listed = await http.get("/healthz", headers={"host": "sheets.example"})
        other = await http.get("/healthz", headers={"host": "evil.test"})
    assert (listed.status_code, other.status_code) == (200, 400)


async def query_both_ways(srv: RunningServer, sql: str) -> tuple[httpx.Response, Answer]:
    """`sql` on a fresh workbook through `POST …/query` and through `/sql` in chat."""
    async with httpx.AsyncClient(timeout=60) as http:
        workbook_id = await upload_workbook(http, srv.http)
        response = await http.post(
            f"{srv.http}/api/workbooks/{workbook_id}/query", json={"sql": sql}
        )
        async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
            answer = await client.ask(f"/sql {sql}", workbook_id=workbook_id)
    return response, answer


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT path FROM duckdb_databases()",
        "SELECT * FROM duckdb_settings()",
        "SELECT current_setting('temp_directory') AS t",
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
        "SELECT * FROM no_such_table",
        "SELECT s.* FROM (WITH pg_settings AS (SELECT 1 AS x) SELECT * FROM pg_settings) a, "
        "pg_settings s",
        "SELECT * FROM (SHOW temp_directory)",
    ],
)
async def test_queries_learn_nothing_of_where_the_server_keeps_data(
    start_server: StartServer, sql: str
) -> None:
    srv = await start_server()
    response, answer = await query_both_ways(srv, sql)
    assert response.status_code == 400
    data_dir = str(srv.settings.data_dir.resolve())
    assert data_dir not in response.text and "workbooks/wb_" not in response.text
    assert data_dir not in answer.text and "did not run" in answer.text


async def test_numbers_wider_than_64_bits_come_back_as_text(start_server: StartServer) -> None:
    """A HUGEINT once made the JSON encoder fail: a 500, and an answer that never came."""
    srv = await start_server()
    sql = "SELECT 170141183460469231731687303715884105727::HUGEINT AS h, 2::HUGEINT AS small"
    response, answer = await query_both_ways(srv, sql)
    assert response.status_code == 200
    assert response.json()["rows"] == [["170141183460469231731687303715884105727", 2]]
    assert answer.reason == "complete" and "170141183460469231731687303715884105727" in answer.text
    assert answer.tools[0]["rows"] == [["170141183460469231731687303715884105727", 2]]


async def test_a_command_cancelled_while_its_query_runs_is_stored_as_cancelled(
    start_server: StartServer,
) -> None:
    """A `/sql` answer is worked out inside the generation: cancelled while DuckDB runs, it
    ends `cancelled` and its stored message says so (it once stayed `streaming`)."""
    srv = await start_server(query_timeout_s=3.0)
    slow = "/sql SELECT count(*) FROM range(100000000000) a"
    async with httpx.AsyncClient(timeout=60) as http:
        workbook_id = await upload_workbook(http, srv.http)
        async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
            request_id = await client.chat(slow, workbook_id=workbook_id)
            frames = []
            async for frame in client.follow(request_id):
                frames.append(frame)
                if frame["type"] == "start":
                    await wait_for_work(http, srv.http, lambda w: w["queries"]["running"] == 1)
                    await client.cancel(request_id)
            session_id = client.session_id
            after = await client.ask("still here?")
        history = (await http.get(f"{srv.http}/api/sessions/{session_id}/messages")).json()
    assert frames[-1]["type"] == "end" and frames[-1]["reason"] == "cancelled"
    assert after.reason == "complete"
    statuses = [m["status"] for m in history["messages"]]
    assert statuses == ["cancelled", "complete"]


async def test_connecting_in_a_loop_leaves_no_row_per_connection(
    start_server: StartServer,
) -> None:
    """Every connection without a session id makes a session; once gone from memory, one that
    never got a message leaves the database too. Sessions with history stay."""
    import sqlite3

    srv = await start_server()
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        assert (await client.ask("keep me")).reason == "complete"
        kept = client.session_id
    for _ in range(30):
        async with SheetstreamClient.connect(f"{srv.ws}/ws/chat"):
            pass
    database = srv.settings.data_dir / "sessions.db"

    def sessions() -> list[str]:
        with sqlite3.connect(database) as con:
            return [row[0] for row in con.execute("SELECT id FROM sessions")]

    for _ in range(200):
        if len(sessions()) == 1:
            break
        await asyncio.sleep(0.05)
    assert sessions() == [kept]
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat", session_id=kept) as client:
        assert (await client.ask("still mine?")).reason == "complete"


async def test_connections_turned_away_after_their_row_was_made_leave_no_row(
    start_server: StartServer,
) -> None:
    """Handshakes arriving together pass the first capacity check, make their session's row,
    and are refused at the second: that row goes too."""
    import sqlite3

    srv = await start_server(max_connections_per_address=1)

    async def attempt() -> SheetstreamClient | None:
        try:
            client = await SheetstreamClient.connect(f"{srv.ws}/ws/chat")
            await client.send({"type": "ping", "ts": 1})
            while (await client.recv())["type"] != "pong":
                pass
            return client
        except Exception:
            return None

    attempts = await asyncio.gather(*(attempt() for _ in range(30)))
    held = [client for client in attempts if client is not None]
    database = srv.settings.data_dir / "sessions.db"

    def rows() -> int:
        with sqlite3.connect(database) as con:
            return int(con.execute("SELECT count(*) FROM sessions").fetchone()[0])

    for _ in range(200):
        if rows() == len(held):
            break
        await asyncio.sleep(0.05)
    assert len(held) == 1 and rows() == 1
    for client in held:
        await client.close()
