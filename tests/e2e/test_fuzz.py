"""Malformed frames and request bodies thrown at a real server: every one gets an `error` frame
or a 4xx, never a 5xx or a 1011, and the server is healthy afterwards.

The server is `sheetstream serve` in a child process, shared by the tests of this module, and
driven with synchronous clients so that hypothesis runs each example to its end.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import free_port, small_workbook

pytestmark = pytest.mark.slow

# `internal` is not among them: it means the server failed, and a fuzzer finding one found a bug
ERROR_CODES = {
    "bad_request", "busy", "not_found", "stream_expired", "workbook_not_found",
    "rate_limited", "quota_exceeded", "overloaded",
}  # fmt: skip
FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEETSTREAM_")}
    env.update(
        SHEETSTREAM_DATA_DIR=str(tmp_path_factory.mktemp("fuzz") / "data"),
        SHEETSTREAM_MODEL="synthetic",
        SHEETSTREAM_SYNTHETIC_TOKENS="8",
        SHEETSTREAM_MESSAGES_PER_MINUTE="0",
        SHEETSTREAM_WORKBOOK_UPLOADS_PER_CLIENT="16",
        SHEETSTREAM_LOG_LEVEL="critical",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "sheetstream", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"127.0.0.1:{port}"
    try:
        for _ in range(600):
            assert proc.poll() is None, "the server exited while starting"
            try:
                if httpx.get(f"http://{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base
        assert proc.poll() is None, "the server died"
        assert httpx.get(f"http://{base}/healthz").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=15)


# --- WebSocket frames

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
known_fields = st.fixed_dictionaries(
    {"type": st.sampled_from(["chat", "cancel", "resume", "ping", "stats", "", "CHAT"])},
    optional={
        "content": json_values,
        "request_id": json_values,
        "mode": st.sampled_from(["token", "sentence", "paragraph", "x", ""]) | json_values,
        "workbook_id": json_values,
        "batch": json_values,
        "stream_id": json_values,
        "after_seq": json_values,
        "ts": json_values,
    },
)
deep = st.builds(
    lambda depth, field, opener: (
        f'{{"type":"ping","{field}":'
        + opener * depth
        + {"[": "]", '{"a":': "}"}[opener] * depth
        + "}"
    ),
    st.integers(200, 1100),
    st.sampled_from(["ts", "request_id", "content"]),
    st.sampled_from(["[", '{"a":']),
)
frames = st.one_of(
    known_fields.map(lambda f: json.dumps(f)),
    json_values.map(lambda v: json.dumps(v)),
    deep,
    st.text(max_size=200),
    st.just('{"type":"chat","content":"' + "x" * 60000 + '"}'),
    st.just("1e999999"),
    st.just('{"type": "ping", "ts": 1e400}'),
)


@FUZZ
@given(frame=frames)
def test_malformed_frames_get_error_frames_never_1011(server: str, frame: str) -> None:
    with connect(f"ws://{server}/ws/chat", max_size=None) as ws:
        assert orjson.loads(ws.recv())["type"] == "session"
        try:
            ws.send(frame)
            ws.send('{"type":"ping","ts":"marker"}')
            while True:
                reply = orjson.loads(ws.recv(timeout=10))
                if reply["type"] == "error":
                    assert reply["code"] in ERROR_CODES, reply
                    assert "Traceback" not in reply["message"]
                if reply["type"] == "pong" and reply["ts"] == "marker":
                    break
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code in (1008, 1009), closed


# --- HTTP bodies

boundaries = st.text(alphabet="abcXYZ019-_'", min_size=0, max_size=20)
content_types = st.one_of(
    boundaries.map(lambda b: f"multipart/form-data; boundary={b}"),
    st.sampled_from(["multipart/form-data", "application/json", "text/plain", "", "multipart/x"]),
)
multipart_parts = st.lists(
    st.tuples(
        st.sampled_from(["file", "other", "", 'fi"le']),
        st.sampled_from(["x.xlsx", "x.csv", "", "../../x.ods", "x.xls", 'a";b.xlsx']),
        st.binary(max_size=300),
    ),
    max_size=3,
)


def multipart(boundary: str, parts: list[tuple[str, str, bytes]], tail: bytes) -> bytes:
    body = b""
    for name, filename, data in parts:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    return body + tail


@FUZZ
@given(
    content_type=content_types,
    body=st.one_of(
        st.binary(max_size=500),
        st.builds(
            multipart, boundaries, multipart_parts, st.sampled_from([b"", b"--abc--", b"--"])
        ),
    ),
)
def test_malformed_uploads_get_4xx(server: str, content_type: str, body: bytes) -> None:
    response = httpx.post(
        f"http://{server}/api/workbooks", content=body, headers={"content-type": content_type}
    )
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()


@FUZZ
@given(
    path=st.sampled_from(
        ["/api/workbooks/wb_xxxxxxxxxxxxxxxx/query", "/api/admin/broadcast", "/api/workbooks/x"]
    ),
    body=st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
    ),
)
def test_malformed_json_bodies_get_4xx(server: str, path: str, body: bytes) -> None:
    response = httpx.post(
        f"http://{server}{path}", content=body, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text


def _zipped(kind: str) -> bytes:
    if kind == "xlsx":
        return small_workbook()
    if kind == "csv":
        return b"region,revenue\nNorth,1234.5\nSouth,800.25\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as ods:
        ods.writestr("mimetype", b"application/vnd.oasis.opendocument.spreadsheet")
        ods.writestr("content.xml", b"<office:document-content/>")
    return buffer.getvalue()


@settings(FUZZ, max_examples=30)
@given(
    kind=st.sampled_from(["xlsx", "ods", "csv"]),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=6),
    cut=st.none() | st.floats(0, 1),
)
def test_damaged_workbooks_are_refused_or_read_never_a_5xx(
    server: str, kind: str, flips: list[tuple[float, int]], cut: float | None
) -> None:
    data = bytearray(_zipped(kind))
    for where, value in flips:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    response = httpx.post(
        f"http://{server}/api/workbooks",
        files={"file": (f"x.{kind}", bytes(data))},
        timeout=120,
    )
    assert response.status_code in (201, 400, 413, 415, 422), response.text


# --- SQL against a real workbook


@pytest.fixture(scope="module")
def workbook_id(server: str) -> str:
    files = {"file": ("sales.xlsx", small_workbook())}
    response = httpx.post(f"http://{server}/api/workbooks", files=files, timeout=60)
    assert response.status_code == 201, response.text
    return str(response.json()["workbook_id"])


SQL_WORDS = [
    "SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "LIMIT", "WITH", "AS", "UNION", "JOIN",
    "ON", "(", ")", ",", "*", "'", '"', ";", "--", "/*", "1", "-1", "1e308", "NULL", "sales",
    "sheet1", "information_schema.tables", "pg_settings", "duckdb_settings()", "range(3)",
    "repeat('x', 3)", "read_csv('/etc/passwd')", "CAST(1 AS HUGEINT)", "[1, 2]", "{'a': 1}",
    "count(*)", "sum(revenue)", "region", "revenue", "x'00'", "INSTALL", "ATTACH", "PRAGMA",
    "COPY", "SET", "main.", "workbook.", "system.", "temp.", "::VARCHAR", "::BLOB", "::UUID",
    "(SHOW temp_directory)", "(DESCRIBE sales)", "(SUMMARIZE", "SHOW", "temp_directory",
]  # fmt: skip
sql_texts = st.one_of(
    st.lists(st.sampled_from(SQL_WORDS), min_size=1, max_size=14).map(" ".join),
    st.lists(st.sampled_from(SQL_WORDS), max_size=8).map(lambda w: "SELECT " + " ".join(w)),
    st.text(max_size=120),
    st.builds(lambda n: "SELECT " + "(" * n + "1" + ")" * n, st.integers(0, 3000)),
)


@FUZZ
@given(sql=sql_texts)
def test_any_sql_gets_rows_or_a_4xx_that_names_no_path(
    server: str, workbook_id: str, sql: str
) -> None:
    response = httpx.post(
        f"http://{server}/api/workbooks/{workbook_id}/query", json={"sql": sql}, timeout=30
    )
    assert response.status_code in (200, 400, 429, 503), response.text
    body = response.json()
    assert "/workbooks/wb_" not in response.text, body  # neither in a message nor in the rows
    if response.status_code != 200:
        assert body["error"] in ERROR_CODES, body


def test_the_server_is_healthy_after_the_fuzzing(server: str) -> None:
    with connect(f"ws://{server}/ws/chat") as ws:
        assert orjson.loads(ws.recv())["type"] == "session"
        ws.send('{"type":"chat","content":"still there?"}')
        kinds = []
        while "end" not in kinds:
            kinds.append(orjson.loads(ws.recv(timeout=10))["type"])
    assert kinds[0] == "start" and kinds[-1] == "end"
