"""The report's sections after its targets: the users held and the overload, the throughput tables,
the worker sweep, each run's bottleneck, inside the busiest runs, and ProxySQL."""

from __future__ import annotations

from bench.report_figures import (
    L0_NAME,
    L1_NAME,
    PROFILES,
    SWEPT,
    client_ratio,
    fail_kinds,
    failed,
    label,
    last_round,
    median,
    ms,
    per_round,
    spread,
)


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


