"""Limits end to end: connection caps, message rate, first-message and idle deadlines,
keepalive against a vanished peer, and broadcasts while some clients never read."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sheetstream.client import SheetstreamClient
from tests.conftest import SAMPLE, RunningServer, StartServer

TOKEN = "limits-admin-t0ken"
AUTH = {"authorization": f"Bearer {TOKEN}"}


# --- helpers


async def closed_with(ws: ClientConnection, deadline_s: float = 10.0) -> tuple[int, str]:
    """Read (and drop) frames until the server closes; its close code and reason."""

    async def drain() -> None:
        while True:
            await ws.recv()

    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(drain(), deadline_s)
    assert info.value.rcvd is not None, "no close frame from the server"
    return info.value.rcvd.code, info.value.rcvd.reason


async def eventually(check: Callable[[], Awaitable[bool]], deadline_s: float = 10.0) -> bool:
    """Poll `check` until it holds or the deadline passes (never a timing assertion)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while loop.time() < end:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return await check()


def active(srv: RunningServer) -> int:
    return int(srv.app.state.chat.stats.connections_active)


async def active_is(srv: RunningServer, expected: int) -> bool:
    return active(srv) == expected


async def admitted(ws: ClientConnection) -> dict[str, Any]:
    """The first frame of an admitted connection is `session`; it then answers a ping."""
    first: dict[str, Any] = orjson.loads(await ws.recv())
    assert first["type"] == "session"
    await admitted_again(ws)
    return first


class RawPeer:
    """A WebSocket client written by hand on a bare socket: after the upgrade it reads only
    when told to, and never answers a ping (or anything else)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received = bytearray()  # bytes read after the handshake

    @classmethod
    async def open(cls, srv: RunningServer, path: str, rcvbuf: int | None = None) -> RawPeer:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:  # before connecting, so the window is small from the start
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", srv.port))
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            await loop.sock_sendall(sock, request.encode())
            head = b""
            while b"\r\n\r\n" not in head:
                data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
                assert data, "server closed during the handshake"
                head += data
        except BaseException:
            sock.close()
            raise
        status, _, rest = head.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 101"), status
        peer = cls(sock)
        peer.received += rest
        return peer

    async def send_text(self, text: str) -> None:
        payload = text.encode()
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        frame = bytes([0x81, 0x80 | len(payload)]) + mask + masked
        await asyncio.get_running_loop().sock_sendall(self.sock, frame)

    async def read_to_end(self, deadline_s: float = 10.0) -> bool:
        """Read until the server ends the TCP connection; False if it is still open."""
        loop = asyncio.get_running_loop()

        async def drain() -> None:
            while True:
                try:
                    data = await loop.sock_recv(self.sock, 65536)
                except (ConnectionResetError, BrokenPipeError):
                    return
                if not data:
                    return
                self.received += data

        try:
            await asyncio.wait_for(drain(), deadline_s)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.sock.close()


@contextlib.asynccontextmanager
async def raw_peers(
    srv: RunningServer, paths: list[str], rcvbuf: int | None = None
) -> AsyncIterator[list[RawPeer]]:
    peers: list[RawPeer] = []
    try:
        for path in paths:
            peers.append(await RawPeer.open(srv, path, rcvbuf))
        yield peers
    finally:
        for peer in peers:
            peer.close()


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of the complete unmasked frames in `data`."""
    frames = []
    i = 0
    while i + 2 <= len(data):
        opcode, length = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if length == 126:
            length, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        elif length == 127:
            length, i = int.from_bytes(data[i : i + 8], "big"), i + 8
        if i + length > len(data):
            break
        frames.append((opcode, data[i : i + length]))
        i += length
    return frames


# --- connection caps


async def test_total_connection_cap_refuses_with_1013_and_admits_after_a_close(
    start_server: StartServer,
) -> None:
    srv = await start_server(max_connections=2, max_connections_per_address=0)
    async with (
        httpx.AsyncClient(base_url=srv.http) as http,
        connect(f"{srv.ws}/ws/cap-1") as one,
        connect(f"{srv.ws}/ws/cap-2") as two,
    ):
        await admitted(one)
        await admitted(two)
        async with connect(f"{srv.ws}/ws/cap-3") as third:
            code, reason = await closed_with(third)
        assert code == 1013 and "full" in reason
        # HTTP still answers while the chat side is full
        health = await http.get("/")
        performance = await http.get("/api/websocket/performance")
        assert health.status_code == 200 and performance.status_code == 200
        figures = performance.json()["connections"]
        assert figures["refused"] == 1 and figures["active"] == 2
        assert health.json()["connections"] == 2
        await two.close()
        assert await eventually(lambda: active_is(srv, 1))
        async with connect(f"{srv.ws}/ws/cap-4") as fourth:
            first = await admitted(fourth)
            assert first["session_id"] == "cap-4"
            async with connect(f"{srv.ws}/ws/cap-5") as fifth:
                code, _ = await closed_with(fifth)
            assert code == 1013
        await admitted_again(one)
        figures = (await http.get("/api/websocket/performance")).json()["connections"]
        assert figures["refused"] == 2


async def admitted_again(ws: ClientConnection) -> None:
    """An open, admitted connection still answers a ping."""
    await ws.send(orjson.dumps({"type": "ping", "ts": 2}).decode())
    pong = orjson.loads(await ws.recv())
    assert pong["type"] == "pong" and pong["ts"] == 2


async def test_per_address_cap_counts_each_address_on_its_own(start_server: StartServer) -> None:
    srv = await start_server(max_connections=100, max_connections_per_address=2)
    async with (
        httpx.AsyncClient(base_url=srv.http) as http,
        connect(f"{srv.ws}/ws/addr-1") as one,
        connect(f"{srv.ws}/ws/addr-2") as two,
    ):
        await admitted(one)
        await admitted(two)
        async with connect(f"{srv.ws}/ws/addr-3") as third:
            code, reason = await closed_with(third)
        assert code == 1013 and "address" in reason
        # another loopback address is another client: it is not held to 127.0.0.1's cap
        async with connect(f"{srv.ws}/ws/addr-other", local_addr=("127.0.0.2", 0)) as other:
            await admitted(other)
        assert (await http.get("/")).status_code == 200
        performance = await http.get("/api/websocket/performance")
        assert performance.status_code == 200
        assert performance.json()["connections"]["refused"] == 1
        await one.close()
        assert await eventually(lambda: active_is(srv, 1))
        async with connect(f"{srv.ws}/ws/addr-4") as fourth:
            await admitted(fourth)
        await admitted_again(two)


@pytest.mark.parametrize("trusted", ["127.0.0.1,::1", ""])
async def test_the_address_behind_a_trusted_proxy_is_the_forwarded_one(
    start_server: StartServer, trusted: str
) -> None:
    srv = await start_server(max_connections_per_address=1, trusted_proxies=trusted)
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    async with connect(f"{srv.ws}/ws/proxied-1", additional_headers=forwarded) as one:
        await admitted(one)
        # a direct client of the same machine: another address only if the proxy is trusted
        async with connect(f"{srv.ws}/ws/direct") as direct:
            if trusted:
                await admitted(direct)
            else:
                code, _ = await closed_with(direct)
                assert code == 1013
        async with connect(f"{srv.ws}/ws/proxied-2", additional_headers=forwarded) as two:
            code, reason = await closed_with(two)
        assert code == 1013 and "address" in reason

    # every address's count returns to nothing once its connections are gone
    async def no_addresses_left() -> bool:
        return not srv.app.state.chat.registry.per_address

    assert await eventually(no_addresses_left)


# --- message rate


async def test_flooding_client_is_limited_then_closed_while_twenty_others_chat(
    start_server: StartServer,
) -> None:
    srv = await start_server(messages_per_minute=30, synthetic_rate=200)
    others = [await SheetstreamClient.connect(f"{srv.ws}/ws/calm-{i}") for i in range(20)]
    try:
        async with connect(f"{srv.ws}/ws/flood") as flood:
            assert orjson.loads(await flood.recv())["type"] == "session"
            # the others have their questions in before the flood starts
            requests = [await client.chat(f"question {i}") for i, client in enumerate(others)]

            async def send_flood() -> None:
                with contextlib.suppress(ConnectionClosed):
                    for i in range(200):
                        await flood.send(orjson.dumps({"type": "ping", "ts": i}).decode())

            async def read_flood() -> tuple[list[dict[str, Any]], ConnectionClosed]:
                frames: list[dict[str, Any]] = []
                try:
                    while True:
                        frames.append(orjson.loads(await flood.recv()))
                except ConnectionClosed as closed:
                    return frames, closed

            async def follow(client: SheetstreamClient, request_id: str) -> list[dict[str, Any]]:
                return [frame async for frame in client.follow(request_id)]

            _, (frames, closed), *answers = await asyncio.wait_for(
                asyncio.gather(
                    send_flood(),
                    read_flood(),
                    *(follow(c, r) for c, r in zip(others, requests, strict=True)),
                ),
                30,
            )
        # the others: every answer whole and intact, nobody limited or closed
        for frames_of_answer in answers:
            kinds = [f["type"] for f in frames_of_answer]
            assert kinds[0] == "start" and kinds[-1] == "end" and "error" not in kinds
            text = "".join(f["text"] for f in frames_of_answer if f["type"] == "chunk")
            assert text == SAMPLE and frames_of_answer[-1]["reason"] == "complete"
        for i, client in enumerate(others):
            pong = await client.ping(100 + i)
            assert pong["ts"] == 100 + i
            assert not any(f.get("type") == "error" for f in client.pending)
        # the flooder: pongs up to the burst, then `rate_limited` errors, then 1008
        assert closed.rcvd is not None and closed.rcvd.code == 1008, closed
        errors = [f for f in frames if f["type"] == "error"]
        pongs = [f for f in frames if f["type"] == "pong"]
        assert errors, f"no rate_limited error before the close; got {frames}"
        assert all(e["code"] == "rate_limited" and "wait" in e["message"] for e in errors)
        assert len(errors) == 10, f"{len(errors)} rate_limited errors before the close"
        assert len(pongs) >= 30, f"only {len(pongs)} pongs within the burst of 30"
        assert frames[: len(pongs)] == pongs and frames[len(pongs) :] == errors
        stats = srv.app.state.chat.stats
        assert stats.errors["rate_limited"] == 11  # ten refused, one closing
        assert await eventually(lambda: active_is(srv, 20))
    finally:
        for client in others:
            await client.close()


# --- first message and idle deadlines


async def test_silent_new_connection_is_closed_1008_but_one_that_pings_stays(
    start_server: StartServer,
) -> None:
    srv = await start_server(first_message_timeout_s=0.5, idle_timeout_s=0)
    async with (
        connect(f"{srv.ws}/ws/silent") as silent,
        connect(f"{srv.ws}/ws/speaks") as speaks,
    ):
        await admitted(speaks)  # its ping is the first message, in time
        assert orjson.loads(await silent.recv())["type"] == "session"
        code, reason = await closed_with(silent)
        assert code == 1008 and "message" in reason and "connect" in reason
        # well past the deadline (the sweeper runs every 0.5 s): still open and answering
        await asyncio.sleep(1.2)
        await admitted_again(speaks)
        assert active(srv) == 1


async def test_idle_connection_is_closed_1000_but_pinging_and_reading_ones_stay(
    start_server: StartServer,
) -> None:
    # one token a second: a reader of a running answer waits 1 s between chunks, longer than
    # the idle deadline plus the sweeper's 0.5 s
    srv = await start_server(idle_timeout_s=0.3, first_message_timeout_s=0, synthetic_rate=1)
    async with (
        connect(f"{srv.ws}/ws/idle") as idle,
        SheetstreamClient.connect(f"{srv.ws}/ws/pinging") as pinging,
        SheetstreamClient.connect(f"{srv.ws}/ws/reading") as reading,
    ):
        await admitted(idle)
        request_id = await reading.chat("slow answer")
        stop = asyncio.Event()

        async def keep_pinging() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                assert (await pinging.ping(n))["ts"] == n
                await asyncio.sleep(0.1)

        async def read_some() -> list[dict[str, Any]]:
            got: list[dict[str, Any]] = []
            async for frame in reading.follow(request_id):
                got.append(frame)
                if sum(f["type"] == "chunk" for f in got) == 2:
                    break
            return got

        pinger = asyncio.create_task(keep_pinging())
        try:
            code, reason = await closed_with(idle)
            assert code == 1000 and "idle" in reason
            got = await asyncio.wait_for(read_some(), 20)
        finally:
            stop.set()
            await pinger
        assert [f["type"] for f in got] == ["start", "chunk", "chunk"]
        # the reader, silent itself for seconds, is still connected: it can cancel
        await reading.cancel(request_id)
        frame = await reading.recv()
        while frame["type"] != "end":
            assert frame["type"] == "chunk" and frame["stream_id"] == got[0]["stream_id"]
            frame = await reading.recv()
        assert frame["stream_id"] == got[0]["stream_id"] and frame["reason"] == "cancelled"
        assert (await pinging.ping(0.5))["ts"] == 0.5
        assert active(srv) == 2


# --- keepalive


@pytest.mark.parametrize("drains", [False, True], ids=["silent-socket", "reads-never-pongs"])
async def test_keepalive_drops_a_peer_that_does_not_answer_pings(
    start_server: StartServer, drains: bool
) -> None:
    srv = await start_server(
        ws_ping_interval_s=0.5,
        ws_ping_timeout_s=0.5,
        first_message_timeout_s=0,
        idle_timeout_s=0,
    )
    # a well-behaved client (websockets answers pings on its own) alongside
    async with (
        connect(f"{srv.ws}/ws/alive") as alive,
        raw_peers(srv, ["/ws/vanished"]) as (peer,),
        httpx.AsyncClient(base_url=srv.http) as http,
    ):
        await admitted(alive)
        # the peer speaks once, then keeps its socket open and never answers again
        await peer.send_text('{"type": "ping", "ts": 7}')
        assert await eventually(lambda: active_is(srv, 2), 5)
        reader = asyncio.create_task(peer.read_to_end(15)) if drains else None
        try:
            dropped = await eventually(lambda: active_is(srv, 1), 10)
            assert dropped, "the server still holds a connection that never answers pings"
            figures = (await http.get("/api/websocket/performance")).json()["connections"]
            assert figures["active"] == 1
            if reader is not None:
                assert await reader, "the server did not end the TCP connection"
                closes = [p for op, p in server_frames(bytes(peer.received)) if op == 0x8]
                assert closes and int.from_bytes(closes[0][:2], "big") == 1011
        finally:
            if reader is not None and not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        await admitted_again(alive)


# --- broadcasts with clients that never read


async def test_broadcast_receipts_when_some_clients_never_read(
    start_server: StartServer,
) -> None:
    srv = await start_server(
        admin_token=TOKEN,
        max_lag_bytes=64 * 1024,
        control_queue_frames=16,
        first_message_timeout_s=0,
        idle_timeout_s=0,
    )
    service = srv.app.state.chat
    # the kernel and the transport buffer a few MiB for a socket that is not read: broadcast
    # until every deaf client has been dropped, then a few more
    most, after, body = 400, 10, "x" * 32768
    readers = [await SheetstreamClient.connect(f"{srv.ws}/ws/reader-{i}") for i in range(5)]
    try:
        async with (
            raw_peers(srv, [f"/ws/deaf-{i}" for i in range(3)], rcvbuf=4096) as deaf,
            connect(f"{srv.ws}/ws/admin?token={TOKEN}", max_size=None) as admin,
            httpx.AsyncClient(base_url=srv.http) as http,
        ):
            assert await eventually(lambda: active_is(srv, 8), 5)
            deaf_conns = [
                c for c in service.registry.connections.values() if c.session_id.startswith("deaf")
            ]
            assert len(deaf_conns) == 3

            async def read_all(client: SheetstreamClient) -> list[str]:
                seen: list[str] = []
                while True:
                    frame = await client.recv()
                    if frame["type"] == "broadcast":
                        if frame["content"] == "last":
                            return seen
                        seen.append(frame["content"])

            reading = [asyncio.create_task(read_all(c)) for c in readers]
            receipts = []
            dropped_at = None
            for i in range(most):
                if dropped_at is None and all(c.closed for c in deaf_conns):
                    dropped_at = i
                if dropped_at is not None and i >= dropped_at + after:
                    break
                frame = {"type": "broadcast", "content": f"{i}:{body}", "request_id": f"b{i}"}
                await admin.send(orjson.dumps(frame).decode())
                receipt = orjson.loads(await admin.recv())
                assert receipt["type"] == "receipt" and receipt["request_id"] == f"b{i}"
                receipts.append(receipt)
                await asyncio.sleep(0)  # let the writers run, as between real admin messages
            assert dropped_at is not None, f"{most} broadcasts never filled a deaf client"
            # the server lets go of them: later receipts count only the readers
            assert await eventually(lambda: active_is(srv, 5), 10)
            final = await http.post("/api/admin/broadcast", json={"content": "last"}, headers=AUTH)
            seen = await asyncio.wait_for(asyncio.gather(*reading), 20)
            receipt = final.json()["receipt"]
            assert (receipt["delivered"], receipt["failed"], receipt["missing"]) == (5, 0, 0)

            # every reader got every broadcast, in order
            expected = [f"{i}:{body}" for i in range(len(receipts))]
            for got in seen:
                assert got == expected
            # the deaf ones were closed as slow consumers, their sockets too
            assert [c.close_code for c in deaf_conns] == [1013, 1013, 1013]
            for peer in deaf:
                assert await peer.read_to_end(10), "server kept a slow consumer's socket"
            # receipts: everyone at first; then each deaf client is counted as failed while
            # the server still holds it, or not at all once gone, and is never reached again;
            # the readers are always delivered to
            assert receipts[0]["delivered"] == 8 and receipts[0]["failed"] == 0
            delivered = [r["delivered"] for r in receipts]
            existed = [r["delivered"] + r["failed"] for r in receipts]
            assert all(5 <= d <= 8 for d in delivered) and all(5 <= e <= 8 for e in existed)
            assert delivered == sorted(delivered, reverse=True), delivered
            assert existed == sorted(existed, reverse=True), existed
            assert delivered[-1] == 5 and existed[-1] == 5
            assert service.stats.slow_consumers == 3
    finally:
        for client in readers:
            await client.close()


async def test_a_flooder_that_does_not_read_is_dropped_and_nothing_lingers(
    start_server: StartServer, tmp_path: Any
) -> None:
    """A client that floods while its receive window is shut: the close cannot drain, so the
    connection must be dropped, not left holding a socket and a task outside every cap."""
    long_answer = tmp_path / "long.txt"
    long_answer.write_text("word " * 400_000)  # about 2 MB: more than the socket buffers take
    srv = await start_server(
        messages_per_minute=30,
        synthetic_text=str(long_answer),
        max_answer_tokens=1_000_000,
        max_lag_bytes=64 * 1024 * 1024,
        send_timeout_s=60,
        ws_ping_interval_s=1,
        ws_ping_timeout_s=1,
        first_message_timeout_s=0,
        idle_timeout_s=0,
    )
    state = srv.server.server_state
    async with raw_peers(srv, ["/ws/deaf"], rcvbuf=4096) as (peer,):
        await peer.send_text('{"type": "chat", "content": "hi", "request_id": "r1"}')

        async def stuck_sending() -> bool:
            return any(c.sending for c in srv.app.state.chat.registry.connections.values())

        assert await eventually(stuck_sending)  # its buffers are full: a send waits
        for i in range(60):
            await peer.send_text(f'{{"type": "ping", "ts": {i}}}')

        async def gone() -> bool:
            return active(srv) == 0 and not state.connections and not state.tasks

        assert await eventually(gone, deadline_s=15)
