"""bench/run.py's results as <out>/<date>.json, a Markdown report <out>/<date>.md and a plot
<out>/<date>.png (throughput and p99 latency against connections: baseline, peakready, the app via
Redis, L0, L1; and the users each profile held)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

PROFILES = ("baseline", "peakready")
SWEPT = "menu (cached)"
VIA_REDIS = "menu via Redis (micro-cache passed)"
L0_NAME, L1_NAME = "L0 nginx constant", "L1 app constant"
# The targets (issues 19 and 28): each is met only when its whole spread (every round) clears it.
TARGET_VS_BASELINE, TARGET_DB_VS_BASELINE, TARGET_VIA_REDIS_VS_L1 = 1.0, 1.2, 0.85
TARGET_MICRO_VS_L0, TARGET_MICRO_P99_MS, TARGET_USERS = 0.5, 50.0, 5.0
TARGET_PROXYSQL_VS_DIRECT = 0.8  # the same SQL read, the app's way through ProxySQL / straight to MariaDB
DB_SCENARIOS = ("availability (uncached read)", "booking (write)")


def grouped(runs: list[dict]) -> dict[tuple, list[dict]]:
    """(scenario, target, connections) -> its runs, one a round, in round order."""
    out: dict[tuple, list[dict]] = {}
    for r in runs:
        out.setdefault((r["scenario"], r["target"], r["connections"]), []).append(r)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def per_round(a: list[dict], b: list[dict], field: str = "rps") -> list[float]:
    """a's figure over b's, round by round (the runs of one round are side by side)."""
    rb = {r.get("round", 0): r for r in b}
    return [r[field] / rb[r.get("round", 0)][field] for r in a
            if r.get("round", 0) in rb and rb[r.get("round", 0)][field]]


def spread(xs: list[float]) -> str:
    return f"{median(xs):.2f} [{min(xs):.2f}-{max(xs):.2f}]" if xs else "n/a"


def failed(r: dict) -> int:
    return r["socket_errors"] + r["non2xx"]


def met(ok: bool | None) -> str:
    return "n/a" if ok is None else "**met**" if ok else "missed"


def where(runs: list[dict]) -> str:
    """What the last of these runs ran out of (its bottleneck)."""
    return runs[-1].get("bottleneck", "") if runs else ""


def targets(results: dict) -> list[tuple[str, str, str, bool | None, str]]:
    """(target, what was measured, the bar, met, the measured bottleneck) for the report's first table."""
    g = grouped(results["runs"])
    rows = []
    paired = [k for k in g if k[1] == "peakready" and (k[0], "baseline", k[2]) in g]
    worst_rps = [(min(xs), k) for k in paired if (xs := per_round(g[k], g[(k[0], "baseline", k[2])]))]
    worst_p99 = [(max(xs), k) for k in paired if (xs := per_round(g[k], g[(k[0], "baseline", k[2])], "p99_ms"))]
    if worst_rps:
        low, key = min(worst_rps)
        rows.append(("every scenario, peakready / baseline r/s", f"lowest {low:.2f} ({key[0]}, {key[2]} conns)",
                     f">= {TARGET_VS_BASELINE}", low >= TARGET_VS_BASELINE, where(g[key])))
        high, key = max(worst_p99)
        rows.append(("every scenario, peakready / baseline p99", f"highest {high:.2f} ({key[0]}, {key[2]} conns)",
                     "<= 1.0 (no worse)", high <= 1.0, where(g[key])))
    via = [(c, per_round(g[(VIA_REDIS, "peakready", c)], g.get((L1_NAME, "L1", c), [])))
           for (sc, t, c) in g if sc == VIA_REDIS]
    for c, xs in sorted(via):
        rows.append((f"cached menu via Redis (micro-cache passed) / L1, {c} conns", spread(xs),
                     f">= {TARGET_VIA_REDIS_VS_L1}", min(xs) >= TARGET_VIA_REDIS_VS_L1 if xs else None,
                     where(g[(VIA_REDIS, "peakready", c)])))
    top = max((c for (sc, t, c) in g if sc == SWEPT and t == "peakready"), default=None)
    if top:
        runs = g[(SWEPT, "peakready", top)]
        xs = per_round(runs, g.get((L0_NAME, "L0", top), []))
        p99s, fails = [r["p99_ms"] for r in runs] or [float("nan")], sum(failed(r) for r in runs)
        rows.append((f"cached menu with the default micro-cache / L0, {top} conns",
                     f"{spread(xs)}; p99 {median(p99s):.1f} ms [{min(p99s):.1f}-{max(p99s):.1f}]; {fails} failed",
                     f">= {TARGET_MICRO_VS_L0}, p99 < {TARGET_MICRO_P99_MS:.0f} ms, 0 failed",
                     bool(xs) and min(xs) >= TARGET_MICRO_VS_L0 and max(p99s) < TARGET_MICRO_P99_MS and fails == 0,
                     where(runs)))
        cached_fails = sum(failed(r) for (sc, t, c), rs in g.items() for r in rs
                           if t == "peakready" and c == top and sc in (SWEPT, VIA_REDIS))
        rows.append((f"failed requests on the cached paths at {top} conns", str(cached_fails), "0", cached_fails == 0,
                     ""))
    for name in DB_SCENARIOS:
        for (sc, t, c) in g:
            if sc == name and t == "peakready" and (sc, "baseline", c) in g:
                xs = per_round(g[(sc, t, c)], g[(sc, "baseline", c)])
                rows.append((f"{name} / baseline, {c} conns", spread(xs), f">= {TARGET_DB_VS_BASELINE}",
                             min(xs) >= TARGET_DB_VS_BASELINE if xs else None, where(g[(sc, t, c)])))
    rows += proxysql_target(results.get("db_path"))
    cap = results.get("capacity")
    if cap:
        base = cap["baseline"]["holds"]
        for profile in [p for p in cap if p != "baseline"]:
            pr, broke = cap[profile]["holds"], cap[profile]["broke"]
            rows.append((f"users held at the SLO, {label(profile, cap)} / baseline", f"{pr:,} / {base:,} = " +
                         (f"{pr / base:.1f}" if base else "n/a"), f">= {TARGET_USERS:.0f}",
                         (pr / base >= TARGET_USERS) if base else None,
                         f"at {broke['users']:,} users: {broke['why']}; {broke['bottleneck']}" if broke else ""))
        for o in cap.get("peakready", {}).get("overload", []):
            rows.append((f"at {o['multiple']}x the users held ({o['users']:,}): socket errors; admitted p95; refusals",
                         f"{o['socket_errors']}; {ms(o['admitted_p95_s'])} ms; {o['refused']:,} refused, "
                         f"{o['no_retry_after']} without Retry-After, p99 {ms(o['refused_p99_s'])} ms",
                         "0; < 500 ms; all 503 + Retry-After, p99 < 50 ms",
                         not [b for b in o["broken"] if not b.startswith("nothing refused")],
                         "; ".join(o["broken"]) + f" (CPU {o['machine_busy_cores']:.2f} cores busy, wrk {o['wrk_cores']:.2f})"))
    return rows


def proxysql_target(path: dict | None) -> list[tuple[str, str, str, bool | None, str]]:
    """The same read through ProxySQL's socket over straight to MariaDB, round by round."""
    ports = (path or {}).get("ports", {})
    through, direct = ports.get("socket", {}), ports.get("3306", {})
    xs = [a / b for a, b in zip(through.get("rounds_qps", []), direct.get("rounds_qps", [])) if b]
    if not xs:
        return []
    cpu = through.get("proxysql_us_per_query")
    return [("same SQL read through ProxySQL (its socket) / straight to MariaDB", spread(xs),
             f">= {TARGET_PROXYSQL_VS_DIRECT}", min(xs) >= TARGET_PROXYSQL_VS_DIRECT,
             f"ProxySQL's CPU: {cpu} µs a statement, on the cores mariadb-slap and MariaDB share" if cpu else "")]


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def label(profile: str, cap: dict) -> str:
    """A capacity profile's name in the report."""
    return "peakready as deployed" if profile == "peakready" else profile


def markdown(results: dict, plot_name: str) -> str:
    m = results["machine"]
    g = grouped(results["runs"])
    rounds = results.get("rounds", 1)
    lines = [
        f"# Benchmark {results['date']}",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, kernel {m['kernel']}, "
        f"virtualization {m['virtualization']}, Docker {m['docker']}, {m['wrk']}.",
        f"Command: `{results['command']}`: modes {', '.join(results.get('modes', ['rounds']))}; each run "
        f"{results['duration_s']:g} s after a {results['warmup_s']:g} s warm-up, wrk with {results['wrk_threads']} "
        "thread, in the VPS's network namespace against its 127.0.0.1.",
        "Each profile is a local VPS (a container limited to 2 CPUs and 4 GB) on this machine. The "
        f"machine has {m['cores']} cores in all, shared by the VPS and wrk: the CPU columns say who used them.",
        f"Whole run: {results['total_s']:.0f} s.",
        *results.get("notes", []),
        "",
    ]
    rows = targets(results)
    if rows:
        lines += ["## Targets", "",
                  f"Every ratio is measured side by side in this run: {rounds} round(s), the two profiles "
                  "alternating which goes first. Given as the median [lowest-highest] over the rounds; a target "
                  "is met only when its whole spread clears it. Where one is missed, the last column is what the "
                  "run behind it ran out of (its bottleneck, from the run's own CPU and error figures).", "",
                  "| target | measured | bar | | bottleneck where missed |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {t} | {v} | {bar} | {met(ok)} | {'' if ok else neck} |" for t, v, bar, ok, neck in rows]
        lines.append("")
    lines += capacity_section(results)
    lines += ["## Deploy", "", "| deploy | seconds | operations | changed |", "| --- | ---: | ---: | ---: |"]
    for what, d in results["deploy"].items():
        lines.append(f"| {what} | {d['seconds']} | {d['operations']} | {d['changed']} |")
    lines.append("")
    if results["runs"]:
        lines += throughput_section(results, g)
    lines += sweep_section(results)
    if results["runs"]:
        lines += bottleneck_section(results)
        lines += inside_1000(results)
        lines += proxysql_section(results)
    lines += [f"![throughput and p99 against connections, users held]({plot_name})", ""]
    return "\n".join(lines)


def last_round(results: dict) -> list[dict]:
    last = max((r.get("round", 0) for r in results["runs"]), default=0)
    return [r for r in results["runs"] if r.get("round", 0) == last]


def throughput_section(results: dict, g: dict) -> list[str]:
    lines = ["## Throughput and latency", "",
             "Medians over the rounds. r/s: requests per second; p50/p99 in ms; failed: socket errors + non-2xx "
             "answers, summed over the rounds. × baseline: peakready's r/s over the baseline's, round by round "
             "(median [lowest-highest]); × L0 and × L1: over the references (L0 nginx alone, L1 the app's "
             "constant answer, no I/O) at the same connections.", "",
             "| scenario | conns | baseline r/s | peakready r/s | × baseline | × L0 | × L1 | p50 base / pr "
             "| p99 base / pr | failed base / pr |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    seen = []
    for r in results["runs"]:
        key = (r["scenario"], r["connections"])
        if r["target"] not in PROFILES or key in seen:
            continue
        seen.append(key)
        base, pr = g.get((key[0], "baseline", key[1]), []), g.get((key[0], "peakready", key[1]), [])
        l0, l1 = g.get((L0_NAME, "L0", key[1]), []), g.get((L1_NAME, "L1", key[1]), [])

        def fig(rs: list[dict], field: str, fmt: str = ",.0f") -> str:
            return format(median([x[field] for x in rs]), fmt) if rs else "-"

        lines.append(
            f"| {key[0]} | {key[1]} | {fig(base, 'rps')} | {fig(pr, 'rps')} | "
            f"{spread(per_round(pr, base)) if base else '-'} | {spread(per_round(pr, l0)) if l0 else '-'} | "
            f"{spread(per_round(pr, l1)) if l1 else '-'} | {fig(base, 'p50_ms', '.1f')} / {fig(pr, 'p50_ms', '.1f')} | "
            f"{fig(base, 'p99_ms', '.1f')} / {fig(pr, 'p99_ms', '.1f')} | "
            f"{sum(failed(x) for x in base) if base else '-'} / {sum(failed(x) for x in pr)} |")
    refs = [r for r in results["runs"] if r["target"] in ("L0", "L1")]
    capped = [r for r in refs if r["requests"] >= 0.99 * results.get("budget", float("inf"))]
    lines += ["", "References (peakready VPS), medians over the rounds:", ""]
    if capped:
        lines += [f"{len(capped)} reference run(s) reached the request budget ({results['budget']:,} a run) before "
                  "their time ran out: their r/s is a floor, not the ceiling.", ""]
    lines += ["| reference | conns | r/s | p50 | p99 | failed |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for (sc, t, c), rs in g.items():
        if t in ("L0", "L1"):
            lines.append(f"| {sc} | {c} | {median([r['rps'] for r in rs]):,.0f} | "
                         f"{median([r['p50_ms'] for r in rs]):.1f} | {median([r['p99_ms'] for r in rs]):.1f} | "
                         f"{sum(failed(r) for r in rs)} |")
    return lines + [""]


def capacity_section(results: dict) -> list[str]:
    cap = results.get("capacity")
    if not cap:
        return []
    slo = results["slo"]
    lines = ["## Users held", "",
             f"Simulated users of a restaurant's site under a spike (targets/wrk.lua, users mode): each clicks, waits "
             f"{results['think_ms'] / 1000:g} s on average (0.5-1.5 x), clicks again; 55 % menus, 25 % outlets and "
             "featured dishes, 15 % availability checks, 5 % bookings. All of a step's users connect at once and make their first click within their first think time. "
             "Both profiles are measured as deployed: peakready's plan derives the users it is sized for "
             f"({results.get('planned_users', 0):,} on this VPS, target_concurrency = 0) from its cores. "
             f"The number of users doubles until the SLO breaks (p95 < {slo['p95_ms']} ms, p99 < {slo['p99_ms']} ms, "
             f"failed < {slo['errors']:.1%}), then the interval between the last step held and the first broken is halved {results.get('bisections', 1)} time(s). Each step {results['duration_s']:g} s.",
             "", "| profile | holds | broke at | what broke | bottleneck there |", "| --- | ---: | ---: | --- | --- |"]
    for profile, c in cap.items():
        broke = c["broke"]
        lines.append(f"| {label(profile, cap)} | **{c['holds']:,} users** | " +
                     (f"{broke['users']:,} | {broke['why']} | {broke['bottleneck']} |" if broke
                      else "- | held at the most tried | - |"))
    lines += ["", "| profile | users | r/s | p50 | p95 | p99 | failed | SLO |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for profile, c in cap.items():
        for r in sorted(c["steps"], key=lambda r: r["connections"]):
            lines.append(f"| {label(profile, cap)} | {r['connections']:,} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | "
                         f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {failed(r)} | "
                         f"{'held' if r['slo_ok'] else r['slo_broken']} |")
    over = cap.get("peakready", {}).get("overload", [])
    if over:
        lines += ["", "### Beyond: overload at nginx's door", "",
                  "peakready as deployed at multiples of the users it held, all arriving at once"
                  + (f" (one wrk holds at most {results['wrk_most_users']:,} connections: more run as several wrk "
                     "side by side)" if results.get("wrk_most_users") else "")
                  + ". Admitted and refused are told apart "
                  "by nginx's access log (status, rt: its time on the request); the client's p95 is wrk's, which "
                  "shares the cores. Times in ms.", "",
                  "| users | x held | r/s | admitted | admitted p95 | admitted p99 | refused (503) | refused p99 | "
                  "503 without Retry-After | socket errors | client p95 | CPU busy (wrk) | the door |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for o in over:
            lines.append(f"| {o['users']:,} | {o['multiple']} | {o['rps']:,.0f} | {o['admitted']:,} | "
                         f"{ms(o['admitted_p95_s'])} | {ms(o['admitted_p99_s'])} | {o['refused']:,} | "
                         f"{ms(o['refused_p99_s'])} | {o['no_retry_after']} | {o['socket_errors']:,} | "
                         f"{o['client_p95_ms']:.0f} | {o['machine_busy_cores']:.2f} ({o['wrk_cores']:.2f}) | "
                         f"{'; '.join(o['broken']) or 'held'} |")
    return lines + [""]


def sweep_section(results: dict) -> list[str]:
    sweep = results.get("sweep")
    if not sweep:
        return []
    names = list(dict.fromkeys((r["scenario"], r["connections"]) for r in sweep))
    workers = sorted({r["workers"] for r in sweep})
    at = {(r["workers"], r["scenario"], r["connections"]): r for r in sweep}
    lines = ["## App workers", "",
             "peakready with app_workers from 1 to 2 x cores + 1 (each a re-deploy; pools and memory caps follow "
             "the plan), one run each: r/s (p99 ms). The best r/s of each scenario in bold.", "",
             "| app_workers | " + " | ".join(f"{n} ({c})" for n, c in names) + " |",
             "| ---: | " + " | ".join("---:" for _ in names) + " |"]
    best = {k: max(workers, key=lambda w: at[(w, *k)]["rps"] if (w, *k) in at else 0) for k in names}
    for w in workers:
        cells = []
        for k in names:
            r = at.get((w, *k))
            cell = f"{r['rps']:,.0f} ({r['p99_ms']:.0f})" if r else "-"
            cells.append(f"**{cell}**" if best[k] == w else cell)
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return lines + [""]


def bottleneck_section(results: dict) -> list[str]:
    m = results["machine"]
    lines = ["## Bottleneck of each run (the last round)", "",
             "From the run's own numbers: the cores each service and wrk used, and how busy the whole "
             f"machine's {m['cores']} cores were (anything else running shows as the difference), and the errors.", "",
             "| scenario | conns | target | p95 ms | wrk cores | VPS cores | machine busy | bottleneck |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in last_round(results):
        lines.append(f"| {r['scenario']} | {r['connections']} | {r['target']} | {r['p95_ms']:.1f} | "
                     f"{r['wrk_cpu_s'] / r['seconds']:.2f} | {r['cores']['vps_total']:.2f} | {r['machine_busy_cores']:.2f} | "
                     f"{r['bottleneck']} |")
    return lines + [""]


def inside_1000(results: dict) -> list[str]:
    runs = {(r["scenario"], r["target"], r["connections"]): r for r in last_round(results)}
    top = max((c for (sc, t, c) in runs if sc == SWEPT), default=None)
    lines = [f"## Inside the {top}-connection runs (the last round)", ""]
    for target in PROFILES:
        r = runs.get((SWEPT, target, top))
        if not r:
            continue
        cpu = ", ".join(f"{u} {v:.2f}" for u, v in r["cores"].items() if u != "vps_total")
        rss = ", ".join(f"{u} {v:.0f} MB" for u, v in r["rss_mb"].items())
        proxysql = r.get("proxysql_backend")
        lines += [
            f"**{target}** ({r['rps']:,.0f} r/s, p99 {r['p99_ms']:.1f} ms, {failed(r)} failed: {fail_kinds(r)}):",
            "",
            f"- MariaDB peak Threads_connected: {r['mariadb_peak_threads_connected']}",
            "- ProxySQL: " + (
                f"{proxysql.get('clients', '?')} client connections from the app's pools onto at most "
                f"{proxysql['max_used']} backend connections ({client_ratio(proxysql)} clients per backend; "
                f"{proxysql['used']} used, {proxysql['free']} free at the end)"
                if proxysql else "none in this profile"),
            "- Redis hit ratio: " + (f"{r['redis_hit_ratio']:.1%}" if r.get("redis_hit_ratio") is not None
                                     else "no Redis read in this run (no cache, or nginx answered)"),
            f"- CPU (cores): {cpu}; wrk {r['wrk_cpu_s'] / r['seconds']:.2f}; the whole VPS {r['cores']['vps_total']:.2f}",
            f"- peak RSS: {rss}",
            "",
        ]
    return lines


def client_ratio(proxysql: dict) -> str:
    try:
        return f"{int(proxysql['clients']) / max(int(proxysql['max_used']), 1):.1f}"
    except (KeyError, ValueError):
        return "?"


def proxysql_section(results: dict) -> list[str]:
    """ProxySQL's multiplexing in each DB scenario, and its cost or gain against MariaDB direct."""
    lines = ["## ProxySQL", ""]
    rows = [r for r in last_round(results) if r["target"] == "peakready" and r.get("proxysql_backend")]
    if not rows:
        return lines + ["No ProxySQL in this run (no package for the VPS's release: targets/packages.py).", ""]
    lines += ["The app's pools connect to ProxySQL (clients: the pools' connections open after the run, overflow "
              "ones closed); ProxySQL serves them from its backends to MariaDB (the most in use during the run, "
              "MaxConnUsed). A ratio below 1 means the run's bursts opened more than the idle pools hold.", "",
              "| scenario | conns | ProxySQL clients after | backends at most | clients per backend | "
              "MariaDB peak threads |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        p = r["proxysql_backend"]
        lines.append(f"| {r['scenario']} | {r['connections']} | {p.get('clients', '?')} | {p['max_used']} | "
                     f"{client_ratio(p)} | {r['mariadb_peak_threads_connected']} |")
    status = results.get("status")
    if status:
        lines += ["", f"`make status` halfway through a {status['seconds']} s run of {status['scenario']} at "
                      f"{status['connections']} connections ({status['rps'] or 0:,.0f} r/s over the run), the "
                      "screen an operator watches during a spike (its rates are over the last window of "
                      "Prometheus, which began before the load):", "", "```", status["screen"].rstrip(), "```"]
    path = results.get("db_path")
    if path:
        ports = path["ports"]
        # The app's way in: ProxySQL's socket (runs before 2026-12-06 measured 6033 only).
        through, direct = ports.get("socket") or ports.get("6033", {}), ports.get("3306", {})
        lines += ["", f"The same read (`{path['query']}`), {path['queries']:,} queries from {path['concurrency']} "
                      "clients each on one connection (mariadb-slap in the VPS), through ProxySQL (its Unix socket, "
                      "as the app connects, and loopback TCP) and straight to MariaDB over TCP (as the naive app "
                      f"connects){', the three alternating, ' + str(path['rounds']) + ' times: medians' if path.get('rounds') else ''}:",
                  "", "| path | seconds | queries/s | each round | ProxySQL's CPU a statement |",
                  "| --- | ---: | ---: | --- | ---: |"]
        for key, label in (("socket", "through ProxySQL's socket (the app's way)"),
                           ("6033", "through ProxySQL, TCP 6033"), ("3306", "straight to MariaDB, TCP 3306")):
            if key in ports:
                r = ports[key]
                each = ", ".join(f"{q:,.0f}" for q in r.get("rounds_qps", [])) or "-"
                cpu = f"{r['proxysql_us_per_query']} µs" if "proxysql_us_per_query" in r else "-"
                lines.append(f"| {label} | {r.get('seconds', r.get('error', '?'))} | {r.get('qps', '-')} | {each} | {cpu} |")
        if through.get("qps") and direct.get("qps"):
            lines += ["", f"ProxySQL (the app's way) / direct: {through['qps'] / direct['qps']:.2f}× the queries "
                          "a second."]
    return lines + [""]


def fail_kinds(r: dict) -> str:
    parts = [f"{k} {v}" for k, v in r["errors"].items() if v]
    parts += [f"HTTP {k} ×{v}" for k, v in sorted(r["statuses"].items()) if not 200 <= int(k) < 300]
    return ", ".join(parts) or "none"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    g = grouped(results["runs"])
    series = {"baseline": (SWEPT, "baseline"), "peakready (micro-cache)": (SWEPT, "peakready"),
              "peakready, app via Redis": (VIA_REDIS, "peakready"), "L0: nginx constant": (L0_NAME, "L0"),
              "L1: app constant, no I/O": (L1_NAME, "L1")}
    style = {"baseline": ("tab:red", "-", "o"), "peakready (micro-cache)": ("tab:green", "-", "o"),
             "peakready, app via Redis": ("tab:olive", "-.", "D"),
             "L0: nginx constant": ("tab:gray", "--", "s"), "L1: app constant, no I/O": ("tab:blue", ":", "^")}
    cap = results.get("capacity")
    # A run of one mode draws only its panels: the throughput pair for rounds, the users for capacity.
    panels = (2 if results["runs"] else 0) + (1 if cap else 0)
    fig, axes = plt.subplots(1, max(panels, 1), figsize=(6 * max(panels, 1), 4.5), squeeze=False)
    axes = list(axes[0])
    left, right = (axes[0], axes[1]) if results["runs"] else (None, None)
    conns = set()
    for name, (scenario, target) in series.items() if results["runs"] else ():
        points = sorted((c, rs) for (sc, t, c), rs in g.items() if sc == scenario and t == target)
        if not points:
            continue
        color, line, marker = style[name]
        xs = [c for c, _ in points]
        conns.update(xs)
        left.plot(xs, [median([r["rps"] for r in rs]) for _, rs in points], color=color, linestyle=line,
                  marker=marker, label=name)
        right.plot(xs, [median([r["p99_ms"] for r in rs]) for _, rs in points], color=color, linestyle=line,
                   marker=marker, label=name)
    pair = ((left, "throughput, GET /api/v1/menu?outlet=3", "requests/s (median)"),
            (right, "p99 latency, GET /api/v1/menu?outlet=3", "ms (median)")) if results["runs"] else ()
    for ax, title, unit in pair:
        ax.set_xscale("log")
        ax.set_yscale("log")
        if conns:
            ax.set_xticks(sorted(conns))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    if conns:
        left.legend(fontsize=8)
    if cap:
        ax = axes[-1]
        for profile, color in (("baseline", "tab:red"), ("peakready", "tab:green")):
            if profile not in cap:
                continue
            steps = sorted(cap[profile]["steps"], key=lambda r: r["connections"])
            ax.plot([r["connections"] for r in steps], [max(r["p95_ms"], 0.1) for r in steps], color=color,
                    marker="o", label=f"{label(profile, cap)}: holds {cap[profile]['holds']:,} users")
        over = cap.get("peakready", {}).get("overload", [])
        if over:
            # Beyond what it held: the admitted requests' p95 (nginx's times), each point labelled
            # with the share nginx turned away with a 503.
            xs = [o["users"] for o in over]
            ys = [max((o["admitted_p95_s"] or 0) * 1000, 0.1) for o in over]
            ax.plot(xs, ys, color="tab:green", linestyle="none", marker="D",
                    label="peakready beyond: admitted p95 (nginx), % refused with 503")
            for x, y, o in zip(xs, ys, over):
                total = o["admitted"] + o["refused"]
                ax.annotate(f"{100 * o['refused'] / total:.0f} % 503" if total else "-", (x, y), fontsize=7,
                            textcoords="offset points", xytext=(4, 4))
        ax.axhline(results["slo"]["p95_ms"], color="black", linestyle="--", linewidth=1, label="SLO p95")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("simulated users (connecting at once)")
        ax.set_ylabel("p95 ms")
        ax.set_title("users held at the SLO")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    m = results["machine"]
    fig.suptitle(f"peakready vs baseline, {results['date'][:10]}, {m['cores']} cores, {results['duration_s']:g} s a run, "
                 f"{results.get('rounds', 1)} round(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(results: dict, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = out / f"{stem}.json", out / f"{stem}.md", out / f"{stem}.png"
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    plot(results, png_path)
    md_path.write_text(markdown(results, png_path.name))
    return [json_path, md_path, png_path]


if __name__ == "__main__":
    # Rewrites the report and the plot of a run from its JSON: python bench/report.py bench/results/<date>.json
    import sys

    source = Path(sys.argv[1])
    for written in write(json.loads(source.read_text()), source.parent, source.stem):
        print(written)
