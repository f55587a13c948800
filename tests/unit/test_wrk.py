"""targets/wrk.py's command line and bench/run.py's arguments (the runs themselves are in make
test's short benchmark and the fault suite)."""

import pytest

from bench import run
from targets.wrk import LUA, wrk_argv


def test_wrk_gets_whole_seconds_a_loopback_url_and_a_budget_per_thread():
    argv = wrk_argv("/health", 100, 30.0, threads=2, budget=1000, port=8090)
    assert argv[:6] == ["wrk", "-t2", "-c100", "-d30s", "--timeout=10s", "--latency"]
    assert argv[6:] == ["-s", str(LUA), "http://127.0.0.1:8090/health", "--", "500", "get"]
    for bad in (dict(duration_s=2.5), dict(duration_s=0)):
        with pytest.raises(ValueError):
            wrk_argv("/health", 10, **bad)
    with pytest.raises(ValueError):
        wrk_argv("http://example.com/", 10, 5)


def test_bench_durations_are_whole_seconds_and_bounded(monkeypatch):
    monkeypatch.setattr(run, "DEFAULT_DURATION_S", 30)
    with pytest.raises(SystemExit):
        run.main(["--duration", "2.5"])
    with pytest.raises(SystemExit):
        run.main(["--duration", "601"])
