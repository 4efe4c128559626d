"""Ask sheetstream one question and print the answer as it streams."""

import asyncio
import sys

from sheetstream.client import SheetstreamClient


async def main(url: str = "ws://127.0.0.1:8005/ws/chat") -> None:
    async with SheetstreamClient.connect(url) as client:
        request_id = await client.chat("Say hello in one sentence.", mode="sentence")
        async for frame in client.follow(request_id):
            if frame["type"] == "chunk":
                print(frame["text"], end="", flush=True)
        print()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
