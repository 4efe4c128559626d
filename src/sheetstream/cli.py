"""`sheetstream serve` and `sheetstream bench`. Imports stay inside commands so --help is fast."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sheetstream",
        description="Chat with Excel workbooks; answers stream over WebSockets. "
        "Settings come from SHEETSTREAM_* environment variables (docs/configuration.md).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1 or SHEETSTREAM_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8005 or SHEETSTREAM_PORT)")
    bench = commands.add_parser("bench", help="measure streaming against a naive endpoint")
    bench.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    bench.add_argument("--output", help="write the JSON report to this file")
    args = parser.parse_args(argv)

    if args.command == "serve":
        from sheetstream.server import serve as run
        from sheetstream.settings import Settings

        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        run(Settings(**overrides))
        return 0
    if args.command == "bench":
        from sheetstream.bench.run import main as bench_main

        return bench_main(quick=args.quick, output=args.output)
    parser.print_help(sys.stderr)
    return 2
