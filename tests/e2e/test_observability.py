"""Health, readiness, the performance endpoint and Prometheus metrics."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

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
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    values = {  # by sample name and labels; the `node` label is checked below
        (s.name, *sorted(f"{k}={v}" for k, v in s.labels.items() if k != "node")): s.value
        for f in families.values()
        for s in f.samples
    }
    assert values[("sheetstream_connections_active",)] == 1
    assert values[("sheetstream_streams_started_total", "mode=token")] == 1
    assert values[("sheetstream_tokens_sent_total",)] == perf["tokens_sent"]
    assert ("sheetstream_token_delivery_seconds", "quantile=0.99") in values  # kept
    histograms = {
        "sheetstream_chunk_latency_seconds": perf["delivery_latency_ms"]["samples"],
        "sheetstream_time_to_first_token_seconds": perf["time_to_first_token_ms"]["samples"],
    }
    for name, observed in histograms.items():
        family = families[name]
        assert family.type == "histogram", name
        buckets = [s for s in family.samples if s.name == f"{name}_bucket"]
        counts = [s.value for s in buckets]
        (count,) = [s.value for s in family.samples if s.name == f"{name}_count"]
        (total,) = [s.value for s in family.samples if s.name == f"{name}_sum"]
        assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf", name
        assert counts[-1] == count == observed > 0, name  # every live chunk, every first token
        assert total >= 0, name
    # sentence mode holds tokens on purpose: only the token-mode answer's chunks have a latency
    assert histograms["sheetstream_chunk_latency_seconds"] < perf["chunks_sent"]
    node = getattr(srv.app.state, "node_id", "") or None  # no node id on the app: no label
    assert all(s.labels.get("node") == node for f in families.values() for s in f.samples)


async def test_a_node_id_on_the_app_labels_every_sample(start_server: StartServer) -> None:
    srv = await start_server(synthetic_rate=0)
    srv.app.state.node_id = "node-7"
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        await client.ask("q", mode="token")
        async with httpx.AsyncClient(base_url=srv.http) as http:
            metrics = (await http.get("/metrics")).text
    samples = [s for f in text_string_to_metric_families(metrics) for s in f.samples]
    assert any(s.name == "sheetstream_chunk_latency_seconds_bucket" for s in samples)
    assert samples and all(s.labels.get("node") == "node-7" for s in samples)


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
