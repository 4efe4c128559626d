"""The chat page in a real Chromium against a real server: upload, ask in each mode, stop,
survive a dropped connection, follow a session from a second tab, broadcasts, tokens, phones."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import uvicorn
from playwright.async_api import Page, expect

from sheetstream.server import SheetstreamWSProtocol, uvicorn_config
from tests.browser.conftest import screenshot
from tests.conftest import SAMPLE, RunningServer, StartServer

WAIT_MS = 20_000


def sales_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Sales"
    sheet.append(["region", "units", "revenue"])
    for region, units, revenue in [("North", 12, 1250.5), ("South", 7, 830.25), ("East", 9, 990)]:
        sheet.append([region, units, revenue])
    book.create_sheet("Notes").append(["note"])
    book.save(path)
    return path


async def open_page(page: Page, srv: RunningServer, query: str = "") -> None:
    await page.goto(f"{srv.http}/{query}")
    await expect(page.locator("#status")).to_have_text("connected", timeout=WAIT_MS)


async def ask(page: Page, question: str, mode: str = "token") -> None:
    await page.select_option("#mode", mode)
    await page.fill("#question", question)
    await page.press("#question", "Enter")


async def raw_text(page: Page, index: int = -1) -> str:
    """The answer's text as it arrived (before Markdown), kept on the element by the page."""
    answers = page.locator("li.answer")
    n = await answers.count()
    text: str = await answers.nth(index % n).evaluate("el => el.sheetstreamText")
    return text


async def test_upload_then_ask_in_each_mode(
    start_server: StartServer, page: Page, tmp_path: Path
) -> None:
    srv = await start_server()
    await open_page(page, srv)
    await page.set_input_files("#file", str(sales_workbook(tmp_path / "sales.xlsx")))
    await expect(page.locator(".workbook h2")).to_have_text("sales.xlsx", timeout=WAIT_MS)
    sales = page.locator(".sheet").filter(has_text="Sales")
    await expect(sales.locator(".counts")).to_have_text("3 rows × 3 columns")
    await expect(sales.locator("table tbody tr")).to_have_count(3)
    await expect(sales.locator("table thead")).to_contain_text("revenue")
    notes = page.locator(".sheet").filter(has_text="Notes")
    await expect(notes.locator(".warnings")).to_contain_text("No table found on this sheet")

    for n, mode in enumerate(("token", "sentence", "paragraph"), start=1):
        await ask(page, f"question in {mode} mode", mode)
        await expect(page.locator("li.answer[data-reason=complete]")).to_have_count(n)
        assert await raw_text(page) == SAMPLE
    # Markdown: the answer's paragraphs are paragraphs, not one run of text
    assert await page.locator("li.answer").last.locator(".text p").count() >= 3

    await ask(page, "/sql SELECT region, revenue FROM sales ORDER BY revenue DESC")
    answer = page.locator("li.answer").last
    await expect(answer).to_have_attribute("data-reason", "complete", timeout=WAIT_MS)
    await expect(answer.locator(".tool summary")).to_have_text("query — 3 rows")
    await answer.locator(".tool summary").click()
    await expect(answer.locator(".tool table tbody tr")).to_have_count(3)
    await expect(answer.locator(".text table tbody tr")).to_have_count(3)  # rendered Markdown
    await expect(answer.locator("mark.found").first).to_be_visible()
    await expect(answer.locator(".meta")).to_contain_text("found in the data")
    await screenshot(page, "chat-workbook-answer", tmp_path)

    await page.reload()  # the history brings back the answers with their query blocks
    answer = page.locator("li.answer").last
    await expect(answer.locator(".tool summary")).to_have_text("query — 3 rows", timeout=WAIT_MS)
    await expect(answer.locator("mark.found").first).to_be_visible()
    await expect(page.locator(".workbook h2")).to_have_text("sales.xlsx")


async def test_escape_stops_the_answer_for_real(start_server: StartServer, page: Page) -> None:
    srv = await start_server(synthetic_rate=10)
    await open_page(page, srv)
    await ask(page, "a slow answer")
    await expect(page.locator("#stop")).to_be_visible()
    await expect(page.locator("li.answer .text")).not_to_be_empty(timeout=WAIT_MS)
    await page.keyboard.press("Escape")
    answer = page.locator("li.answer")
    await expect(answer).to_have_attribute("data-reason", "cancelled", timeout=WAIT_MS)
    await expect(answer.locator(".meta")).to_contain_text("stopped")
    await expect(page.locator("#stop")).to_be_hidden()
    assert srv.app.state.chat.stats.cancels == 1
    partial = await raw_text(page)
    assert partial and SAMPLE.startswith(partial) and partial != SAMPLE


async def drop_websockets(srv: RunningServer) -> int:
    """Cut every WebSocket's TCP connection from the server side, as a network failure does."""
    dropped = 0
    for protocol in list(srv.server.server_state.connections):
        if isinstance(protocol, SheetstreamWSProtocol) and protocol.transport is not None:
            protocol.transport.abort()
            dropped += 1
    return dropped


async def test_a_dropped_connection_resumes_the_answer_intact(
    start_server: StartServer, page: Page, tmp_path: Path
) -> None:
    srv = await start_server(synthetic_rate=25)
    await open_page(page, srv)
    await ask(page, "an answer that outlives its connection", "token")
    answer = page.locator("li.answer")
    await expect(answer.locator(".text")).to_contain_text("Revenue grew", timeout=WAIT_MS)
    assert await drop_websockets(srv) == 1
    await expect(page.locator("#status")).to_contain_text("reconnect", timeout=WAIT_MS)
    await expect(answer).to_have_attribute("data-reason", "complete", timeout=WAIT_MS)
    assert await raw_text(page) == SAMPLE  # nothing lost, nothing twice
    assert srv.app.state.chat.stats.resumes >= 1
    await screenshot(page, "chat-resumed", tmp_path)


async def test_history_on_reload_and_a_second_tab_follows_live(
    start_server: StartServer, page: Page
) -> None:
    srv = await start_server(synthetic_rate=25)
    await open_page(page, srv)
    await ask(page, "first question")
    await expect(page.locator("li.answer[data-reason=complete]")).to_have_count(1, timeout=WAIT_MS)
    link = page.url
    assert "session=" in link

    await page.reload()
    await expect(page.locator("li.question")).to_have_text(["first question"], timeout=WAIT_MS)
    await expect(page.locator("li.answer[data-reason=complete]")).to_have_count(1)
    assert await raw_text(page) == SAMPLE

    other = await page.context.new_page()
    await other.goto(link)
    await expect(other.locator("#status")).to_have_text("connected", timeout=WAIT_MS)
    await expect(other.locator("li.answer")).to_have_count(1, timeout=WAIT_MS)
    await ask(page, "second question")
    await expect(other.locator("li.answer")).to_have_count(2, timeout=WAIT_MS)
    await expect(other.locator("li.answer").last).to_have_attribute(
        "data-reason", "complete", timeout=WAIT_MS
    )
    assert await raw_text(other) == SAMPLE
    await other.close()


async def test_broadcast_shows_as_a_banner(start_server: StartServer, page: Page) -> None:
    srv = await start_server(admin_token="admin-t0ken-for-the-page")
    await open_page(page, srv)
    async with httpx.AsyncClient(base_url=srv.http) as http:
        reply = await http.post(
            "/api/admin/broadcast",
            json={"content": "Maintenance at 18:00 UTC", "level": "warning"},
            headers={"Authorization": "Bearer admin-t0ken-for-the-page"},
        )
    receipt = reply.json()["receipt"]
    assert receipt["delivered"] == 1 and receipt["failed"] == 0 and receipt["missing"] == 0
    banner = page.locator("#banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Maintenance at 18:00 UTC")
    await expect(banner).to_have_class("banner warning")
    await page.click("#banner-close")
    await expect(banner).to_be_hidden()


async def test_refused_upload_is_explained(
    start_server: StartServer, page: Page, tmp_path: Path
) -> None:
    srv = await start_server()
    await open_page(page, srv)
    fake = tmp_path / "notes.xlsx"
    fake.write_text("just some notes\nnot a workbook\n")
    await page.set_input_files("#file", str(fake))
    note = page.locator("#upload-status")
    await expect(note).to_contain_text("does not look like a spreadsheet", timeout=WAIT_MS)
    await expect(page.locator(".workbook h2")).to_have_count(0)


async def test_with_tokens_the_page_asks_for_one_and_then_works(
    start_server: StartServer, page: Page, tmp_path: Path
) -> None:
    token = "alice-browser-t0ken-123"
    srv = await start_server(api_tokens=[f"alice:{token}"])
    await page.goto(srv.http)
    note = page.locator("#token-note")
    await expect(note).to_contain_text("needs an access token", timeout=WAIT_MS)
    await page.fill("#token", "wrong-token-0123456789")
    await page.click("#token-form button[type=submit]")
    await expect(page.locator("#token-note")).to_contain_text("refused", timeout=WAIT_MS)
    await page.fill("#token", token)
    await page.click("#token-form button[type=submit]")
    await expect(page.locator("#status")).to_have_text("connected", timeout=WAIT_MS)
    await page.set_input_files("#file", str(sales_workbook(tmp_path / "sales.xlsx")))
    await expect(page.locator(".workbook h2")).to_have_text("sales.xlsx", timeout=WAIT_MS)
    await ask(page, "hello")
    await expect(page.locator("li.answer[data-reason=complete]")).to_have_count(1, timeout=WAIT_MS)
    stored: Any = await page.evaluate("localStorage.getItem('sheetstream.token')")
    assert stored == token
    await page.reload()  # the token is remembered
    await expect(page.locator("#status")).to_have_text("connected", timeout=WAIT_MS)
    await expect(page.locator("li.answer")).to_have_count(1, timeout=WAIT_MS)


async def test_usable_at_phone_width(start_server: StartServer, page: Page, tmp_path: Path) -> None:
    srv = await start_server()
    await page.set_viewport_size({"width": 390, "height": 844})
    await open_page(page, srv)
    await page.set_input_files("#file", str(sales_workbook(tmp_path / "sales.xlsx")))
    await expect(page.locator(".workbook h2")).to_have_text("sales.xlsx", timeout=WAIT_MS)
    await ask(page, "on a phone")
    await expect(page.locator("li.answer[data-reason=complete]")).to_have_count(1, timeout=WAIT_MS)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width} px wide"
    await expect(page.locator("#send")).to_be_in_viewport()
    await screenshot(page, "chat-phone", tmp_path)


async def test_keyboard_and_a_model_that_is_down(start_server: StartServer, page: Page) -> None:
    srv = await start_server(synthetic_text="/nonexistent/answer.txt")  # the model cannot load
    await open_page(page, srv)
    await page.fill("#question", "first line")
    await page.press("#question", "Shift+Enter")
    await page.type("#question", "second line")
    assert await page.input_value("#question") == "first line\nsecond line"
    await expect(page.locator("li.question")).to_have_count(0)  # Shift+Enter did not send
    await page.press("#question", "Enter")
    await expect(page.locator("li.question")).to_have_text(["first line\nsecond line"])
    answer = page.locator("li.answer")
    await expect(answer).to_contain_text("The model is not available right now", timeout=WAIT_MS)
    await expect(page.locator("#send")).to_be_enabled()  # free to ask again


async def test_a_server_restart_is_survived(start_server: StartServer, page: Page) -> None:
    srv = await start_server(synthetic_rate=10, shutdown_grace_s=1.0)
    await open_page(page, srv)
    await ask(page, "an answer the restart cuts short")
    answer = page.locator("li.answer")
    await expect(answer.locator(".text")).to_contain_text("Revenue", timeout=WAIT_MS)
    await srv.stop()  # clients get 1001; the partial answer is stored as interrupted
    await expect(page.locator("#status")).to_contain_text("reconnecting", timeout=WAIT_MS)
    again = uvicorn.Server(uvicorn_config(srv.settings, port=srv.port))
    task = asyncio.create_task(again.serve())
    try:
        await expect(answer).to_have_attribute("data-reason", "interrupted", timeout=WAIT_MS)
        await expect(answer.locator(".meta")).to_contain_text("server restarted")
        await expect(page.locator("#send")).to_be_enabled()
        await ask(page, "and after the restart?")
        await expect(page.locator("li.answer[data-reason=complete]")).to_have_count(
            1, timeout=WAIT_MS
        )
    finally:
        again.should_exit = True
        await task
