"""The web page and the admin dashboard: static files from `sheetstream/web`, no build step.

`GET /` is shared with the health report: browsers (which ask for `text/html`) get the chat
page, everyone else the JSON status (see `routes/health.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

# The pages load nothing from elsewhere and run no inline script: a reply that smuggled HTML
# past the renderer still could not run code or send data away.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter()


def page(name: str) -> FileResponse:
    return FileResponse(WEB_DIR / name, media_type="text/html", headers=SECURITY_HEADERS)


@router.api_route("/admin", methods=["GET", "HEAD"], include_in_schema=False)
async def admin_page() -> FileResponse:
    return page("admin.html")


class _SecureStatic(StaticFiles):
    """The page's files with the pages' own headers: an HTML file opened by its /static URL
    is as locked down as at `/` and `/admin`."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(SECURITY_HEADERS)
        return response


static = _SecureStatic(directory=WEB_DIR)
