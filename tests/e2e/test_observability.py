"""Health, readiness, the performance endpoint and Prometheus metrics."""

from __future__ import annotations

import httpx

from sheetstream.client import SheetstreamClient
from tests.conftest import StartServer


async def test_root_answers_json_health_to_curl_and_html_to_browsers(
    start_server: StartServer,
) -> None:
    srv = await start_server()
    async with httpx.AsyncClient(base_url=srv.http) as http:
        plain = await http.get("/", headers={"accept": "*/*"})
        browser = await http.get("/", headers={"accept": "text/html,application/xhtml+xml"})
        alive = await http.get("/healthz")
        ready = await http.get("/readyz")
    body = plain.json()
    assert plain.status_code == 200 and body["status"] == "ok"
    assert body["model"] == {"backend": "synthetic", "name": "synthetic", "ready": True}
    assert body["storage"]["ok"] is True and body["version"]
    assert body["uptime_s"] >= 0 and body["connections"] == 0
    assert browser.headers["content-type"].startswith("text/html")
    assert alive.json() == {"status": "alive"}
    assert ready.status_code == 200 and ready.json()["ready"] is True


async def test_health_says_degraded_when_the_model_cannot_load(
    start_server: StartServer, tmp_path: object
) -> None:
    srv = await start_server(synthetic_text="/nonexistent/answer.txt")
    async with httpx.AsyncClient(base_url=srv.http) as http:
        health = await http.get("/")
        ready = await http.get("/readyz")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert "SYNTHETIC_TEXT" in health.json()["model"]["error"]
    assert ready.status_code == 503


async def test_performance_figures_move_with_traffic(start_server: StartServer) -> None:
    srv = await start_server(synthetic_rate=0)
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        for mode in ("token", "sentence"):
            await client.ask("q", mode=mode)
        async with httpx.AsyncClient(base_url=srv.http) as http:
            perf = (await http.get("/api/websocket/performance")).json()
            metrics = (await http.get("/metrics")).text
    assert perf["connections"] == {"active": 1, "total": 1, "refused": 0}
    assert perf["streams"]["started_by_mode"] == {"token": 1, "sentence": 1}
    assert perf["chunks_sent"] > 0 and perf["tokens_sent"] >= perf["chunks_sent"]
    assert 0 <= perf["frames_saved_ratio"] < 1
    assert perf["tokens_per_chunk"] >= 1
    assert perf["delivery_latency_ms"]["samples"] > 0
    assert perf["delivery_latency_ms"]["p50"] <= perf["delivery_latency_ms"]["p99"]
    assert perf["time_to_first_token_ms"]["samples"] == 2
    recent = perf["time_to_first_token_ms"]["last_60s"]
    assert recent["samples"] == 2 and recent["p50"] is not None
    assert perf["delivery_latency_ms"]["last_60s"]["samples"] >= 1
    assert perf["throughput_tokens_per_s"]["last_60s"] >= 0
    for name in (
        "sheetstream_connections_active 1.0",
        'sheetstream_streams_started_total{mode="token"} 1.0',
        "sheetstream_tokens_sent_total",
        'sheetstream_token_delivery_seconds{quantile="0.99"}',
        "sheetstream_time_to_first_token_seconds",
    ):
        assert name in metrics, name


async def test_figures_need_the_admin_token_once_one_is_configured(
    start_server: StartServer,
) -> None:
    srv = await start_server(admin_token="s3cret-admin")
    async with httpx.AsyncClient(base_url=srv.http) as http:
        for path in ("/api/websocket/performance", "/metrics"):
            missing = await http.get(path)
            wrong = await http.get(path, headers={"authorization": "Bearer nope"})
            right = await http.get(path, headers={"authorization": "Bearer s3cret-admin"})
            assert missing.status_code == 401 and wrong.status_code == 403, path
            assert "s3cret" not in missing.text + wrong.text
            assert right.status_code == 200, path
        health = await http.get("/")
    assert health.status_code == 200  # health stays open for operators and probes
