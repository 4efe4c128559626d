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
    """The issue's targets next to what was measured; informative, never a pass/fail gate."""
    scenarios = report["scenarios"]
    throughput = scenarios.get("throughput", {}).get("ratios", {})
    pace = scenarios.get("pace", {}).get("ratios", {})

    def of(ratios: dict[str, Any], key: str) -> Any:
        return ratios.get(key, {}).get("of_medians")

    rows: list[tuple[str, Any, str, float]] = [
        ("full speed: tokens/s ≥ 5× naive", of(throughput, "throughput"), ">=", 5.0),
        ("full speed: tokens/s ≥ 1.5× raw", of(throughput, "throughput_vs_raw"), ">=", 1.5),
        (
            "full speed: CPU s per M tokens ≤ 1",
            _median(report, "throughput", "sheetstream", "cpu_s_per_million_tokens"),
            "<=",
            1.0,
        ),
        (
            "human pace: client p99 ≤ 10 ms",
            _median(report, "pace", "sheetstream", "p99_ms"),
            "<=",
            10.0,
        ),
        ("human pace: CPU ≤ ½ naive's", of(pace, "cpu"), "<=", 0.5),
        (
            "human pace: server's TTFT p99 ≤ 2 ms",
            _median(report, "pace", "sheetstream", "server_ttft_added_p99_ms"),
            "<=",
            2.0,
        ),
        (
            "idle connection ≤ 12 KiB",
            _median(report, "idle_memory", "sheetstream", "kib_per_connection"),
            "<=",
            12.0,
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


# metric, label, digits, ratio key (÷ naive; the ÷ raw key adds `_vs_raw`)
_THROUGHPUT_ROWS: tuple[tuple[str, str, int, str | None], ...] = (
    ("tokens_per_s", "delivered tokens/s", 0, "throughput"),
    ("cpu_s_per_million_tokens", "server CPU s per M tokens", 2, "cpu_per_token"),
    ("tokens_per_frame", "tokens per frame", 2, None),
    ("server_cpu_utilisation", "server CPU busy (cores)", 2, None),
    ("client_cpu_s", "load generator CPU s", 2, None),
    ("background_cpu_cores", "other programs' CPU (cores)", 2, None),
)
_READING_ROWS: tuple[tuple[str, str, int, str | None], ...] = (
    ("p50_ms", "token latency p50 ms (client)", 2, None),
    ("p99_ms", "token latency p99 ms (client)", 2, "p99"),
    ("p999_ms", "token latency p99.9 ms (client)", 2, None),
    ("first_token_p50_ms", "1st-token lateness p50 ms (client)", 2, None),
    ("first_token_p99_ms", "1st-token lateness p99 ms (client)", 2, None),
    ("frames_per_token", "chunk frames per token", 3, None),
    ("server_p50_ms", "delivery p50 ms (server stats)", 3, None),
    ("server_p99_ms", "delivery p99 ms (server stats)", 3, None),
    ("server_ttft_p99_ms", "time to 1st token p99 ms (server)", 3, None),
    ("server_ttft_added_p99_ms", "  the same beyond the model's 1/R", 3, None),
    ("server_cpu_utilisation", "server CPU busy (cores)", 2, "cpu"),
    ("background_cpu_cores", "other programs' CPU (cores)", 2, None),
)
_ROWS: dict[str, tuple[tuple[str, str, int, str | None], ...]] = {
    "throughput": _THROUGHPUT_ROWS,
    "latency": _READING_ROWS,
    "pace": _READING_ROWS,
    "idle_memory": (
        ("kib_per_connection", "RSS KiB per idle connection", 1, "kib_per_connection"),
        ("rss_after_mib", "RSS MiB with them open", 1, None),
    ),
}
SINGLE_SERVER_SCENARIOS = tuple(_ROWS)


def _title(scenario: str, sizes: dict[str, Any]) -> str:
    if scenario == "throughput":
        return f"a) throughput: {sizes['clients']} clients × {sizes['tokens_per_answer']} tokens"
    if scenario in ("latency", "pace"):
        letter = "b)" if scenario == "latency" else "b')"
        return (
            f"{letter} {scenario}: {sizes['clients']} clients × "
            f"{sizes['rate_tokens_per_s']:g} tok/s, {sizes['tokens_per_answer']} tokens each"
        )
    return f"c) idle memory: {sizes['connections']} idle connections"


def render(report: Report) -> str:
    """The table: median [min–max over rounds] per server, and sheetstream's ratios to the
    naive endpoint and to the raw floor."""
    info = report["machine"]
    load = report["load_generator"]
    single = [name for name in SINGLE_SERVER_SCENARIOS if name in report["scenarios"]]
    rounds = f"{report['sizes']['rounds']} round(s), " if single else ""
    lines = [
        f"sheetstream bench{' --quick' if report['quick'] else ''}: "
        f"{info['cpu_count']} × {info['cpu_model']}, Python {info['python']}, "
        f"{rounds}median [min–max]",
        f"load: {load['workers']} worker process(es), websockets {load['websockets']}, "
        f"{load['event_loop']} loop; server and load generator share the machine",
        "",
    ]
    kinds = ("sheetstream", "naive", "raw")
    header = f"{'':35} {'sheetstream':>24} {'naive':>24} {'raw':>24} {'÷ naive':>18} {'÷ raw':>18}"
    for scenario in SINGLE_SERVER_SCENARIOS:
        data = report["scenarios"].get(scenario)
        if data is None:
            continue
        lines += ["", _title(scenario, data["sizes"]), header]
        for metric, label, digits, ratio_key in _ROWS[scenario]:
            cells = [
                _cell(data["servers"][kind]["summary"].get(metric, {}), digits) for kind in kinds
            ]
            ratios = data["ratios"]
            by_naive = _ratio_cell(ratios.get(ratio_key)) if ratio_key else ""
            by_raw = _ratio_cell(ratios.get(f"{ratio_key}_vs_raw")) if ratio_key else ""
            lines.append(
                f"  {label:33} {cells[0]:>24} {cells[1]:>24} {cells[2]:>24} "
                f"{by_naive:>18} {by_raw:>18}"
            )
        failures = [
            ",".join(str(row["errors"]) for row in data["servers"][kind]["rounds"])
            for kind in kinds
        ]
        label = "failed checks per round"
        lines.append(f"  {label:33} {failures[0]:>24} {failures[1]:>24} {failures[2]:>24}")
    if "fleet" in report["scenarios"]:
        lines += render_fleet(report["scenarios"]["fleet"])
    caveat = " --quick sizes are far below the aims' sizes" if report["quick"] else ""
    if single:
        lines += ["", f"aims (informative;{caveat or ' not a pass/fail gate'}):"]
        for aim in report["aims"]:
            verdict = {True: "met", False: "MISSED", None: "not measured"}[aim["met"]]
            measured = "-" if aim["measured"] is None else f"{aim['measured']:g}"
            lines.append(f"  {aim['aim']:36} measured {measured:>10}  {verdict}")
    errors = report["errors"]
    lines += ["", f"client-side check failures: {errors}" + ("" if not errors else "  (see JSON)")]
    return "\n".join(lines)


# --- the fleet scenario

# label, local (A) metric, cross-node (B) metric, B − A metric, digits
_LATENESS_ROWS: tuple[tuple[str, str | None, str | None, str | None, int], ...] = (
    ("token latency p50 ms (client)", "local_p50_ms", "cross_p50_ms", "diff_p50_ms", 2),
    ("token latency p99 ms (client)", "local_p99_ms", "cross_p99_ms", "diff_p99_ms", 2),
    ("token latency p99.9 ms (client)", "local_p999_ms", "cross_p999_ms", "diff_p999_ms", 2),
    ("token latency max ms (client)", "local_max_ms", "cross_max_ms", None, 1),
    ("same token, B arrival − A p50 ms", None, None, "hop_p50_ms", 2),
    ("same token, B arrival − A p99 ms", None, None, "hop_p99_ms", 2),
    ("same token, B arrival − A p99.9 ms", None, None, "hop_p999_ms", 2),
    ("from 1st chunk on A: p50 ms", "local_steady_p50_ms", "cross_steady_p50_ms", None, 2),
    ("from 1st chunk on A: p99 ms", "local_steady_p99_ms", "cross_steady_p99_ms", None, 2),
    ("1st-token lateness p99 ms (client)", "first_local_p99_ms", "first_cross_p99_ms", None, 2),
    ("start frame after A's p50 ms", None, "start_lag_p50_ms", None, 2),
    ("start frame after A's p99 ms", None, "start_lag_p99_ms", None, 2),
    ("chunk frames per token", "a_frames_per_token", "b_frames_per_token", None, 3),
    ("delivery p99 ms (server stats)", "a_server_p99_ms", "b_server_p99_ms", None, 2),
    ("event-loop lag p99 ms (server)", "a_loop_lag_p99_ms", "b_loop_lag_p99_ms", None, 2),
    ("node CPU busy (cores)", "a_cpu_cores", "b_cpu_cores", None, 2),
    ("Redis server CPU (cores)", "redis_cpu_cores", None, None, 2),
    ("load generator CPU s", "client_cpu_s", None, None, 2),
    ("other programs' CPU (cores)", "background_cpu_cores", None, None, 2),
)
_OPS_ROWS: tuple[tuple[str, str, int], ...] = (
    ("(A.log_commands + B.log_reads) / token", "ops_per_token", 4),
    ("A.log_writes / token (round trips)", "log_writes_per_token", 4),
    ("A.log_commands / token", "log_commands_per_token", 4),
    ("A.log_entries / token", "log_entries_per_token", 4),
    ("B.log_reads / token", "log_reads_per_token", 4),
    ("Redis evalsha calls / token", "redis_evalsha_per_token", 4),
    ("Redis xadd calls / token", "redis_xadd_per_token", 4),
    ("Redis xread calls / token", "redis_xread_per_token", 4),
    ("Redis script|exists calls / token", "redis_script|exists_per_token", 4),
    ("Redis publish calls / token", "redis_publish_per_token", 4),
    ("Redis calls of all commands / token", "redis_all_per_token", 4),
    ("Redis server CPU µs / token", "redis_cpu_us_per_token", 2),
)
_WORKERS_ROWS: tuple[tuple[str, str, int, str | None], ...] = (
    ("delivered tokens/s (client)", "tokens_per_s", 0, "throughput"),
    ("server CPU s per M tokens", "cpu_s_per_million_tokens", 2, "cpu_per_token"),
    ("server CPU busy (cores, all procs)", "server_cpu_cores", 2, None),
    ("Redis server CPU (cores)", "redis_cpu_cores", 2, None),
    ("tokens per frame", "tokens_per_frame", 2, None),
    ("load generator CPU s", "client_cpu_s", 2, None),
    ("other programs' CPU (cores)", "background_cpu_cores", 2, None),
)


def render_fleet(data: Report) -> list[str]:
    """The fleet scenario's three tables."""
    sizes = data["sizes"]
    lateness = data["lateness"]
    summary = lateness["summary"]
    lines = [
        "",
        f"d) fleet, cross-node lateness: {sizes['sessions']} sessions × "
        f"{sizes['rate']:g} tok/s, {sizes['tokens']} tokens each; asking tab on node A, "
        f"reader tab on node B; {sizes['workers']} load worker(s), Redis "
        f"{data['redis']['version']}",
        f"{'':36} {'local (tab on A)':>24} {'cross-node (tab on B)':>24} {'B − A':>18}",
    ]
    for label, local, cross, diff, digits in _LATENESS_ROWS:
        cells = [
            _cell(summary.get(metric, {}), digits) if metric else ""
            for metric in (local, cross, diff)
        ]
        lines.append(f"  {label:34} {cells[0]:>24} {cells[1]:>24} {cells[2]:>18}")
    failures = ",".join(str(row["errors"]) for row in lateness["rounds"])
    lines.append(f"  {'failed checks per round':34} {failures:>24}")
    ops = data["redis_ops"]["summary"]
    lines += ["", "   Redis operations per generated token (same rounds)"]
    for label, metric, digits in _OPS_ROWS:
        lines.append(f"  {label:40} {_cell(ops.get(metric, {}), digits):>24}")
    lines.append(
        "  (Redis figures are server-wide: any other client of this Redis counts too; the "
        "commands a script runs count as calls of their own)"
    )
    throughput = data["throughput"]
    servers = throughput["servers"]
    first = servers["workers_1"]["rounds"]
    clients = first[0]["clients"] if first else "?"
    lines += [
        "",
        f"e) fleet, serve --workers 2 against --workers 1: {clients} clients × "
        f"{sizes['throughput_tokens']} tokens, flat out, Redis broker",
        f"{'':36} {'--workers 1':>24} {'--workers 2':>24} {'2 / 1':>18}",
    ]
    for label, metric, digits, ratio_key in _WORKERS_ROWS:
        cells = [
            _cell(servers[kind]["summary"].get(metric, {}), digits)
            for kind in ("workers_1", "workers_2")
        ]
        ratio = _ratio_cell(throughput["ratios"].get(ratio_key)) if ratio_key else ""
        lines.append(f"  {label:34} {cells[0]:>24} {cells[1]:>24} {ratio:>18}")
    split = [
        " / ".join(
            ",".join(str(n) for n in row["clients_per_worker"]) for row in servers[kind]["rounds"]
        )
        for kind in ("workers_1", "workers_2")
    ]
    lines.append(f"  {'clients per process, per round':34} {split[0]:>24} {split[1]:>24}")
    failures_by = [
        ",".join(str(row["errors"]) for row in servers[kind]["rounds"])
        for kind in ("workers_1", "workers_2")
    ]
    label = "failed checks per round"
    lines.append(f"  {label:34} {failures_by[0]:>24} {failures_by[1]:>24}")
    return lines
