"""`sheetstream bench`'s single-server scenarios at a tiny size: every server runs, every
check passes, the report has its parts and the charts are drawn; never the figures (a
benchmark judges nothing)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import orjson
import pytest

from sheetstream.bench import run
from sheetstream.bench.scenarios import Sizes
from sheetstream.bench.servers import SERVER_KINDS

TINY = Sizes(
    rounds=1,
    workers=1,
    throughput_clients=3,
    throughput_tokens=100,
    latency_clients=4,
    latency_rate=50.0,
    latency_tokens=10,
    latency_ramp_s=0.1,
    idle_connections=6,
    pace_clients=4,
    pace_rate=100.0,
    pace_tokens=10,
    idle_rounds=1,
    idle_steps=2,
    warm_up=False,
)


@pytest.mark.slow
def test_every_single_server_scenario_runs_against_all_three_servers(tmp_path: Path) -> None:
    output, plots = tmp_path / "bench.json", tmp_path / "plots"
    status = run.main(output=str(output), plots=str(plots), sizes=TINY)
    report = orjson.loads(output.read_bytes())
    assert status == 0, report["failures"] or report["scenarios"]
    assert report["errors"] == 0 and list(report["scenarios"]) == list(run.DEFAULT_SCENARIOS)
    for name, scenario in report["scenarios"].items():
        assert set(scenario["servers"]) == set(SERVER_KINDS), name
        for server in scenario["servers"].values():
            assert server["errors"] == 0 and server["rounds"], name
    throughput = report["scenarios"]["throughput"]
    assert throughput["ratios"]["throughput_vs_raw"]["of_medians"] > 0
    # the raw floor sends at most 4 tokens a frame; the naive endpoint one
    raw = throughput["servers"]["raw"]["summary"]["tokens_per_frame"]["median"]
    naive = throughput["servers"]["naive"]["summary"]["tokens_per_frame"]["median"]
    assert 1.0 < raw <= 4.0 and naive == 1.0
    pace = report["scenarios"]["pace"]["servers"]["sheetstream"]["rounds"][0]
    assert pace["server_ttft_p99_ms"] is not None and pace["cdf_ms"][-1][0] == 100
    idle = report["scenarios"]["idle_memory"]["servers"]["sheetstream"]["rounds"][0]
    assert [n for n, _ in idle["rss_mib_by_connections"]] == [0, 3, 6]
    charts = sorted(path.name for path in plots.iterdir())
    assert charts == ["idle-rss.svg", "latency-cdf.svg", "pace-cdf.svg", "throughput.svg"]
    for chart in plots.iterdir():
        assert ET.parse(chart).getroot().tag.endswith("svg")
    assert {aim["aim"] for aim in report["aims"]} >= {"idle connection ≤ 12 KiB"}
