"""`/ws/admin`: token required, live figures, sessions, broadcast receipts, disconnect, cancel."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sheetstream.client import SheetstreamClient
from sheetstream.errors import Unavailable
from tests.conftest import RunningServer, StartServer

TOKEN = "admin-t0ken"


async def ask(admin: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    await admin.send(orjson.dumps(frame).decode())
    reply: dict[str, Any] = orjson.loads(await admin.recv())
    return reply


def admin_url(srv: RunningServer, token: str = TOKEN) -> str:
    return f"{srv.ws}/ws/admin?token={token}"


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_admin_needs_the_admin_token(start_server: StartServer, token: str | None) -> None:
    srv = await start_server(admin_token=TOKEN)
    url = f"{srv.ws}/ws/admin" + (f"?token={token}" if token else "")
    with pytest.raises(InvalidStatus) as info:
        async with connect(url):
            pass
    assert info.value.response.status_code == 403


async def test_admin_is_off_without_a_configured_token(start_server: StartServer) -> None:
    srv = await start_server()
    with pytest.raises(InvalidStatus):
        async with connect(admin_url(srv, "anything")):
            pass


async def test_chat_token_is_not_an_admin_token_and_header_auth_works(
    start_server: StartServer,
) -> None:
    srv = await start_server(admin_token=TOKEN)
    async with connect(
        f"{srv.ws}/ws/admin", additional_headers={"Authorization": f"Bearer {TOKEN}"}
    ) as admin:
        reply = await ask(admin, {"type": "sessions", "request_id": "a1"})
    assert reply["type"] == "sessions" and reply["request_id"] == "a1"


async def test_stats_sessions_broadcast_and_receipt(start_server: StartServer) -> None:
    srv = await start_server(admin_token=TOKEN, synthetic_rate=50)
    async with (
        connect(admin_url(srv)) as admin,
        SheetstreamClient.connect(f"{srv.ws}/ws/room-1") as one,
        SheetstreamClient.connect(f"{srv.ws}/ws/room-2") as two,
    ):
        await one.chat("long answer")
        await asyncio.sleep(0.1)
        stats = await ask(admin, {"type": "stats"})
        assert stats["connections"]["active"] == 2 and len(stats["queue_depth"]) == 2
        sessions = (await ask(admin, {"type": "sessions"}))["sessions"]
        by_id = {s["session_id"]: s for s in sessions}
        assert by_id["room-1"]["streaming"] is True and by_id["room-1"]["mode"] == "token"
        assert by_id["room-2"]["streaming"] is False
        assert by_id["room-1"]["connections"][0]["remote"].startswith("127.0.0.1:")
        receipt = await ask(
            admin, {"type": "broadcast", "content": "Maintenance at 18:00", "level": "warning"}
        )
        node = stats["node"]
        assert receipt == {
            "type": "receipt",
            "request_id": None,
            "delivered": 2,
            "failed": 0,
            "nodes": {node: {"delivered": 2, "failed": 0}},
            "missing": 0,
        }
        only = await ask(
            admin, {"type": "broadcast", "content": "just you", "session_id": "room-2"}
        )
        assert only["delivered"] == 1
        seen = []
        while len(seen) < 2:
            frame = await two.recv()
            if frame["type"] == "broadcast":
                seen.append(frame)
        assert [f["content"] for f in seen] == ["Maintenance at 18:00", "just you"]
        assert seen[0]["level"] == "warning" and isinstance(seen[0]["ts"], float)
        bad = await ask(admin, {"type": "broadcast", "content": "x", "level": "loud"})
        assert bad["type"] == "error" and bad["code"] == "bad_request"


async def test_stats_are_pushed_at_the_chosen_interval(start_server: StartServer) -> None:
    srv = await start_server(admin_token=TOKEN)
    async with connect(admin_url(srv)) as admin:
        first = await ask(admin, {"type": "stats", "interval_ms": 100})
        pushed = [orjson.loads(await admin.recv()) for _ in range(3)]
        await ask(admin, {"type": "stats", "interval_ms": 0})  # stop
    assert first["type"] == "stats" and all(p["type"] == "stats" for p in pushed)


async def test_disconnect_and_cancel(start_server: StartServer) -> None:
    srv = await start_server(admin_token=TOKEN, synthetic_rate=20)
    async with connect(admin_url(srv)) as admin:
        client = await SheetstreamClient.connect(f"{srv.ws}/ws/victim")
        request_id = await client.chat("long")
        frames = []
        async for frame in client.follow(request_id):
            frames.append(frame)
            if frame["type"] == "start":
                cancelled = await ask(admin, {"type": "cancel", "stream_id": frame["stream_id"]})
                assert cancelled["cancelled"] == 1
        assert frames[-1]["type"] == "end" and frames[-1]["reason"] == "cancelled"
        closed = await ask(admin, {"type": "disconnect", "session_id": "victim", "reason": "bye"})
        assert closed["closed"] == 1
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await client.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        missing = await ask(admin, {"type": "cancel", "stream_id": "st_nope"})
        assert missing["code"] == "not_found"


async def test_http_twins_for_scripts(start_server: StartServer) -> None:
    srv = await start_server(admin_token=TOKEN)
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with (
        SheetstreamClient.connect(f"{srv.ws}/ws/script-room") as client,
        httpx.AsyncClient(base_url=srv.http) as http,
    ):
        listed = (await http.get("/api/admin/sessions", headers=headers)).json()
        assert [s["session_id"] for s in listed["sessions"]] == ["script-room"]
        sent = await http.post(
            "/api/admin/broadcast", json={"content": "hello all"}, headers=headers
        )
        receipt = sent.json()["receipt"]
        assert receipt["delivered"] == 1 and receipt["failed"] == 0 and receipt["missing"] == 0
        assert list(receipt["nodes"].values()) == [{"delivered": 1, "failed": 0}]
        frame = await client.recv()
        assert frame["type"] == "broadcast" and frame["content"] == "hello all"
        assert (await http.get("/api/admin/sessions")).status_code == 401
        wrong = await http.get("/api/admin/sessions", headers={"authorization": "Bearer x"})
        assert wrong.status_code == 403


async def test_http_admin_is_off_without_a_token(start_server: StartServer) -> None:
    srv = await start_server()
    async with httpx.AsyncClient(base_url=srv.http) as http:
        off = await http.get("/api/admin/sessions", headers={"authorization": "Bearer x"})
    assert off.status_code == 403 and "SHEETSTREAM_ADMIN_TOKEN" in off.json()["message"]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "broadcast", "content": "x", "session_id": [1]},
        {"type": "broadcast", "content": "x", "owner": {"a": 1}},
        {"type": "broadcast", "content": "x", "level": 3},
        {"type": "disconnect", "connection_id": 7},
        {"type": "disconnect", "session_id": "room-1", "reason": ["r"]},
    ],
)
async def test_ill_typed_admin_fields_get_an_error_and_the_channel_stays(
    start_server: StartServer, frame: dict[str, Any]
) -> None:
    srv = await start_server(admin_token=TOKEN)
    async with connect(admin_url(srv)) as admin:
        reply = await ask(admin, {**frame, "request_id": "a1"})
        assert reply["type"] == "error" and reply["code"] == "bad_request"
        assert reply["request_id"] == "a1" and "must be a string" in reply["message"]
        assert (await ask(admin, {"type": "sessions"}))["type"] == "sessions"


async def test_a_long_disconnect_reason_is_cut_to_fit_the_close_frame(
    start_server: StartServer,
) -> None:
    srv = await start_server(admin_token=TOKEN)
    async with (
        connect(admin_url(srv)) as admin,
        connect(f"{srv.ws}/ws/room-1") as chat,
    ):
        await chat.recv()  # session
        reason = "é" * 200  # 400 bytes of UTF-8; a close frame holds 123
        receipt = await ask(admin, {"type": "disconnect", "session_id": "room-1", "reason": reason})
        assert receipt["closed"] == 1
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await chat.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        got = closed.value.rcvd.reason
        assert got.endswith("…") and len(got.encode()) <= 123 and reason.startswith(got[:-1])


async def test_broadcast_to_an_unknown_session_is_not_found(start_server: StartServer) -> None:
    srv = await start_server(admin_token=TOKEN)
    async with connect(admin_url(srv)) as admin:
        reply = await ask(admin, {"type": "broadcast", "content": "x", "session_id": "nobody"})
    assert reply["type"] == "error" and reply["code"] == "not_found"


async def test_admin_handshake_from_a_foreign_page_is_refused(start_server: StartServer) -> None:
    srv = await start_server(admin_token=TOKEN)
    with pytest.raises(InvalidStatus) as info:
        async with connect(admin_url(srv), origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert info.value.response.status_code == 403
    async with connect(admin_url(srv), origin=f"http://127.0.0.1:{srv.port}") as admin:  # type: ignore[arg-type]
        assert (await ask(admin, {"type": "sessions"}))["type"] == "sessions"


async def test_without_the_broker_actions_fail_and_figures_come_from_this_node(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = await start_server(admin_token=TOKEN)
    hub = srv.app.state.chat.broker.hub

    async def unreachable(channel: str, message: str) -> int:
        raise Unavailable("The broker is not answering.")

    async with connect(admin_url(srv)) as admin, SheetstreamClient.connect(f"{srv.ws}/ws/room"):
        monkeypatch.setattr(hub, "publish", unreachable)
        sent = await ask(admin, {"type": "broadcast", "content": "x"})
        assert sent["type"] == "error" and sent["code"] == "unavailable"
        stats = await ask(admin, {"type": "stats"})
        assert stats["partial"] is True and stats["connections"]["active"] == 1
        assert list(stats["nodes"]) == [stats["node"]]
        assert stats["fleet"]["connections"]["active"] == 1
        listed = (await ask(admin, {"type": "sessions"}))["sessions"]
        assert [s["session_id"] for s in listed] == ["room"]
        assert listed[0]["node"] == stats["node"]
