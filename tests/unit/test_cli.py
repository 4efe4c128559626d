"""The command line: fast help without heavy imports, the documented entry points, and `serve
--workers` (refused without a shared broker; one node id per worker)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from sheetstream import server
from sheetstream.cli import main
from sheetstream.settings import Settings

PROBE = """
import sys
from sheetstream.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
heavy = sorted(m for m in ("llama_cpp", "fastapi", "uvicorn", "httpx", "numpy") if m in sys.modules)
print("HEAVY", heavy)
"""


def test_help_imports_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    assert "serve" in out and "bench" in out
    assert "HEAVY []" in out


def test_python_dash_m_works_too() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sheetstream", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--port" in result.stdout and "--host" in result.stdout


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("SHEETSTREAM_"):
            monkeypatch.delenv(name)
    return monkeypatch


def _never(*args: Any) -> int:
    raise AssertionError("the service must not start")


def test_workers_refuse_a_memory_broker_and_say_what_to_set(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setattr(server, "serve_workers", _never)
    clean_env.setattr(server, "serve", _never)
    assert main(["serve", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--workers 2" in err and "memory://" in err
    assert "SHEETSTREAM_BROKER_URL=redis://" in err
    assert "SHEETSTREAM_DATABASE_URL=postgresql://" in err and "SQLite" in err


def test_workers_refuse_an_explicit_memory_broker_too(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("SHEETSTREAM_BROKER_URL", "memory://")
    clean_env.setattr(server, "serve_workers", _never)
    assert main(["serve", "--workers", "3", "--port", "9001"]) == 2
    assert "SHEETSTREAM_BROKER_URL=redis://" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_workers_must_be_a_positive_number(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    clean_env.setattr(server, "serve_workers", _never)
    clean_env.setattr(server, "serve", _never)
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--workers", value])
    assert exited.value.code == 2
    assert "--workers" in capsys.readouterr().err


def test_one_worker_is_the_single_process_path(clean_env: pytest.MonkeyPatch) -> None:
    served: list[Settings] = []
    clean_env.setattr(server, "serve", served.append)
    clean_env.setattr(server, "serve_workers", _never)
    assert main(["serve", "--port", "9002"]) == 0
    assert main(["serve", "--workers", "1", "--host", "0.0.0.0"]) == 0
    assert [(s.host, s.port) for s in served] == [("127.0.0.1", 9002), ("0.0.0.0", 8005)]


def test_workers_with_redis_reach_the_supervisor_with_the_overrides(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("SHEETSTREAM_BROKER_URL", "redis://:pw@127.0.0.1:6379/0")
    calls: list[tuple[str, int, int]] = []

    def serve_workers(settings: Settings, workers: int) -> int:
        calls.append((settings.host, settings.port, workers))
        return 3

    clean_env.setattr(server, "serve_workers", serve_workers)
    clean_env.setattr(server, "serve", _never)
    assert main(["serve", "--workers", "4", "--host", "0.0.0.0", "--port", "9003"]) == 3
    assert calls == [("0.0.0.0", 9003, 4)]


def test_each_worker_gets_a_node_id_of_its_own(clean_env: pytest.MonkeyPatch) -> None:
    assert server.worker_node_id("api", 4242) == "api-4242"
    assert server.worker_node_id("", 4242) == ""
    clean_env.setenv("SHEETSTREAM_NODE_ID", "api")
    assert server.worker_app().state.node_id == f"api-{os.getpid()}"
    clean_env.delenv("SHEETSTREAM_NODE_ID")
    default = server.worker_app().state.node_id  # host-pid-random: distinct per process
    assert f"-{os.getpid()}-" in default


def test_the_supervisor_refuses_a_memory_broker_itself(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="SHEETSTREAM_BROKER_URL=redis://"):
        server.serve_workers(Settings(), 2)
