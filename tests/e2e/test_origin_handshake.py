"""Cross-site handshakes are refused before accept with HTTP 403; others go through."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import StartServer


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "https://app.example.evil"])
async def test_foreign_origin_gets_403(start_server: StartServer, origin: str) -> None:
    srv = await start_server(allowed_origins=["https://app.example"])
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"{srv.ws}/ws/chat", origin=origin):  # type: ignore[arg-type]
            pass
    assert info.value.response.status_code == 403


@pytest.mark.parametrize("origin", [None, "https://app.example", "same"])
async def test_allowed_origins_connect(start_server: StartServer, origin: str | None) -> None:
    srv = await start_server(allowed_origins=["https://app.example"])
    if origin == "same":
        origin = f"http://127.0.0.1:{srv.port}"
    async with connect(f"{srv.ws}/ws/chat", origin=origin) as ws:  # type: ignore[arg-type]
        assert '"session"' in str(await ws.recv())
