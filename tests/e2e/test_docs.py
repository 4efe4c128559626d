"""The README's promises: its two commands first, and its example runs as written."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from tests.conftest import SAMPLE, StartServer

ROOT = Path(__file__).resolve().parents[2]


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert block is not None and readme.index(block.group(0)) < 40
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["make serve", "make test"]


async def test_readme_example_runs_against_a_server(
    start_server: StartServer, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = await start_server()
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S)
    assert code is not None
    source = code.group(1).replace("ws://127.0.0.1:8005", srv.ws)
    source = source.replace("asyncio.run(main())", "")
    namespace: dict[str, object] = {}
    exec(compile(source, "README.md", "exec"), namespace)
    await namespace["main"]()  # type: ignore[operator]
    assert capsys.readouterr().out == SAMPLE + "\n"


async def test_examples_ask_runs_against_a_server(
    start_server: StartServer, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = await start_server()
    example = runpy.run_path(str(ROOT / "examples" / "ask.py"))
    await example["main"](f"{srv.ws}/ws/chat")
    assert capsys.readouterr().out == SAMPLE + "\n"
