"""Each process runs on the event loop its settings name."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
import uvicorn

from sheetstream.server import run_server, uvicorn_options
from sheetstream.settings import Settings


class _Recorder:
    loop: str = ""

    async def serve(self) -> None:
        self.loop = type(asyncio.get_running_loop()).__module__


@pytest.mark.parametrize(("name", "module"), [("uvloop", "uvloop"), ("asyncio", "asyncio")])
def test_the_server_runs_on_the_loop_the_settings_name(name: str, module: str) -> None:
    recorder = _Recorder()
    settings = Settings(event_loop=name)  # type: ignore[arg-type]
    run_server(cast(uvicorn.Server, recorder), settings)
    assert recorder.loop.split(".")[0] == module
    options: dict[str, Any] = uvicorn_options(settings)
    assert options["loop"] == name  # the workers of `serve --workers N` too
