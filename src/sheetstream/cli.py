"""`sheetstream serve`, `sheetstream bench` and `sheetstream eval`.

Imports stay inside commands so --help is fast.
"""

from __future__ import annotations

import argparse
import sys


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


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
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        metavar="N",
        help="processes serving the one port (default 1); more than 1 needs "
        "SHEETSTREAM_BROKER_URL=redis://...",
    )
    bench = commands.add_parser(
        "bench", help="measure streaming against a naive endpoint and the raw websockets floor"
    )
    bench.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    bench.add_argument("--output", help="write the JSON report to this file")
    bench.add_argument(
        "--plots",
        metavar="DIR",
        help="draw the charts (SVG) into DIR: tokens/s per round, the latency CDF, RSS "
        "against idle connections (needs matplotlib: pip install 'sheetstream[bench]')",
    )
    bench.add_argument(
        "--scenarios",
        metavar="NAME[,NAME]",
        help="scenarios to run, of throughput, latency, pace, idle_memory, fleet "
        "(default: throughput,latency,pace,idle_memory)",
    )
    bench.add_argument(
        "--fleet",
        action="store_true",
        help="also run the fleet scenario (two nodes and --workers 2 on a Redis at "
        "127.0.0.1:6379, or SHEETSTREAM_BENCH_REDIS)",
    )
    bench.add_argument(
        "--fleet-sessions",
        type=_positive,
        metavar="N",
        help="sessions of the fleet scenario's lateness part (default 500, --quick 50)",
    )
    evaluate = commands.add_parser(
        "eval",
        help="ask the evaluation questions of a real server and grade its answers",
    )
    evaluate.add_argument("--output", help="write every answer and its grade to this JSON file")
    evaluate.add_argument(
        "--set",
        choices=("main", "heldout", "blind", "all"),
        default="main",
        help="the questions the planner was written against (main, the default), those "
        "written apart from it and then used to improve it (heldout), those written last "
        "and never tuned on (blind), or all three",
    )
    evaluate.add_argument(
        "--categories",
        metavar="NAME[,NAME]",
        help="only these categories (total, average, count, min_max, group_by, filter, "
        "top_n, share, compare, trend, distinct, join, decline)",
    )
    args = parser.parse_args(argv)

    if args.command == "serve":
        from sheetstream.server import serve as run
        from sheetstream.server import serve_workers, workers_problem
        from sheetstream.settings import Settings

        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        settings = Settings(**overrides)
        if args.workers == 1:
            run(settings)
            return 0
        problem = workers_problem(settings, args.workers)
        if problem is not None:
            print(f"sheetstream: {problem}", file=sys.stderr)
            return 2
        return serve_workers(settings, args.workers)
    if args.command == "bench":
        import dataclasses

        from sheetstream.bench.fleet import FLEET_FULL, FLEET_QUICK
        from sheetstream.bench.run import chosen
        from sheetstream.bench.run import main as bench_main

        try:
            scenarios = chosen(args.scenarios, args.fleet)
        except ValueError as exc:
            bench.error(str(exc))
        fleet_sizes = FLEET_QUICK if args.quick else FLEET_FULL
        if args.fleet_sessions is not None:
            fleet_sizes = dataclasses.replace(fleet_sizes, sessions=args.fleet_sessions)
        return bench_main(args.quick, args.output, scenarios, fleet_sizes, args.plots)
    if args.command == "eval":
        try:
            from sheetstream.evaluation.run import main as eval_main
        except ImportError as exc:  # the workbooks are written with openpyxl
            print(
                f"sheetstream eval needs {exc.name}: pip install 'sheetstream[eval]'",
                file=sys.stderr,
            )
            return 2
        categories = [c for c in (args.categories or "").split(",") if c]
        return eval_main(args.output, categories, args.set)
    parser.print_help(sys.stderr)
    return 2
