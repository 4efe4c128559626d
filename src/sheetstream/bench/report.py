"""The machine description, the aims, and the human-readable table of a finished run."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

import psutil

Report = dict[str, Any]
_PACKAGES = ("sheetstream", "uvicorn", "websockets", "fastapi", "starlette", "uvloop", "orjson")


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "packages": {name: _version(name) for name in _PACKAGES},
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _median(report: Report, scenario: str, server: str, metric: str) -> Any:
    summary = report["scenarios"].get(scenario, {}).get("servers", {}).get(server, {})
    return summary.get("summary", {}).get(metric, {}).get("median")


def aims(report: Report) -> list[dict[str, Any]]:
    """The spec's targets next to what was measured; informative, never a pass/fail gate."""
    scenarios = report["scenarios"]
    throughput = scenarios.get("throughput", {}).get("ratios", {})
    rows: list[tuple[str, Any, str, float]] = [
        ("throughput ≥ 4× naive", throughput.get("throughput", {}).get("of_medians"), ">=", 4.0),
        (
            "CPU per token ≤ ¼ of naive",
            throughput.get("cpu_per_token", {}).get("of_medians"),
            "<=",
            0.25,
        ),
        (
            "client-side p99 < 10 ms",
            _median(report, "latency", "sheetstream", "p99_ms"),
            "<",
            10.0,
        ),
        (
            "server-side p99 < 10 ms",
            _median(report, "latency", "sheetstream", "server_p99_ms"),
            "<",
            10.0,
        ),
        (
            "idle connection < 35 KiB",
            _median(report, "idle_memory", "sheetstream", "kib_per_connection"),
            "<",
            35.0,
        ),
    ]
    out = []
    for name, value, op, target in rows:
        met = None
        if value is not None:
            met = {">=": value >= target, "<=": value <= target, "<": value < target}[op]
        out.append({"aim": name, "target": f"{op} {target:g}", "measured": value, "met": met})
    return out


def _cell(summary: dict[str, Any], digits: int) -> str:
    median = summary.get("median")
    if median is None:
        return "-"
    text = f"{median:,.{digits}f}"
    if summary.get("rounds", 0) > 1:
        text += f" [{summary['min']:,.{digits}f}–{summary['max']:,.{digits}f}]"
    return text


def _ratio_cell(ratios: dict[str, Any] | None) -> str:
    if not ratios or ratios.get("of_medians") is None:
        return ""
    rounds = ratios["per_round"]
    text = f"{ratios['of_medians']:.2f}×"
    if rounds.get("rounds", 0) > 1:
        text += f" [{rounds['min']:.2f}–{rounds['max']:.2f}]"
    return text


# scenario, metric, label, digits, ratio key
_ROWS: tuple[tuple[str, str, str, int, str | None], ...] = (
    ("throughput", "tokens_per_s", "delivered tokens/s", 0, "throughput"),
    ("throughput", "cpu_s_per_million_tokens", "server CPU s per M tokens", 2, "cpu_per_token"),
    ("throughput", "tokens_per_frame", "tokens per frame", 2, None),
    ("throughput", "server_cpu_utilisation", "server CPU busy (cores)", 2, None),
    ("throughput", "client_cpu_s", "load generator CPU s", 2, None),
    ("throughput", "background_cpu_cores", "other programs' CPU (cores)", 2, None),
    ("latency", "p50_ms", "token latency p50 ms (client)", 2, None),
    ("latency", "p99_ms", "token latency p99 ms (client)", 2, "p99"),
    ("latency", "p999_ms", "token latency p99.9 ms (client)", 2, None),
    ("latency", "first_token_p50_ms", "1st-token lateness p50 ms (client)", 2, None),
    ("latency", "first_token_p99_ms", "1st-token lateness p99 ms (client)", 2, None),
    ("latency", "server_p50_ms", "delivery p50 ms (server stats)", 3, None),
    ("latency", "server_p99_ms", "delivery p99 ms (server stats)", 3, None),
    ("latency", "server_cpu_utilisation", "server CPU busy (cores)", 2, None),
    ("latency", "background_cpu_cores", "other programs' CPU (cores)", 2, None),
    ("idle_memory", "kib_per_connection", "RSS KiB per idle connection", 1, "kib_per_connection"),
)


def _title(scenario: str, sizes: dict[str, Any]) -> str:
    if scenario == "throughput":
        return f"a) throughput: {sizes['clients']} clients × {sizes['tokens_per_answer']} tokens"
    if scenario == "latency":
        return (
            f"b) latency: {sizes['clients']} clients × {sizes['rate_tokens_per_s']:g} tok/s, "
            f"{sizes['tokens_per_answer']} tokens each"
        )
    return f"c) idle memory: {sizes['connections']} idle connections"


def render(report: Report) -> str:
    """The table: median [min–max over rounds] per server, and the sheetstream/naive ratio."""
    info = report["machine"]
    load = report["load_generator"]
    lines = [
        f"sheetstream bench{' --quick' if report['quick'] else ''}: "
        f"{info['cpu_count']} × {info['cpu_model']}, Python {info['python']}, "
        f"{report['sizes']['rounds']} round(s), median [min–max]",
        f"load: {load['workers']} worker process(es), websockets {load['websockets']}, "
        f"{load['event_loop']} loop; server and load generator share the machine",
        "",
    ]
    header = f"{'':34} {'sheetstream':>26} {'naive':>26} {'ratio':>18}"
    for scenario in ("throughput", "latency", "idle_memory"):
        data = report["scenarios"].get(scenario)
        if data is None:
            continue
        lines += ["", _title(scenario, data["sizes"]), header]
        for name, metric, label, digits, ratio_key in _ROWS:
            if name != scenario:
                continue
            cells = [
                _cell(data["servers"][kind]["summary"].get(metric, {}), digits)
                for kind in ("sheetstream", "naive")
            ]
            ratio = _ratio_cell(data["ratios"].get(ratio_key)) if ratio_key else ""
            lines.append(f"  {label:32} {cells[0]:>26} {cells[1]:>26} {ratio:>18}")
        failures = [
            ",".join(str(row["errors"]) for row in data["servers"][kind]["rounds"])
            for kind in ("sheetstream", "naive")
        ]
        label = "failed checks per round"
        lines.append(f"  {label:32} {failures[0]:>26} {failures[1]:>26}")
    caveat = " --quick sizes are far below the aims' sizes" if report["quick"] else ""
    lines += ["", f"aims (informative;{caveat or ' not a pass/fail gate'}):"]
    for aim in report["aims"]:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[aim["met"]]
        measured = "-" if aim["measured"] is None else f"{aim['measured']:g}"
        lines.append(f"  {aim['aim']:30} measured {measured:>10}  {verdict}")
    errors = report["errors"]
    lines += ["", f"client-side check failures: {errors}" + ("" if not errors else "  (see JSON)")]
    return "\n".join(lines)
