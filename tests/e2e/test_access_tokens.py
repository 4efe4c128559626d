"""User tokens end to end: who may connect, what each owner sees, per-owner limits, and that no
token ever reaches a log, an error frame or an error body."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sheetstream.client import SheetstreamClient
from tests.conftest import SAMPLE, RunningServer, StartServer, small_workbook

Frame = dict[str, Any]

ALICE = "alice-t0ken-4f9c2a7e1b"
BOB = "bob-t0ken-8d3e6f0a5c2b"
ADMIN = "admin-t0ken-1a2b3c4d5e6f"
WRONG = "wrong-t0ken-9e8d7c6b5a4f"
TOKENS = [f"alice:{ALICE}", f"bob:{BOB}"]
SECRETS = (ALICE, BOB, ADMIN, WRONG)

# A long answer: 400 synthetic tokens at 20 per second keep a stream running for 20 s.
LONG = {"synthetic_rate": 20, "synthetic_text": "", "synthetic_tokens": 400}


# --- helpers


def creds(token: str | None, via: str = "header") -> dict[str, Any]:
    """httpx keyword arguments that carry `token` in the Authorization header or `?token=`."""
    if token is None:
        return {}
    if via == "header":
        return {"headers": {"Authorization": f"Bearer {token}"}}
    assert via == "query"
    return {"params": {"token": token}}


def ws_options(token: str | None, via: str = "header") -> tuple[str, dict[str, Any]]:
    """(query suffix, connect keyword arguments) that carry `token` on a handshake."""
    if token is None:
        return "", {}
    if via == "header":
        return "", {"additional_headers": {"Authorization": f"Bearer {token}"}}
    assert via == "query"
    return f"token={token}", {}


def chat_url(srv: RunningServer, path: str, token: str | None, via: str = "header") -> str:
    query, _ = ws_options(token, via)
    if not query:
        return f"{srv.ws}{path}"
    return f"{srv.ws}{path}{'&' if '?' in path else '?'}{query}"


@asynccontextmanager
async def chat(
    srv: RunningServer, path: str, token: str, via: str = "query"
) -> AsyncIterator[SheetstreamClient]:
    _, options = ws_options(token, via)
    async with SheetstreamClient.connect(chat_url(srv, path, token, via), **options) as client:
        yield client


async def upload(srv: RunningServer, token: str | None, via: str = "header") -> httpx.Response:
    async with httpx.AsyncClient(base_url=srv.http, timeout=60) as http:
        return await http.post(
            "/api/workbooks",
            files={"file": ("sales.xlsx", small_workbook())},
            **creds(token, via),
        )


async def next_frame(client: SheetstreamClient) -> Frame:
    return await asyncio.wait_for(client.recv(), 10)


async def frames_until_pong(client: SheetstreamClient) -> list[Frame]:
    """Every frame the client gets up to and including the answer to a ping."""
    await client.send({"type": "ping", "ts": 42})
    frames = []
    while True:
        frame = await next_frame(client)
        frames.append(frame)
        if frame["type"] == "pong":
            return frames


async def wait_for_start(client: SheetstreamClient, request_id: str) -> Frame:
    while True:
        frame = await next_frame(client)
        if frame["type"] == "start" and frame["request_id"] == request_id:
            return frame
        assert frame["type"] != "error", frame


async def wait_for_end(client: SheetstreamClient, stream_id: str) -> Frame:
    while True:
        frame = await next_frame(client)
        if frame["type"] == "end" and frame["stream_id"] == stream_id:
            return frame


def assert_clean(text: str) -> None:
    """An error frame or body: no token of anyone, no stack trace."""
    for secret in SECRETS:
        assert secret not in text, text
    assert "Traceback" not in text, text


# --- health


@pytest.mark.parametrize("configured", [True, False], ids=["tokens", "open"])
@pytest.mark.parametrize("accept", ["application/json", None], ids=["json", "no-accept"])
async def test_health_stays_open_and_reports_the_access_mode(
    start_server: StartServer, configured: bool, accept: str | None
) -> None:
    srv = await start_server(api_tokens=TOKENS if configured else [])
    async with httpx.AsyncClient(base_url=srv.http) as http:
        del http.headers["accept"]
        headers = {} if accept is None else {"accept": accept}
        health = await http.get("/", headers=headers)
    assert health.status_code == 200, health.text
    assert health.headers["content-type"].startswith("application/json")
    assert health.json()["access"] == ("tokens" if configured else "open")


# --- HTTP API


REFUSALS = [
    pytest.param(None, "header", 401, "unauthorized", id="missing"),
    pytest.param(WRONG, "header", 403, "forbidden", id="unknown-bearer"),
    pytest.param(WRONG, "query", 403, "forbidden", id="unknown-query"),
    pytest.param(ADMIN, "header", 403, "forbidden", id="admin-bearer"),
    pytest.param(ADMIN, "query", 403, "forbidden", id="admin-query"),
]

ENDPOINTS = ["list", "upload", "describe", "delete", "query", "messages"]


async def call(
    http: httpx.AsyncClient,
    endpoint: str,
    workbook_id: str,
    session_id: str,
    options: dict[str, Any],
) -> httpx.Response:
    if endpoint == "list":
        return await http.get("/api/workbooks", **options)
    if endpoint == "upload":
        files = {"file": ("sales.xlsx", small_workbook())}
        return await http.post("/api/workbooks", files=files, **options)
    if endpoint == "describe":
        return await http.get(f"/api/workbooks/{workbook_id}", **options)
    if endpoint == "delete":
        return await http.delete(f"/api/workbooks/{workbook_id}", **options)
    if endpoint == "query":
        sql = {"sql": "SELECT 1 AS one"}
        return await http.post(f"/api/workbooks/{workbook_id}/query", json=sql, **options)
    assert endpoint == "messages"
    return await http.get(f"/api/sessions/{session_id}/messages", **options)


@pytest.mark.parametrize(("token", "via", "status", "code"), REFUSALS)
async def test_http_api_refuses_requests_without_a_user_token(
    start_server: StartServer, token: str | None, via: str, status: int, code: str
) -> None:
    srv = await start_server(api_tokens=TOKENS, admin_token=ADMIN)
    created = await upload(srv, ALICE)
    assert created.status_code == 201, created.text
    workbook_id = created.json()["workbook_id"]
    async with chat(srv, "/ws/alice-room", ALICE) as alice:
        assert (await alice.ask("hello")).reason == "complete"
    async with httpx.AsyncClient(base_url=srv.http, timeout=60) as http:
        for endpoint in ENDPOINTS:
            refused = await call(http, endpoint, workbook_id, "alice-room", creds(token, via))
            assert refused.status_code == status, (endpoint, refused.text)
            body = refused.json()
            assert body["error"] == code and body["message"], (endpoint, body)
            assert_clean(refused.text)
        # nothing was deleted or added by the refused requests
        listed = (await http.get("/api/workbooks", **creds(ALICE))).json()["workbooks"]
        assert [w["workbook_id"] for w in listed] == [workbook_id]


@pytest.mark.parametrize("via", ["header", "query"])
async def test_a_user_token_opens_the_http_api(start_server: StartServer, via: str) -> None:
    srv = await start_server(api_tokens=TOKENS, admin_token=ADMIN)
    created = await upload(srv, ALICE, via)
    assert created.status_code == 201, created.text
    workbook_id = created.json()["workbook_id"]
    table = created.json()["sheets"][0]["table"]
    async with chat(srv, "/ws/alice-room", ALICE, via) as alice:
        assert (await alice.ask("hello")).reason == "complete"
    async with httpx.AsyncClient(base_url=srv.http) as http:
        listed = await http.get("/api/workbooks", **creds(ALICE, via))
        assert [w["workbook_id"] for w in listed.json()["workbooks"]] == [workbook_id]
        described = await http.get(f"/api/workbooks/{workbook_id}", **creds(ALICE, via))
        assert described.status_code == 200 and described.json()["workbook_id"] == workbook_id
        answer = await http.post(
            f"/api/workbooks/{workbook_id}/query",
            json={"sql": f"SELECT sum(revenue) AS total FROM {table}"},
            **creds(ALICE, via),
        )
        assert answer.status_code == 200 and answer.json()["rows"] == [[2034.75]], answer.text
        history = await http.get("/api/sessions/alice-room/messages", **creds(ALICE, via))
        assert history.status_code == 200, history.text
        assert [m["answer"] for m in history.json()["messages"]] == [SAMPLE]
        # Bob's token works too, and shows him nothing of Alice's
        bobs = await http.get("/api/workbooks", **creds(BOB, via))
        assert bobs.status_code == 200 and bobs.json()["workbooks"] == []
        gone = await http.delete(f"/api/workbooks/{workbook_id}", **creds(ALICE, via))
        assert gone.status_code == 204


async def test_tokens_file_entries_open_the_api(start_server: StartServer, tmp_path: Path) -> None:
    carol, dave = "carol-t0ken-0a1b2c3d4e", "dave-t0ken-5f6a7b8c9d"
    path = tmp_path / "tokens.txt"
    path.write_text(f"# the team\ncarol:{carol}\n\n  dave:{dave}  \n", encoding="utf-8")
    srv = await start_server(api_tokens=[f"alice:{ALICE}"], api_tokens_file=path)
    async with httpx.AsyncClient(base_url=srv.http) as http:
        assert (await http.get("/")).json()["access"] == "tokens"
        for token, via in [(carol, "header"), (dave, "query"), (ALICE, "header")]:
            ok = await http.get("/api/workbooks", **creds(token, via))
            assert ok.status_code == 200, (token, ok.text)
        refused = await http.get("/api/workbooks", **creds("# the team"))
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    async with chat(srv, "/ws/chat", dave) as client:
        assert (await client.ask("hi")).reason == "complete"


# --- chat handshakes


HANDSHAKE_REFUSALS = [
    pytest.param(None, "header", id="missing"),
    pytest.param(WRONG, "header", id="unknown-bearer"),
    pytest.param(WRONG, "query", id="unknown-query"),
    pytest.param(ADMIN, "header", id="admin-bearer"),
    pytest.param(ADMIN, "query", id="admin-query"),
]


@pytest.mark.parametrize("path", ["/ws/chat", "/ws/some-room"])
@pytest.mark.parametrize(("token", "via"), HANDSHAKE_REFUSALS)
async def test_chat_handshake_without_a_user_token_is_refused_with_403(
    start_server: StartServer, path: str, token: str | None, via: str
) -> None:
    srv = await start_server(api_tokens=TOKENS, admin_token=ADMIN)
    _, options = ws_options(token, via)
    with pytest.raises(InvalidStatus) as info:
        async with connect(chat_url(srv, path, token, via), **options):
            pass
    assert info.value.response.status_code == 403
    assert_clean(info.value.response.body.decode("utf-8", "replace"))
    assert srv.app.state.chat.stats.connections_total == 0


@pytest.mark.parametrize("path", ["/ws/chat", "/ws/some-room"])
@pytest.mark.parametrize("via", ["header", "query"])
async def test_chat_handshake_with_a_user_token_is_accepted(
    start_server: StartServer, path: str, via: str
) -> None:
    srv = await start_server(api_tokens=TOKENS, admin_token=ADMIN)
    async with chat(srv, path, BOB, via) as client:
        answer = await client.ask("hello")
    assert answer.reason == "complete" and answer.text == SAMPLE


@pytest.mark.parametrize("via", ["header", "query"])
async def test_a_user_token_does_not_open_the_admin_channel(
    start_server: StartServer, via: str
) -> None:
    srv = await start_server(api_tokens=TOKENS, admin_token=ADMIN)
    _, options = ws_options(ALICE, via)
    with pytest.raises(InvalidStatus) as info:
        async with connect(chat_url(srv, "/ws/admin", ALICE, via), **options):
            pass
    assert info.value.response.status_code == 403
    # the admin token still does
    async with connect(chat_url(srv, "/ws/admin", ADMIN, via), **ws_options(ADMIN, via)[1]) as ws:
        await ws.send(orjson.dumps({"type": "sessions", "request_id": "s1"}).decode())
        reply = orjson.loads(await ws.recv())
    assert reply["type"] == "sessions" and reply["request_id"] == "s1"


# --- ownership


@pytest.mark.parametrize("form", ["path", "query"])
async def test_another_owners_session_is_closed_as_if_it_did_not_exist(
    start_server: StartServer, form: str
) -> None:
    srv = await start_server(api_tokens=TOKENS)
    async with chat(srv, "/ws/chat", ALICE) as alice:
        session_id = alice.session_id
        assert (await alice.ask("secret plans")).reason == "complete"
    path = f"/ws/{session_id}" if form == "path" else f"/ws/chat?session_id={session_id}"
    async with connect(chat_url(srv, path, BOB, "query")) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
    close = info.value.rcvd
    assert close is not None and close.code == 1008
    assert "No such session" in close.reason
    assert_clean(close.reason)
    # Alice's session is untouched
    async with chat(srv, f"/ws/{session_id}", ALICE) as again:
        assert again.session_id == session_id
    async with httpx.AsyncClient(base_url=srv.http) as http:
        history = await http.get(f"/api/sessions/{session_id}/messages", **creds(ALICE))
    assert [m["question"] for m in history.json()["messages"]] == ["secret plans"]


@pytest.mark.parametrize("via", ["header", "query"])
async def test_another_owners_history_is_404_like_a_missing_session(
    start_server: StartServer, via: str
) -> None:
    srv = await start_server(api_tokens=TOKENS)
    async with chat(srv, "/ws/alice-room", ALICE) as alice:
        assert (await alice.ask("secret plans")).reason == "complete"
    async with httpx.AsyncClient(base_url=srv.http) as http:
        theirs = await http.get("/api/sessions/alice-room/messages", **creds(BOB, via))
        missing = await http.get("/api/sessions/no-such-room/messages", **creds(BOB, via))
        mine = await http.get("/api/sessions/alice-room/messages", **creds(ALICE, via))
    assert theirs.status_code == 404 == missing.status_code
    assert theirs.json() == missing.json()
    assert theirs.json()["error"] == "not_found"
    assert "secret plans" not in theirs.text and SAMPLE[:20] not in theirs.text
    assert_clean(theirs.text)
    assert mine.status_code == 200 and len(mine.json()["messages"]) == 1


@pytest.mark.parametrize("running", [False, True], ids=["finished", "running"])
async def test_another_owners_stream_cannot_be_resumed(
    start_server: StartServer, running: bool
) -> None:
    srv = await start_server(api_tokens=TOKENS, **(LONG if running else {}))
    async with (
        chat(srv, "/ws/alice-room", ALICE) as alice,
        chat(srv, "/ws/bob-room", BOB, "header") as bob,
        chat(srv, "/ws/alice-other", ALICE) as alice_elsewhere,
    ):
        if running:
            request_id = await alice.chat("long secret")
            stream_id = (await wait_for_start(alice, request_id))["stream_id"]
            first = await next_frame(alice)
            assert first["type"] == "chunk", first
            secret_text = first["text"]
        else:
            answer = await alice.ask("secret")
            assert answer.reason == "complete" and answer.stream_id is not None
            stream_id, secret_text = answer.stream_id, SAMPLE[:30]

        await bob.send({"type": "resume", "stream_id": stream_id, "after_seq": 0})
        await asyncio.sleep(0.5)  # a running stream would have produced chunks by now
        theirs = await frames_until_pong(bob)
        await bob.send({"type": "resume", "stream_id": "st_" + "x" * 22, "after_seq": 0})
        unknown = await frames_until_pong(bob)

        # the same owner, from another session, does get it (so the check above can fail)
        await alice_elsewhere.send({"type": "resume", "stream_id": stream_id, "after_seq": 0})
        control = await next_frame(alice_elsewhere)
        if running:
            await alice.cancel(request_id)

    errors = [f for f in theirs if f["type"] == "error"]
    assert [f["type"] for f in theirs] == ["error", "pong"], theirs
    assert errors[0]["code"] == "stream_expired" == unknown[0]["code"]
    assert errors[0]["message"].replace(stream_id[:64], "ID") == unknown[0]["message"].replace(
        "st_" + "x" * 22, "ID"
    )
    dumped = orjson.dumps(theirs).decode()
    assert secret_text not in dumped
    assert_clean(dumped)
    assert control["type"] == "chunk" and control["stream_id"] == stream_id
    assert control["text"].startswith(secret_text[:5])


@pytest.mark.parametrize("via", ["header", "query"])
async def test_another_owners_workbook_is_not_found_and_survives(
    start_server: StartServer, via: str
) -> None:
    srv = await start_server(api_tokens=TOKENS)
    created = await upload(srv, ALICE)
    assert created.status_code == 201, created.text
    workbook_id = created.json()["workbook_id"]
    table = created.json()["sheets"][0]["table"]
    other = "wb_" + "x" * 22
    sql = {"sql": f"SELECT * FROM {table}"}
    async with httpx.AsyncClient(base_url=srv.http, timeout=60) as http:
        bob = creds(BOB, via)
        for method, suffix, body in [
            ("GET", "", None),
            ("DELETE", "", None),
            ("POST", "/query", sql),
        ]:
            theirs = await http.request(
                method, f"/api/workbooks/{workbook_id}{suffix}", json=body, **bob
            )
            missing = await http.request(
                method, f"/api/workbooks/{other}{suffix}", json=body, **bob
            )
            assert theirs.status_code == 404 == missing.status_code, (method, theirs.text)
            assert theirs.json()["error"] == "workbook_not_found", theirs.text
            assert theirs.json()["message"].replace(workbook_id, "ID") == missing.json()[
                "message"
            ].replace(other, "ID")
            assert "North" not in theirs.text and "Sales" not in theirs.text
            assert_clean(theirs.text)
        listed = (await http.get("/api/workbooks", **bob)).json()["workbooks"]
        assert workbook_id not in orjson.dumps(listed).decode()
        # still Alice's, whole
        assert (await http.get(f"/api/workbooks/{workbook_id}", **creds(ALICE))).status_code == 200
        alices = (await http.get("/api/workbooks", **creds(ALICE))).json()["workbooks"]
        assert [w["workbook_id"] for w in alices] == [workbook_id]
        rows = await http.post(f"/api/workbooks/{workbook_id}/query", json=sql, **creds(ALICE))
        assert rows.status_code == 200 and len(rows.json()["rows"]) == 2
    assert (srv.settings.data_dir / "workbooks" / workbook_id).is_dir()


@pytest.mark.parametrize("content", ["/sheets", "Which region sold most?"])
async def test_chat_with_another_owners_workbook_is_workbook_not_found(
    start_server: StartServer, content: str
) -> None:
    srv = await start_server(api_tokens=TOKENS)
    created = await upload(srv, ALICE)
    workbook_id = created.json()["workbook_id"]
    async with chat(srv, "/ws/bob-room", BOB) as bob:
        await bob.chat(content, request_id="b1", workbook_id=workbook_id)
        refused = await frames_until_pong(bob)
        # it was not attached to Bob's session either
        await bob.chat("/sheets", request_id="b2")
        later = await frames_until_pong(bob)
    assert [f["type"] for f in refused] == ["error", "pong"], refused
    assert refused[0]["code"] == "workbook_not_found" and refused[0]["request_id"] == "b1"
    assert later[0]["code"] == "workbook_not_found" and later[0]["request_id"] == "b2"
    dumped = orjson.dumps(refused + later).decode()
    assert "Sales" not in dumped and "North" not in dumped
    assert_clean(dumped)
    async with chat(srv, "/ws/alice-room", ALICE) as alice:
        sheets = await alice.ask("/sheets", workbook_id=workbook_id)
    assert "Sales" in sheets.text


# --- per-owner generation cap


async def test_an_owner_over_the_generation_cap_gets_busy_others_do_not(
    start_server: StartServer,
) -> None:
    srv = await start_server(api_tokens=TOKENS, max_generations_per_owner=2, **LONG)
    async with (
        chat(srv, "/ws/a1", ALICE) as a1,
        chat(srv, "/ws/a2", ALICE, "header") as a2,
        chat(srv, "/ws/a3", ALICE) as a3,
        chat(srv, "/ws/b1", BOB) as b1,
    ):
        first = await a1.chat("long one", request_id="a1")
        first_stream = (await wait_for_start(a1, first))["stream_id"]
        await wait_for_start(a2, await a2.chat("long two", request_id="a2"))
        await a3.chat("one too many", request_id="a3")
        refused = await frames_until_pong(a3)
        assert [f["type"] for f in refused] == ["error", "pong"], refused
        assert refused[0]["code"] == "busy" and refused[0]["request_id"] == "a3"
        assert_clean(orjson.dumps(refused).decode())
        # another owner is not held back by Alice's answers
        await wait_for_start(b1, await b1.chat("mine", request_id="b1"))
        # once one of Alice's answers ends, she may start another
        await a1.cancel(first)
        end = await wait_for_end(a1, first_stream)
        assert end["reason"] == "cancelled"
        await wait_for_start(a3, await a3.chat("now it fits", request_id="a3-again"))
        for client, request_id in [(a2, "a2"), (a3, "a3-again"), (b1, "b1")]:
            await client.cancel(request_id)


async def test_the_generation_cap_does_not_apply_to_an_open_service(
    start_server: StartServer,
) -> None:
    srv = await start_server(max_generations_per_owner=1, **LONG)
    async with (
        SheetstreamClient.connect(f"{srv.ws}/ws/one") as one,
        SheetstreamClient.connect(f"{srv.ws}/ws/two") as two,
    ):
        await wait_for_start(one, await one.chat("long", request_id="o1"))
        await wait_for_start(two, await two.chat("long", request_id="t1"))
        await one.cancel("o1")
        await two.cancel("t1")


# --- logs


async def test_no_token_reaches_the_logs_frames_or_bodies(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    # the test's own clients log their requests (URLs, headers): only the server's logs count
    for client_logger in ("httpx", "httpcore", "websockets.client", "hpack"):
        caplog.set_level(logging.WARNING, logger=client_logger)
    caplog.set_level(logging.DEBUG)  # last: each call also sets the capture handler's level
    srv = await start_server(api_tokens=TOKENS, admin_token=ADMIN, log_level="debug")
    # uvicorn's own loggers do not propagate to the root logger: listen to them directly
    uvicorn_loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.access")]
    for logger in uvicorn_loggers:
        logger.addHandler(caplog.handler)
    seen: list[str] = []  # error bodies, refusals and frames the clients received
    try:
        created = await upload(srv, ALICE, "query")
        assert created.status_code == 201, created.text
        workbook_id = created.json()["workbook_id"]
        async with httpx.AsyncClient(base_url=srv.http, timeout=60) as http:
            for token, via in [
                (ALICE, "header"),
                (BOB, "query"),
                (WRONG, "header"),
                (WRONG, "query"),
                (ADMIN, "header"),
                (ADMIN, "query"),
                (None, "header"),
            ]:
                listed = await http.get("/api/workbooks", **creds(token, via))
                described = await http.get(f"/api/workbooks/{workbook_id}", **creds(token, via))
                history = await http.get("/api/sessions/nope/messages", **creds(token, via))
                seen += [listed.text, described.text, history.text]
        async with chat(srv, "/ws/alice-room", ALICE, "query") as alice:
            answer = await alice.ask("hello", workbook_id=workbook_id)
            assert answer.reason == "complete"
            stream_id = answer.stream_id
        async with chat(srv, "/ws/chat", BOB, "header") as bob:
            await bob.send({"type": "resume", "stream_id": stream_id, "after_seq": 0})
            await bob.chat("/sheets", request_id="b1", workbook_id=workbook_id)
            await bob.send({"type": "resume", "stream_id": stream_id, "after_seq": 0})
            seen += [orjson.dumps(f).decode() for f in await frames_until_pong(bob)]
        for token, via in [(WRONG, "query"), (WRONG, "header"), (ADMIN, "query"), (None, "")]:
            _, options = ws_options(token, via)
            with pytest.raises(InvalidStatus) as info:
                async with connect(chat_url(srv, "/ws/chat", token, via), **options):
                    pass
            seen.append(info.value.response.body.decode("utf-8", "replace"))
        async with connect(chat_url(srv, "/ws/alice-room", BOB, "query")) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        seen.append(closed.value.rcvd.reason)
        with pytest.raises(InvalidStatus):
            async with connect(chat_url(srv, "/ws/admin", ALICE, "query")):
                pass
    finally:
        for logger in uvicorn_loggers:
            logger.removeHandler(caplog.handler)

    logged = caplog.text
    # the capture must have seen the server's request logs, or this test proves nothing
    assert "/api/workbooks" in logged and "/ws/chat" in logged, logged[-3000:]
    assert "refused a chat handshake" in logged
    leaks = [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if any(secret in record.getMessage() for secret in SECRETS)
    ]
    assert leaks == []
    for secret in SECRETS:
        assert secret not in logged
    for text in seen:
        assert_clean(text)


async def test_broadcast_to_one_owner_reaches_only_their_connections(
    start_server: StartServer,
) -> None:
    srv = await start_server(api_tokens=TOKENS, admin_token=ADMIN)
    url = f"{srv.ws}/ws/chat"
    async with (
        SheetstreamClient.connect(url, token=ALICE) as alice_one,
        SheetstreamClient.connect(url, token=ALICE) as alice_two,
        SheetstreamClient.connect(url, token=BOB) as bob,
        httpx.AsyncClient(base_url=srv.http) as http,
    ):
        listed = (await http.get("/api/admin/sessions", **creds(ADMIN))).json()["sessions"]
        owners = sorted(s["owner"] for s in listed)
        assert owners == ["alice", "alice", "bob"]
        assert all(c["owner"] == s["owner"] for s in listed for c in s["connections"])
        reply = await http.post(
            "/api/admin/broadcast",
            json={"content": "for alice", "owner": "alice"},
            **creds(ADMIN),
        )
        receipt = reply.json()["receipt"]
        assert (receipt["delivered"], receipt["failed"], receipt["missing"]) == (2, 0, 0)
        for client in (alice_one, alice_two):
            frame = await asyncio.wait_for(client.recv(), 5)
            assert frame["type"] == "broadcast" and frame["content"] == "for alice"
        # bob got nothing: the next frame he reads is the pong to his own ping
        assert (await bob.ping(7))["type"] == "pong"
        assert not any(f.get("type") == "broadcast" for f in bob.pending)
        both = await http.post(
            "/api/admin/broadcast",
            json={"content": "x", "owner": "alice", "session_id": alice_one.session_id},
            **creds(ADMIN),
        )
        assert both.status_code == 400 and "not both" in both.json()["message"]
