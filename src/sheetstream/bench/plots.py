"""Charts of a bench report, as SVG files: `sheetstream bench --plots DIR`, or
`python -m sheetstream.bench.plots report.json DIR` for a report saved with `--output`.

- tokens/s per round at full speed, one line per server;
- the token latency CDF at each reading pace (the median round of each server), log scale;
- RSS against idle connections, one line per server per round.

matplotlib draws them (the `bench` extra); nothing else here needs it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

COLOURS = {"sheetstream": "#1f6feb", "naive": "#d1242f", "raw": "#6e7781"}
Report = dict[str, Any]


def draw(report: Report, out_dir: Path) -> list[Path]:
    """Every chart the report has data for; the paths written."""
    try:
        import matplotlib
    except ImportError as exc:
        raise SystemExit(
            "--plots needs matplotlib: pip install 'sheetstream[bench]' (or matplotlib)"
        ) from exc
    matplotlib.use("Agg")
    out_dir.mkdir(parents=True, exist_ok=True)
    scenarios = report["scenarios"]
    written = []
    if "throughput" in scenarios:
        written.append(_throughput(scenarios["throughput"], out_dir / "throughput.svg"))
    for name in ("latency", "pace"):
        if name in scenarios:
            written.append(_cdf(name, scenarios[name], out_dir / f"{name}-cdf.svg"))
    if "idle_memory" in scenarios:
        written.append(_idle(scenarios["idle_memory"], out_dir / "idle-rss.svg"))
    return written


def _figure() -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=100)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})  # no date: the file is stable
    plt.close(fig)
    return path


def _throughput(data: Report, path: Path) -> Path:
    fig, ax = _figure()
    for kind, server in data["servers"].items():
        values = [row["tokens_per_s"] / 1000 for row in server["rounds"]]
        ax.plot(range(1, len(values) + 1), values, "o-", label=kind, color=COLOURS.get(kind))
    sizes = data["sizes"]
    ax.set_title(
        f"Delivered tokens/s, {sizes['clients']} clients × {sizes['tokens_per_answer']} tokens"
    )
    ax.set_xlabel("round")
    ax.set_ylabel("thousand tokens/s")
    ax.set_ylim(bottom=0)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    return _save(fig, path)


def _cdf(name: str, data: Report, path: Path) -> Path:
    fig, ax = _figure()
    for kind, server in data["servers"].items():
        rounds = [row for row in server["rounds"] if row.get("cdf_ms")]
        if not rounds:
            continue
        rounds.sort(key=lambda row: row["p99_ms"])
        median = rounds[len(rounds) // 2]  # the round with the median p99
        qs = [q for q, _ in median["cdf_ms"]]
        ms = [max(value, 0.01) for _, value in median["cdf_ms"]]  # log scale: early is ~0
        ax.plot(ms, qs, label=f"{kind} (p99 {median['p99_ms']:.2f} ms)", color=COLOURS.get(kind))
    sizes = data["sizes"]
    ax.set_xscale("log")
    ax.set_title(
        f"Token latency, {sizes['clients']} streams × {sizes['rate_tokens_per_s']:g} tokens/s"
    )
    ax.set_xlabel("latency, ms (arrival − due time; log scale, ≤ 0.01 ms drawn at 0.01)")
    ax.set_ylabel("percent of tokens")
    ax.set_ylim(0, 100.5)
    ax.legend(loc="lower right")
    return _save(fig, path)


def _idle(data: Report, path: Path) -> Path:
    fig, ax = _figure()
    for kind, server in data["servers"].items():
        for index, row in enumerate(server["rounds"]):
            curve = row.get("rss_mib_by_connections") or []
            xs = [n / 1000 for n, _ in curve]
            ys = [mib for _, mib in curve]
            label = f"{kind} ({row['kib_per_connection']:.1f} KiB each)" if index == 0 else None
            ax.plot(xs, ys, "o-", label=label, color=COLOURS.get(kind), alpha=0.8)
    ax.set_title("Server RSS against idle connections held")
    ax.set_xlabel("thousand idle connections")
    ax.set_ylabel("RSS, MiB")
    ax.set_ylim(bottom=0)
    ax.legend()
    return _save(fig, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m sheetstream.bench.plots REPORT.json DIR", file=sys.stderr)
        return 2
    report = orjson.loads(Path(args[0]).read_bytes())
    for path in draw(report, Path(args[1])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
