"""targets/wrk.py's command line and bench/run.py's arguments (the runs themselves are in make
test's short benchmark and the fault suite)."""

import pytest

from bench import run, scenarios
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


def test_wrk_takes_extra_headers_and_the_users_mode():
    argv = wrk_argv("/api/v1/menu", 50, 10, mode=("get", *scenarios.PAST_MICRO_CACHE))
    assert argv[-2:] == ["get", "Authorization:Bearer past-the-micro-cache"]
    text = LUA.read_text()
    assert "delay = think" in text and "local function think()" in text, "users think between clicks"
    assert "function delay()" not in text, "only the users mode may delay requests"


def a_run(**kw):
    base = {"requests": 10_000, "socket_errors": 0, "non2xx": 0, "p95_ms": 100.0, "p99_ms": 300.0}
    return base | kw


def test_a_step_breaks_the_slo_on_p95_p99_or_the_failed_share():
    assert scenarios.slo_broken(a_run()) == ""
    assert "p95" in scenarios.slo_broken(a_run(p95_ms=500.0))
    assert "p99" in scenarios.slo_broken(a_run(p99_ms=1200.0))
    assert "failed" in scenarios.slo_broken(a_run(non2xx=10))  # 0.1 %
    assert scenarios.slo_broken(a_run(non2xx=9)) == ""
    assert "failed" in scenarios.slo_broken(a_run(requests=0))


def test_a_target_is_met_only_when_every_round_clears_it():
    from bench import report_targets

    def pair(sc, c, base_rps, pr_rps):
        return [dict(a_run(), scenario=sc, connections=c, target=t, rps=v, round=i + 1)
                for i, (b, p) in enumerate(zip(base_rps, pr_rps)) for t, v in (("baseline", b), ("peakready", p))]

    runs = pair("booking (write)", 50, [100, 100, 100], [130, 125, 115])  # median 1.25, lowest 1.15
    rows = {t: (v, ok) for t, v, _, ok, _ in report_targets.targets({"runs": runs})}
    value, ok = rows["booking (write) / baseline, 50 conns"]
    assert value == "1.25 [1.15-1.30]" and ok is False
    value, ok = rows["every scenario, peakready / baseline r/s"]
    assert ok is True and value.startswith("lowest 1.15")
    runs = pair("booking (write)", 50, [100, 100, 100], [130, 125, 121])
    assert dict((t, ok) for t, _, _, ok, _ in report_targets.targets({"runs": runs}))["booking (write) / baseline, 50 conns"]


def test_the_report_and_its_plot_are_written_from_every_mode(tmp_path):
    from bench import report, report_figures

    def r(**kw):
        return dict(a_run(), rps=1000.0, p50_ms=1.0, seconds=10.0, wrk_cpu_s=1.0, errors={}, statuses={200: 10},
                    cores={"vps_total": 1.0}, machine_busy_cores=1.5, rss_mb={}, mariadb_peak_threads_connected=4,
                    bottleneck="CPU", **kw)

    runs = [r(scenario=sc, target=t, connections=c, round=n) for n in (1, 2)
            for sc, t, c in (("menu (cached)", "baseline", 1000), ("menu (cached)", "peakready", 1000),
                             (report_figures.VIA_REDIS, "peakready", 100), (report_figures.L0_NAME, "L0", 1000),
                             (report_figures.L1_NAME, "L1", 100))]
    def steps(ok):
        return [r(scenario="users", target="p", connections=100, slo_ok=ok, slo_broken="" if ok else "p95")]

    def over(multiple, broken):
        return {"users": 100 * multiple, "multiple": multiple, "wrk": 1, "rps": 900.0, "client_p95_ms": 20.0,
                "client_p99_ms": 30.0, "cores": {}, "wrk_cores": 0.5, "machine_busy_cores": 1.9, "socket_errors": 0,
                "errors": {}, "statuses": {200: 10, 503: 5}, "no_retry_after": 12 if broken else 0, "admitted": 10,
                "refused": 5, "admitted_p95_s": 0.02, "admitted_p99_s": 0.03, "refused_p99_s": 0.0,
                "other_statuses": {}, "broken": broken}
    results = {
        "date": "2026-11-27T00:00:00+00:00", "machine": {"cores": 2, "cpu": "x", "ram_gb": 4, "kernel": "k",
                                                         "virtualization": "docker", "docker": "d", "wrk": "w"},
        "command": "bench/run.py --short", "duration_s": 2, "warmup_s": 1, "wrk_threads": 1, "budget": 10,
        "rounds": 2, "modes": ["rounds", "capacity", "sweep"], "think_ms": 1000, "planned_users": 5900,
        "slo": {"p95_ms": 500, "p99_ms": 1000, "errors": 0.001}, "runs": runs, "total_s": 1.0,
        "deploy": {"peakready first": {"seconds": 1, "operations": 2, "changed": 2}},
        "capacity": {"baseline": {"steps": steps(True), "holds": 100, "broke": None},
                     "peakready": {"steps": steps(False), "holds": 0,
                                   "broke": {"users": 100, "why": "p95", "bottleneck": "CPU"},
                                   "overload": [over(2, []), over(4, ["12 503s without Retry-After"])]}},
        "sweep": [r(scenario="health", target="peakready", connections=100, workers=w) for w in (1, 2)],
    }
    md, png = tmp_path / "t.md", tmp_path / "t.png"
    report.write(results, tmp_path, "t")
    text = md.read_text()
    assert "peakready as deployed / baseline" in text and "## App workers" in text and png.stat().st_size
    assert "5,900 on this VPS" in text and "### Beyond: overload at nginx's door" in text
    # The overload rows of the targets: met where the door held, missed (and why) where it did not.
    assert "| at 2x the users held (200): socket errors; admitted p95; refusals |" in text
    row4 = next(line for line in text.splitlines() if line.startswith("| at 4x the users held"))
    assert "missed" in row4 and "503s without Retry-After" in row4
    assert "| cached menu with the default micro-cache / L0, 1000 conns |" in text
    # A capacity-only run draws the users panel alone (no empty throughput panels).
    report.write({**results, "runs": [], "modes": ["capacity"]}, tmp_path, "c")
    assert (tmp_path / "c.png").stat().st_size
