"""The service's status as one JSON-ready dict: node, model, storage, broker, uptime,
connections, and which dependencies are down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sheetstream import __version__
from sheetstream.errors import SheetstreamError

PING_TIMEOUT_S = 2.0  # a dependency slower than this to answer a ping counts as down


async def _answers(ping: Callable[[], Awaitable[bool]]) -> bool:
    """True when `ping` says so in time; a timeout or an error is a dependency down."""
    try:
        return bool(await asyncio.wait_for(ping(), PING_TIMEOUT_S))
    except (TimeoutError, SheetstreamError, OSError):
        return False


def broker_backend(url: str) -> str:
    return "memory" if url.startswith("memory://") else "redis"


async def health_report(state: Any) -> dict[str, Any]:
    service = state.chat
    broker = service.broker
    model_ready = service.model.ready
    storage_ok, broker_ok = await asyncio.gather(
        _answers(service.storage.ping), _answers(broker.ping)
    )
    if broker.shared:
        # the broker answers, and this node's lease in the fleet is current
        broker_ok = broker_ok and service.fleet.lease_ok
    down = [
        name
        for name, ok in (("model", model_ready), ("storage", storage_ok), ("broker", broker_ok))
        if not ok
    ]
    report: dict[str, Any] = {
        "status": "degraded" if down else "ok",
        "service": "sheetstream",
        "version": __version__,
        "node": state.node_id,
        "model": {
            "backend": service.settings.model,
            "name": service.model.name,
            "ready": model_ready,
        },
        "storage": {
            "backend": service.settings.resolved_database_url().split(":", 1)[0],
            "ok": storage_ok,
        },
        # no URL: health is open to probes, and a URL may carry a password
        "broker": {"backend": broker_backend(broker.url), "ok": broker_ok},
        "down": down,
        # "open": anyone who can reach the port may chat and read every session
        "access": "open" if state.tokens.open else "tokens",
        "uptime_s": round(time.monotonic() - state.started_at, 3),
        "connections": service.stats.connections_active,
        "streams_active": len(service.registry.running_streams()),
    }
    if state.model_error:
        report["model"]["error"] = state.model_error
    return report
