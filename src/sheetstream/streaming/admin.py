"""What the admin can see and do, fleet-wide: statistics, sessions, broadcast, disconnect,
cancel.

Every request goes to every node the same way: the asking node listens on a reply channel of
its own, publishes `{"op": "admin", "do": ..., "reply": channel}` on the `fleet` channel (it
hears it too), and waits, up to `REPLY_TIMEOUT_S`, for as many replies as the hub counted
receivers. Each node acts on what it holds and answers with its own figures; the nodes that did
not answer in time are counted as `missing`. With the `memory://` broker the fleet is this one
process and the hub delivers to it alone.

Broadcasts take the same road as chunks: each connection's bounded queue and its one writer,
so a slow client cannot delay the others; the receipt counts who was reached, per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from sheetstream import protocol
from sheetstream.errors import BadRequest, NotFound, SheetstreamError, Unavailable
from sheetstream.protocol import CloseCode
from sheetstream.streaming.chat import ChatService
from sheetstream.streaming.connection import Connection
from sheetstream.streaming.fleet import FLEET

log = logging.getLogger(__name__)

LEVELS = ("info", "warning", "critical")
OP = "admin"  # the fleet op of admin requests
REPLY_PREFIX = "reply:"
REPLY_TIMEOUT_S = 3.0  # a loaded node may take a second or two; a dead one costs this once

Report = dict[str, Any]  # one node's answer to one request


class AdminService:
    def __init__(self, chat: ChatService, reply_timeout_s: float = REPLY_TIMEOUT_S) -> None:
        self.chat = chat
        self.reply_timeout_s = reply_timeout_s
        self._local: dict[str, Callable[[dict[str, Any]], Report]] = {
            "broadcast": self._broadcast_here,
            "sessions": self._sessions_here,
            "stats": self._stats_here,
            "disconnect": self._disconnect_here,
            "cancel": self._cancel_here,
        }
        chat.fleet.handlers[OP] = self._on_request

    @property
    def node_id(self) -> str:
        return self.chat.fleet.node_id

    # --- what the routes call

    async def stats(self) -> dict[str, Any]:
        """This node's figures at the top level (as before a fleet), plus `node`, `nodes`
        (each node's figures) and `fleet` (the counters summed over the nodes)."""
        here = self._stats_here({})["figures"]
        figures = dict(here)
        figures["queue_depth"] = {
            conn.connection_id: conn.queue_depth for conn in self.chat.registry.connections.values()
        }
        try:
            reports, missing = await self._ask({"do": "stats"})
        except Unavailable as exc:
            log.warning("fleet stats from this node alone: %s", exc.message)
            reports, missing = {}, 0
            figures["partial"] = True
        nodes = {
            node: report["figures"]
            for node, report in sorted(reports.items())
            if isinstance(report.get("figures"), dict)
        }
        if self.node_id not in nodes and missing:
            missing -= 1  # this node's reply was late: its figures are at hand
        nodes[self.node_id] = here
        figures["node"] = self.node_id
        figures["nodes"] = dict(sorted(nodes.items()))
        figures["fleet"] = _totals(list(nodes.values()), missing)
        return figures

    async def sessions(self) -> list[dict[str, Any]]:
        """Every node's sessions, one entry per session id: a session with tabs on several
        nodes is listed once, its `connections` from all of them (each with its `node`);
        `node` is where its answer is generated (else where its first tab is), `nodes` all
        the nodes that hold it."""
        try:
            reports, _ = await self._ask({"do": "sessions"})
        except Unavailable as exc:
            log.warning("fleet sessions from this node alone: %s", exc.message)
            reports = {}
        reports[self.node_id] = self._sessions_here({})
        order = [self.node_id, *sorted(n for n in reports if n != self.node_id)]
        views: dict[str, list[dict[str, Any]]] = {}
        for node in order:
            for entry in reports[node].get("sessions") or []:
                if isinstance(entry, dict) and isinstance(entry.get("session_id"), str):
                    views.setdefault(entry["session_id"], []).append({**entry, "node": node})
        return [_merge(seen) for seen in views.values()]

    async def broadcast(
        self, content: str, level: str, session_id: str | None, owner: str | None = None
    ) -> dict[str, Any]:
        """Send to everyone, one session's connections, or one owner's, on every node; the
        receipt counts the connections reached and those that could not take it (closed, or
        too far behind), in all and per node."""
        if level not in LEVELS:
            raise BadRequest(f"`level` must be one of {', '.join(LEVELS)}.")
        if session_id is not None and owner is not None:
            raise BadRequest("Target one `session_id` or one `owner`, not both.")
        request = {
            "do": "broadcast",
            "content": content,
            "level": level,
            "session_id": session_id,
            "owner": owner,
            "ts": time.time(),
        }
        reports, missing = await self._ask(request)
        if session_id is not None and not any(r.get("found") for r in reports.values()):
            raise NotFound("No such session on any node; list them with `sessions`.")
        nodes = {
            node: {"delivered": _int(r, "delivered"), "failed": _int(r, "failed")}
            for node, r in sorted(reports.items())
        }
        return {
            "delivered": sum(n["delivered"] for n in nodes.values()),
            "failed": sum(n["failed"] for n in nodes.values()),
            "nodes": nodes,
            "missing": missing,
        }

    async def disconnect(
        self, session_id: str | None, connection_id: str | None, reason: str
    ) -> dict[str, Any]:
        """Close the connection, or the session's connections, wherever they are."""
        if connection_id is None and session_id is None:
            raise BadRequest("`disconnect` needs `session_id` or `connection_id`.")
        request = {
            "do": "disconnect",
            "session_id": session_id,
            "connection_id": connection_id,
            "reason": reason,
        }
        reports, missing = await self._ask(request)
        nodes = {node: {"closed": _int(r, "closed")} for node, r in sorted(reports.items())}
        closed = sum(n["closed"] for n in nodes.values())
        if not closed:
            raise NotFound("No such session or connection; list them with `sessions`.")
        return {"closed": closed, "nodes": nodes, "missing": missing}

    async def cancel(self, stream_id: str) -> dict[str, Any]:
        """Stop the answer on the node that generates it."""
        reports, missing = await self._ask({"do": "cancel", "stream_id": stream_id})
        by = sorted(node for node, r in reports.items() if _int(r, "cancelled"))
        if not by:
            raise NotFound(f"No running stream {stream_id[:64]!r}.")
        return {"cancelled": 1, "node": by[0], "missing": missing}

    # --- one request to every node

    async def _ask(self, request: dict[str, Any]) -> tuple[dict[str, Report], int]:
        """Every node's report on `request` (by node id), and how many nodes the hub reached
        that did not answer within the timeout. Raises `Unavailable` without the broker."""
        hub = self.chat.broker.hub
        channel = REPLY_PREFIX + secrets.token_hex(12)
        reports: dict[str, Report] = {}
        arrived = asyncio.Event()

        def collect(text: str) -> None:
            try:
                report = orjson.loads(text)
            except orjson.JSONDecodeError:
                return
            if isinstance(report, dict) and isinstance(report.get("node"), str):
                reports[report["node"]] = report
                arrived.set()

        await hub.subscribe(channel, collect)  # before asking: no reply can come first
        try:
            message = orjson.dumps({**request, "op": OP, "reply": channel}).decode()
            expected = await hub.publish(FLEET, message)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.reply_timeout_s
            while len(reports) < expected:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), remaining)
        finally:
            with contextlib.suppress(SheetstreamError):
                await hub.unsubscribe(channel)
        missing = max(0, expected - len(reports))
        if missing:
            log.warning("%d node(s) did not answer the admin's %r", missing, request["do"])
        return reports, missing

    def _on_request(self, message: dict[str, Any]) -> None:
        """A hub handler: act here at once, answer in a task (it must not block)."""
        reply = message.get("reply")
        act = self._local.get(str(message.get("do")))
        if act is None or not isinstance(reply, str) or not reply.startswith(REPLY_PREFIX):
            return
        try:
            report = act(message)
        except Exception:
            log.exception("the admin's %r failed on this node", message.get("do"))
            report = {"error": "internal"}
        report["node"] = self.node_id
        self.chat.fleet.spawn(self._answer(reply, report), "admin-reply")

    async def _answer(self, channel: str, report: Report) -> None:
        try:
            await self.chat.broker.hub.publish(channel, orjson.dumps(report).decode())
        except Unavailable as exc:
            log.warning("could not answer the admin: %s", exc.message)

    # --- what each node does with what it holds

    def _stats_here(self, _: dict[str, Any]) -> Report:
        registry = self.chat.registry
        figures = self.chat.stats.snapshot(time.monotonic())
        depths = [conn.queue_depth for conn in registry.connections.values()]
        figures["queue_max"] = max(depths, default=0)
        figures["sessions"] = len(registry.sessions)
        return {"figures": figures}

    def _sessions_here(self, _: dict[str, Any]) -> Report:
        now = self.chat.clock()
        node = self.node_id
        listed = []
        for session in self.chat.registry.sessions.values():
            active = session.active
            listed.append(
                {
                    "session_id": session.session_id,
                    "owner": session.owner,
                    "streaming": active is not None,
                    "mode": active.mode.value if active is not None else None,
                    "stream_id": active.stream_id if active is not None else None,
                    "workbook_id": session.workbook_id,
                    "node": node,
                    "generating": active is not None and active.remote_node is None,
                    "connections": [_describe(c, now, node) for c in session.connections],
                }
            )
        return {"sessions": listed}

    def _broadcast_here(self, message: dict[str, Any]) -> Report:
        session_id = _opt(message, "session_id")
        owner = _opt(message, "owner")
        ts = message.get("ts")
        frame = protocol.broadcast_frame(
            str(message.get("content", "")),
            str(message.get("level", "info")),
            float(ts) if isinstance(ts, int | float) else time.time(),
        )
        found = session_id is None or session_id in self.chat.registry.sessions
        targets = self._connections(session_id)
        if owner is not None:
            targets = [c for c in targets if c.owner == owner]
        delivered = 0
        for conn in targets:
            conn.push(frame)
            delivered += not conn.closing
        return {"delivered": delivered, "failed": len(targets) - delivered, "found": found}

    def _disconnect_here(self, message: dict[str, Any]) -> Report:
        connection_id = _opt(message, "connection_id")
        if connection_id is not None:
            conn = self.chat.registry.connections.get(connection_id)
            targets = [conn] if conn is not None else []
        else:
            targets = self._connections(_opt(message, "session_id") or "")
        reason = _opt(message, "reason") or "disconnected by the administrator"
        for conn in targets:
            conn.close(CloseCode.POLICY_VIOLATION, reason)
        return {"closed": len(targets)}

    def _cancel_here(self, message: dict[str, Any]) -> Report:
        stream = self.chat.registry.streams.get(_opt(message, "stream_id") or "")
        if stream is None or stream.finished or stream.remote_node is not None:
            return {"cancelled": 0}  # a mirror is not the answer: its node cancels it
        self.chat.cancel_stream(stream)
        return {"cancelled": 1}

    def _connections(self, session_id: str | None) -> list[Connection]:
        if session_id is None:
            return list(self.chat.registry.connections.values())
        session = self.chat.registry.sessions.get(session_id)
        return list(session.connections) if session is not None else []


def _describe(conn: Connection, now: float, node: str) -> dict[str, Any]:
    return {
        "connection_id": conn.connection_id,
        "remote": conn.remote,
        "owner": conn.owner,
        "state": "streaming" if conn.following else "idle",
        "connected_s": round(now - conn.connected_at, 3),
        "queue_depth": conn.queue_depth,
        "bytes_waiting": conn.lag_bytes(),
        "node": node,
    }


def _merge(views: list[dict[str, Any]]) -> dict[str, Any]:
    """One session as the fleet sees it, from each node's view of it (this node's first)."""
    first = views[0]
    generating = next((v for v in views if v.get("generating")), None)
    streaming = generating or next((v for v in views if v.get("streaming")), None)
    connections = [c for v in views for c in v.get("connections") or [] if isinstance(c, dict)]
    if generating is not None:
        node = generating["node"]
    elif connections:
        node = connections[0].get("node", first["node"])
    else:
        node = first["node"]
    return {
        "session_id": first["session_id"],
        "owner": next((v["owner"] for v in views if v.get("owner") is not None), None),
        "streaming": streaming is not None,
        "mode": streaming.get("mode") if streaming is not None else None,
        "stream_id": streaming.get("stream_id") if streaming is not None else None,
        "workbook_id": next(
            (v["workbook_id"] for v in views if v.get("workbook_id") is not None), None
        ),
        "node": node,
        "nodes": [v["node"] for v in views],
        "connections": connections,
    }


def _totals(nodes: list[dict[str, Any]], missing: int) -> dict[str, Any]:
    """The fleet's counters: sums of the nodes' (queue_max: the deepest)."""

    def total(path: str) -> float:
        found: float = 0
        for figures in nodes:
            value: Any = figures
            for key in path.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, int | float):
                found += value
        return found

    def counters(path: str) -> dict[str, int]:
        summed: Counter[str] = Counter()
        for figures in nodes:
            value: Any = figures
            for key in path.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, dict):
                summed.update({k: v for k, v in value.items() if isinstance(v, int)})
        return {k: v for k, v in summed.items() if v}

    active_by_mode = counters("streams.active_by_mode")
    return {
        "answered": len(nodes),
        "missing": missing,
        "connections": {
            "active": int(total("connections.active")),
            "total": int(total("connections.total")),
            "refused": int(total("connections.refused")),
        },
        "sessions": int(total("sessions")),
        "streams": {
            "active": sum(active_by_mode.values()),
            "active_by_mode": active_by_mode,
            "started_by_mode": counters("streams.started_by_mode"),
        },
        "chunks_sent": int(total("chunks_sent")),
        "tokens_sent": int(total("tokens_sent")),
        "bytes_sent": int(total("bytes_sent")),
        "throughput_tokens_per_s": {
            "last_10s": round(total("throughput_tokens_per_s.last_10s"), 1),
            "last_60s": round(total("throughput_tokens_per_s.last_60s"), 1),
        },
        "resumes": int(total("resumes")),
        "cancels": int(total("cancels")),
        "slow_consumer_events": int(total("slow_consumer_events")),
        "errors_by_code": counters("errors_by_code"),
        "queue_max": max((int(f.get("queue_max") or 0) for f in nodes), default=0),
    }


def _int(report: Report, key: str) -> int:
    value = report.get(key)
    return value if isinstance(value, int) else 0


def _opt(message: dict[str, Any], key: str) -> str | None:
    value = message.get(key)
    return value if isinstance(value, str) else None
