"""The service's status as one JSON-ready dict: model, storage, uptime, connections."""

from __future__ import annotations

import time
from typing import Any

from sheetstream import __version__


async def health_report(state: Any) -> dict[str, Any]:
    service = state.chat
    model_ready = service.model.ready
    storage_ok = await service.storage.ping()
    report: dict[str, Any] = {
        "status": "ok" if model_ready and storage_ok else "degraded",
        "service": "sheetstream",
        "version": __version__,
        "model": {
            "backend": service.settings.model,
            "name": service.model.name,
            "ready": model_ready,
        },
        "storage": {
            "backend": service.settings.resolved_database_url().split(":", 1)[0],
            "ok": storage_ok,
        },
        # "open": anyone who can reach the port may chat and read every session
        "access": "open" if state.tokens.open else "tokens",
        "uptime_s": round(time.monotonic() - state.started_at, 3),
        "connections": service.stats.connections_active,
        "streams_active": len(service.registry.running_streams()),
    }
    if state.model_error:
        report["model"]["error"] = state.model_error
    return report
