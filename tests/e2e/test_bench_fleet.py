"""`sheetstream bench --scenarios fleet` at a tiny size: the report's structure, never its
figures (a benchmark judges nothing); and the scenario selection of the command line."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from sheetstream.bench import run
from sheetstream.bench.fleet import FleetSizes
from sheetstream.cli import main as cli_main
from tests.redisdb import redis_reachable

TINY = FleetSizes(
    sessions=5,
    rate=20.0,
    tokens=10,
    ramp_s=0.1,
    lateness_rounds=1,
    throughput_clients=2,
    throughput_tokens=20,
    throughput_rounds=1,
    workers=1,
    warm_up=False,
)


def test_scenarios_default_to_the_single_server_ones_and_fleet_is_asked_for() -> None:
    assert run.chosen() == ("throughput", "latency", "pace", "idle_memory")
    assert run.chosen(with_fleet=True)[-1] == "fleet"
    assert run.chosen("fleet,latency") == ("latency", "fleet")
    with pytest.raises(ValueError, match="nope"):
        run.chosen("latency,nope")


def test_an_unknown_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main(["bench", "--scenarios", "nope"])
    assert exited.value.code == 2
    assert "unknown scenario" in capsys.readouterr().err


@pytest.mark.slow
def test_the_fleet_scenario_runs_at_a_tiny_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not redis_reachable():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable at 127.0.0.1:6379; .ci/run starts it")
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    output = tmp_path / "fleet.json"
    status = run.main(output=str(output), scenarios=("fleet",), fleet_sizes=TINY)
    report = orjson.loads(output.read_bytes())
    assert status == 0, report["failures"] or report["scenarios"]
    assert report["failures"] == [] and report["errors"] == 0
    assert list(report["scenarios"]) == ["fleet"]
    fleet = report["scenarios"]["fleet"]
    assert {"sizes", "redis", "lateness", "redis_ops", "throughput", "errors"} <= set(fleet)

    (lateness,) = fleet["lateness"]["rounds"]
    assert lateness["errors"] == 0, lateness["error_samples"]
    assert lateness["answers_complete"] == TINY.sessions
    assert lateness["tokens"] == TINY.sessions * TINY.tokens
    for key in (
        "local_p50_ms",
        "local_p99_ms",
        "local_p999_ms",
        "cross_p50_ms",
        "cross_p99_ms",
        "cross_p999_ms",
        "diff_p99_ms",
        "hop_p99_ms",
        "a_frames_per_token",
        "b_frames_per_token",
        "ops_per_token",
        "log_writes_per_token",
        "log_entries_per_token",
        "redis_evalsha_per_token",
    ):
        assert lateness[key] is not None, key
    for key in ("local_p99_ms", "cross_p99_ms", "diff_p99_ms", "a_frames_per_token"):
        assert fleet["lateness"]["summary"][key]["rounds"] == 1, key
    assert set(fleet["redis_ops"]["summary"]) >= {"ops_per_token", "redis_all_per_token"}

    servers = fleet["throughput"]["servers"]
    assert set(servers) == {"workers_1", "workers_2"}
    for server in servers.values():
        (row,) = server["rounds"]
        assert row["errors"] == 0, row["error_samples"]
        assert row["answers_complete"] == TINY.throughput_clients
        assert row["tokens_per_s"] > 0 and row["server_cpu_s"] is not None
    assert fleet["throughput"]["ratios"]["throughput"]["of_medians"] is not None

    table = capsys.readouterr().out
    assert "cross-node lateness" in table and "--workers 2 against --workers 1" in table
