"""The page's files: where they are served, and that every one carries the pages' headers."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StartServer

HTML = {"accept": "text/html,application/xhtml+xml"}


@pytest.mark.parametrize(
    ("path", "headers", "kind"),
    [
        ("/", HTML, "text/html"),
        ("/admin", {}, "text/html"),
        ("/static/index.html", {}, "text/html"),
        ("/static/admin.html", {}, "text/html"),
        ("/static/app.js", {}, "javascript"),
        ("/static/markdown.js", {}, "javascript"),
        ("/static/style.css", {}, "text/css"),
    ],
)
async def test_every_page_file_is_locked_down(
    start_server: StartServer, path: str, headers: dict[str, str], kind: str
) -> None:
    srv = await start_server()
    async with httpx.AsyncClient(base_url=srv.http) as http:
        reply = await http.get(path, headers=headers)
    assert reply.status_code == 200 and kind in reply.headers["content-type"]
    policy = reply.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "connect-src 'self';" in policy
    assert reply.headers["x-content-type-options"] == "nosniff"


async def test_root_varies_on_accept(start_server: StartServer) -> None:
    srv = await start_server()
    async with httpx.AsyncClient(base_url=srv.http) as http:
        page = await http.get("/", headers=HTML)
        status = await http.get("/", headers={"accept": "application/json"})
    assert page.headers["vary"] == status.headers["vary"] == "Accept"
    assert "<title>sheetstream</title>" in page.text and status.json()["service"] == "sheetstream"


@pytest.mark.parametrize("path", ["/", "/admin"])
async def test_head_answers_like_get(start_server: StartServer, path: str) -> None:
    srv = await start_server()
    async with httpx.AsyncClient(base_url=srv.http) as http:
        head = await http.head(path, headers=HTML)
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/html")
