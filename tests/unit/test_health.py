"""The health report: node, broker and which dependencies are down, without a URL's secrets."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from sheetstream import health
from sheetstream.errors import StorageError
from sheetstream.health import health_report


def _ping(answer: bool | BaseException | None) -> Any:
    async def ping() -> bool:
        if answer is None:
            await asyncio.sleep(60)  # never answers
        if isinstance(answer, BaseException):
            raise answer
        return bool(answer)

    return ping


def state(
    *,
    broker_url: str = "memory://",
    broker_ok: bool | None = True,
    lease_ok: bool = True,
    storage_ok: bool | BaseException | None = True,
    model_ready: bool = True,
) -> Any:
    settings = SimpleNamespace(
        model="synthetic", resolved_database_url=lambda: "sqlite:///data/sessions.db"
    )
    service = SimpleNamespace(
        settings=settings,
        model=SimpleNamespace(ready=model_ready, name="synthetic"),
        storage=SimpleNamespace(ping=_ping(storage_ok)),
        broker=SimpleNamespace(
            url=broker_url, shared=not broker_url.startswith("memory://"), ping=_ping(broker_ok)
        ),
        fleet=SimpleNamespace(lease_ok=lease_ok),
        stats=SimpleNamespace(connections_active=0),
        registry=SimpleNamespace(running_streams=lambda: []),
    )
    return SimpleNamespace(
        chat=service,
        node_id="node-a",
        tokens=SimpleNamespace(open=True),
        started_at=time.monotonic(),
        model_error=None,
    )


async def test_one_process_reports_its_node_and_the_memory_broker() -> None:
    report = await health_report(state())
    assert report["status"] == "ok" and report["down"] == []
    assert report["node"] == "node-a"
    assert report["broker"] == {"backend": "memory", "ok": True}


async def test_redis_is_down_when_it_does_not_answer_or_the_lease_lapsed() -> None:
    url = "redis://user:s3cret-pw@redis.internal:6379/2"
    for broker_ok, lease_ok in ((False, True), (True, False)):
        report = await health_report(state(broker_url=url, broker_ok=broker_ok, lease_ok=lease_ok))
        assert report["status"] == "degraded" and report["down"] == ["broker"]
        assert report["broker"] == {"backend": "redis", "ok": False}
        assert b"s3cret" not in orjson.dumps(report)
    report = await health_report(state(broker_url=url))
    assert report["broker"] == {"backend": "redis", "ok": True} and report["down"] == []
    assert b"s3cret" not in orjson.dumps(report)


async def test_a_failing_or_silent_dependency_is_down_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(health, "PING_TIMEOUT_S", 0.05)
    report = await health_report(state(storage_ok=StorageError("closed")))
    assert report["down"] == ["storage"] and report["storage"]["ok"] is False
    started = time.monotonic()
    report = await health_report(
        state(broker_url="redis://h/0", broker_ok=None, storage_ok=None, model_ready=False)
    )
    assert time.monotonic() - started < 1
    assert report["down"] == ["model", "storage", "broker"]
