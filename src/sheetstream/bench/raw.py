"""The floor: the `websockets` library's own server, sending up to 4 pre-escaped tokens a frame.

The practical lower bound of streaming these answers from Python: no ASGI, no framework, no
storage, no stats, each token's JSON string escaped once (the first time it is seen), and a
frame assembled by joining strings. It streams the same synthetic model (same tokens, same
pace) and speaks just enough of the protocol for the bench clients: a `session` frame, then
`start`, `chunk`s of up to `TOKENS_PER_FRAME` tokens (the tokens the model has ready, never
one held back for another), and `end`. Run it as `python -m sheetstream.bench.raw --port P`;
settings come from the same SHEETSTREAM_* environment as the real service, and it runs on
the same event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import signal
from http import HTTPStatus

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from sheetstream.llm.base import ChatMessage, GenerationOptions, tokens_of
from sheetstream.llm.synthetic import SyntheticModel
from sheetstream.server import loop_factory
from sheetstream.settings import Settings

TOKENS_PER_FRAME = 4


def chunk_frame(seq: int, escaped: list[str]) -> str:
    """A chunk of already JSON-escaped token texts (each with its quotes)."""
    text = '"' + "".join(e[1:-1] for e in escaped) + '"' if len(escaped) > 1 else escaped[0]
    return f'{{"type":"chunk","seq":{seq},"text":{text},"tokens":{len(escaped)}}}'


class RawServer:
    def __init__(self, settings: Settings) -> None:
        self.model = SyntheticModel.from_settings(settings)
        self.options = GenerationOptions(max_tokens=settings.max_answer_tokens)
        self.escaped: dict[str, str] = {}
        self.ids = itertools.count(1)

    async def load(self) -> None:
        await self.model.load()

    def escape(self, token: str) -> str:
        """The token as a JSON string, escaped the first time it is seen (every answer is
        the same text, so after the first answer every lookup finds it)."""
        escaped = self.escaped.get(token)
        if escaped is None:
            escaped = self.escaped[token] = orjson.dumps(token).decode()
        return escaped

    def health(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        return None

    async def chat(self, ws: ServerConnection) -> None:
        number = next(self.ids)
        await ws.send(
            f'{{"type":"session","session_id":"ss_{number}","protocol":1,"resumable":[]}}'
        )
        async for message in ws:
            frame = orjson.loads(message)
            if frame.get("type") != "chat":
                continue
            stream_id = f"st_{number}_{next(self.ids)}"
            request_id = orjson.dumps(frame.get("request_id")).decode()
            await ws.send(
                f'{{"type":"start","request_id":{request_id},"stream_id":"{stream_id}",'
                '"mode":"token"}'
            )
            seq = tokens = 0
            escape = self.escape
            async for item in self.model.stream([ChatMessage("user", "")], self.options):
                run = tokens_of(item)
                for start in range(0, len(run), TOKENS_PER_FRAME):
                    part = [escape(token) for token in run[start : start + TOKENS_PER_FRAME]]
                    seq += 1
                    tokens += len(part)
                    await ws.send(chunk_frame(seq, part))
            await ws.send(
                f'{{"type":"end","stream_id":"{stream_id}","seq":{seq},"reason":"complete",'
                f'"tokens":{tokens}}}'
            )


async def run(port: int, settings: Settings) -> None:
    server = RawServer(settings)
    await server.load()
    async with serve(
        server.chat,
        settings.host,
        port,
        process_request=server.health,
        compression=None,
        ping_interval=None,
        max_size=settings.max_message_bytes,
    ) as running:
        await running.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sheetstream.bench.raw")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    settings = Settings(port=args.port)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM ends it as Ctrl-C does
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=loop_factory(settings)) as runner,
    ):
        runner.run(run(args.port, settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
