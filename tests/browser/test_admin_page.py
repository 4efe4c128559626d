"""The operator's dashboard at /admin, in a real Chromium against a real server."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect
from websockets.exceptions import ConnectionClosed

from sheetstream.client import Frame, SheetstreamClient
from tests.browser.conftest import screenshot
from tests.conftest import SAMPLE, StartServer
from tests.redisdb import fresh_redis_url, redis_reachable, release

ADMIN_TOKEN = "operator-secret-token-0123"
WAIT_MS = 10_000


async def sign_in(page: Page, token: str) -> None:
    await page.locator("#token").fill(token)
    await page.locator("#token-form button[type=submit]").click()


async def frames_until(client: SheetstreamClient, wanted: Any) -> list[Frame]:
    """Read frames until `wanted(frame)`; all of them, the wanted one last."""
    seen: list[Frame] = []

    async def read() -> None:
        while True:
            frame = await client.recv()
            seen.append(frame)
            if wanted(frame):
                return

    await asyncio.wait_for(read(), 10)
    return seen


async def drain(client: SheetstreamClient) -> None:
    """Read (and drop) frames until the server closes the connection."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await client.ws.recv()


async def test_admin_page_says_why_it_is_refused(page: Page, start_server: StartServer) -> None:
    srv = await start_server(admin_token=ADMIN_TOKEN)
    await page.goto(f"{srv.http}/admin")
    await expect(page.locator("#login")).to_be_visible()
    await sign_in(page, "not-the-token")
    message = page.locator("#login-message")
    await expect(message).to_contain_text("The server refused this token", timeout=WAIT_MS)
    await expect(page.locator("#dashboard")).to_be_hidden()
    assert await page.evaluate("localStorage.getItem('sheetstream.adminToken')") is None

    # A server without an admin token says its admin endpoints are off.
    off = await start_server()
    await page.goto(f"{off.http}/admin")
    await sign_in(page, "anything")
    await expect(message).to_contain_text("admin endpoints are off", timeout=WAIT_MS)
    await expect(message).to_contain_text("SHEETSTREAM_ADMIN_TOKEN")


async def test_admin_dashboard_live(page: Page, start_server: StartServer, tmp_path: Path) -> None:
    # The fixture's text, four times over: at 40 tokens/s an answer takes about 5 s, time
    # enough to find it in the table and cancel it.
    long_text = tmp_path / "long-answer.txt"
    long_text.write_text((SAMPLE + "\n\n") * 4, encoding="utf-8")
    srv = await start_server(
        admin_token=ADMIN_TOKEN, synthetic_rate=40, synthetic_text=str(long_text)
    )
    await page.goto(f"{srv.http}/admin")
    await sign_in(page, ADMIN_TOKEN)
    await expect(page.locator("#dashboard")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    assert await page.evaluate("localStorage.getItem('sheetstream.adminToken')") == ADMIN_TOKEN
    connections = page.locator('[data-metric="connections"]')
    await expect(connections).to_have_text("0", timeout=WAIT_MS)
    await expect(page.locator('[data-metric="ttft_p50"]')).to_have_text("–")

    async with (
        SheetstreamClient.connect(f"{srv.ws}/ws/chat") as first,
        SheetstreamClient.connect(f"{srv.ws}/ws/chat") as second,
    ):
        await expect(connections).to_have_text("2", timeout=WAIT_MS)
        # One node: the nodes table lists it, marked as this page's, without a fleet total.
        node_rows = page.locator("#nodes-body tr")
        await expect(node_rows).to_have_count(1)
        await expect(node_rows.first).to_have_attribute("data-here", "1")
        await expect(node_rows.first.locator('[data-field="connections"]')).to_have_text("2")
        await expect(page.locator("#nodes-total")).to_be_hidden()
        first_request = await first.chat("Which region sold most?")
        await second.chat("And the least?")

        await page.wait_for_function(
            "() => parseFloat("
            "document.querySelector('[data-metric=tokens_per_s]').textContent) > 0",
            timeout=WAIT_MS,
        )
        for metric in ("tokens_per_chunk", "latency_p50", "latency_p99", "ttft_p50"):
            await expect(page.locator(f'[data-metric="{metric}"]')).to_have_text(
                re.compile(r"^\d"), timeout=WAIT_MS
            )

        # The sessions table lists both; the first one's Cancel ends its answer `cancelled`.
        rows = page.locator("#sessions-body tr")
        first_row = page.locator(f'#sessions-body tr[data-session-id="{first.session_id}"]')
        second_row = page.locator(f'#sessions-body tr[data-session-id="{second.session_id}"]')
        await expect(rows).to_have_count(2, timeout=WAIT_MS)
        await expect(second_row).to_be_visible()
        await expect(first_row.locator(".badge")).to_have_text("streaming · token")
        answer = asyncio.create_task(
            frames_until(
                first, lambda f: f["type"] == "end" and f.get("request_id") == first_request
            )
        )
        await first_row.locator('button[data-action="cancel"]').click()
        end = (await answer)[-1]
        assert end["reason"] == "cancelled"
        await expect(page.locator("#action-notice")).to_contain_text("Cancelled")
        await expect(first_row.locator(".badge")).to_have_text("idle", timeout=WAIT_MS)

        # A broadcast to the second session reaches it, and the receipt says so.
        await page.locator("#broadcast-content").fill("Maintenance at 18:00 UTC.")
        await page.locator("#broadcast-level").select_option("warning")
        await page.locator("#broadcast-target").select_option("session")
        await page.locator("#broadcast-target-value").fill(second.session_id)
        await page.locator("#broadcast-send").click()
        await expect(page.locator('[data-metric="delivered"]')).to_have_text("1", timeout=WAIT_MS)
        await expect(page.locator('[data-metric="failed"]')).to_have_text("0")
        received = (await frames_until(second, lambda f: f["type"] == "broadcast"))[-1]
        assert received["content"] == "Maintenance at 18:00 UTC."
        assert received["level"] == "warning"

        # The charts have drawn some seconds of figures by now.
        await page.wait_for_function(
            "() => ['connections', 'throughput', 'chunk', 'latency', 'ttft'].every(name =>"
            " (document.querySelector(`svg[data-chart=${name}] path.line.s0`)"
            ".getAttribute('d').match(/L/g) || []).length >= 6)",
            timeout=WAIT_MS,
        )
        await page.evaluate("window.scrollTo(0, 0)")
        await screenshot(page, "admin-dashboard", tmp_path)

        # Disconnect asks for a second click, then closes the session's connection (1008).
        disconnect = second_row.locator('button[data-action="disconnect"]')
        await disconnect.click()
        await expect(disconnect).to_have_text("Confirm disconnect")
        await disconnect.click()
        await asyncio.wait_for(drain(second), 10)
        assert second.ws.close_code == 1008
        await expect(page.locator("#action-notice")).to_contain_text("closed 1 connection")
        await expect(connections).to_have_text("1", timeout=WAIT_MS)

    # Phone width: one column, nothing wider than the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0

    # A reload signs in with the remembered token; "Forget token" forgets it.
    await page.reload()
    await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    await expect(page.locator("#login")).to_be_hidden()
    await page.locator("#forget").click()
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#dashboard")).to_be_hidden()
    assert await page.evaluate("localStorage.getItem('sheetstream.adminToken')") is None
    await sign_in(page, ADMIN_TOKEN)
    await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=WAIT_MS)

    # The server goes away: the page says it is reconnecting.
    await srv.stop()
    await expect(page.locator("#status")).to_have_attribute(
        "data-state", "reconnecting", timeout=WAIT_MS
    )
    await expect(page.locator("#connection-message")).to_contain_text("Reconnecting in")


async def test_admin_dashboard_of_a_fleet(
    page: Page, start_server: StartServer, tmp_path: Path
) -> None:
    """Two nodes on one Redis: the page on one shows both, and acts on the other's answer."""
    if not redis_reachable():
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    redis_url = fresh_redis_url()
    try:
        await _fleet_dashboard(page, start_server, tmp_path, redis_url)
    finally:
        release(redis_url)


async def _fleet_dashboard(
    page: Page, start_server: StartServer, tmp_path: Path, redis_url: str
) -> None:
    long_text = tmp_path / "long-answer.txt"
    long_text.write_text((SAMPLE + "\n\n") * 4, encoding="utf-8")
    settings = {
        "admin_token": ADMIN_TOKEN,
        "broker_url": redis_url,
        "synthetic_rate": 40,
        "synthetic_text": str(long_text),
    }
    here = await start_server(node_id="node-a", **settings)
    there = await start_server(node_id="node-b", **settings)
    await page.goto(f"{here.http}/admin")
    await sign_in(page, ADMIN_TOKEN)
    await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    async with SheetstreamClient.connect(f"{there.ws}/ws/chat") as client:
        node_rows = page.locator("#nodes-body tr")
        await expect(node_rows).to_have_count(2, timeout=WAIT_MS)
        row_a = page.locator('#nodes-body tr[data-node-id="node-a"]')
        row_b = page.locator('#nodes-body tr[data-node-id="node-b"]')
        await expect(row_a).to_have_attribute("data-here", "1")
        await expect(row_b).to_have_attribute("data-here", "0")
        await expect(row_b.locator('[data-field="connections"]')).to_have_text("1", timeout=WAIT_MS)
        await expect(row_a.locator('[data-field="connections"]')).to_have_text("0")
        total = page.locator("#nodes-total")
        await expect(total).to_be_visible()
        await expect(total.locator('[data-field="connections"]')).to_have_text("1")
        await expect(page.locator('[data-metric="connections"]')).to_have_text("0")  # node-a
        await expect(page.locator('[data-metric="this_node"]')).to_have_text("node-a")

        request_id = await client.chat("Which region sold most?")
        session_row = page.locator(f'#sessions-body tr[data-session-id="{client.session_id}"]')
        await expect(session_row.locator("td.node")).to_contain_text("node-b", timeout=WAIT_MS)
        await expect(session_row.locator(".badge")).to_have_text(
            "streaming · token", timeout=WAIT_MS
        )
        await expect(row_b.locator('[data-field="streams"]')).to_have_text("1", timeout=WAIT_MS)
        answer = asyncio.create_task(
            frames_until(client, lambda f: f["type"] == "end" and f.get("request_id") == request_id)
        )
        await session_row.locator('button[data-action="cancel"]').click()
        assert (await answer)[-1]["reason"] == "cancelled"
        await expect(page.locator("#action-notice")).to_contain_text("Cancelled")

        await page.locator("#broadcast-content").fill("To the whole fleet.")
        await page.locator("#broadcast-send").click()
        await expect(page.locator('[data-metric="delivered"]')).to_have_text("1", timeout=WAIT_MS)
        await expect(page.locator("#broadcast-receipt")).to_contain_text("on 2 nodes")
        received = (await frames_until(client, lambda f: f["type"] == "broadcast"))[-1]
        assert received["content"] == "To the whole fleet."
        await screenshot(page, "admin-dashboard-fleet", tmp_path)

    await page.set_viewport_size({"width": 390, "height": 844})
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
