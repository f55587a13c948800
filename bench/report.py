"""bench/run.py's results as <out>/<date>.json, a Markdown report <out>/<date>.md and a plot
<out>/<date>.png (throughput and p99 latency against connections: baseline, peakready, L0, L1)."""

from __future__ import annotations

import json
from pathlib import Path

PROFILES = ("baseline", "peakready")
SWEPT = "menu (cached)"


def by_key(results: dict) -> dict:
    return {(r["scenario"], r["target"], r["connections"]): r for r in results["runs"]}


def reference(results: dict, target: str, connections: int) -> dict | None:
    name = "L0 nginx constant" if target == "L0" else "L1 app constant"
    return by_key(results).get((name, target, connections))


def ratio(a: float, b: float | None) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def failed(r: dict) -> int:
    return r["socket_errors"] + r["non2xx"]


def markdown(results: dict, plot_name: str) -> str:
    m = results["machine"]
    runs = by_key(results)
    lines = [
        f"# Benchmark {results['date']}",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['ram_gb']} GB RAM, kernel {m['kernel']}, "
        f"virtualization {m['virtualization']}, Docker {m['docker']}, {m['wrk']}.",
        f"Command: `{results['command']}`: each run {results['duration_s']:g} s after a {results['warmup_s']:g} s "
        f"warm-up, wrk with {results['wrk_threads']} thread, in the VPS's network namespace against its 127.0.0.1.",
        "Each profile is a local VPS (a container limited to 2 CPUs and 4 GB) on this machine. The "
        f"machine has {m['cores']} cores in all, shared by the VPS and wrk: the CPU columns say who used them.",
        f"Whole run: {results['total_s']:.0f} s.",
        "",
        "## Deploy",
        "",
        "| deploy | seconds | operations | changed |",
        "| --- | ---: | ---: | ---: |",
    ]
    for what, d in results["deploy"].items():
        lines.append(f"| {what} | {d['seconds']} | {d['operations']} | {d['changed']} |")
    lines += [
        "",
        "## Throughput and latency",
        "",
        "r/s: requests per second; p50/p99 in ms; failed: socket errors + non-2xx answers. Ratios are "
        "peakready's r/s over the baseline's, and over the L0 (nginx alone) and L1 (app, no I/O) "
        "references at the same connections.",
        "",
        "| scenario | conns | baseline r/s | peakready r/s | × baseline | × L0 | × L1 | p50 base / pr | p99 base / pr "
        "| failed base / pr |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    seen = []
    for r in results["runs"]:
        key = (r["scenario"], r["connections"])
        if r["target"] not in PROFILES or key in seen:
            continue
        seen.append(key)
        base, pr = runs.get((r["scenario"], "baseline", r["connections"])), runs.get((r["scenario"], "peakready",
                                                                                       r["connections"]))
        if not (base and pr):
            continue
        l0, l1 = reference(results, "L0", r["connections"]), reference(results, "L1", r["connections"])
        lines.append(
            f"| {r['scenario']} | {r['connections']} | {base['rps']:,.0f} | {pr['rps']:,.0f} | "
            f"{ratio(pr['rps'], base['rps'])} | {ratio(pr['rps'], l0 and l0['rps'])} | "
            f"{ratio(pr['rps'], l1 and l1['rps'])} | {base['p50_ms']:.1f} / {pr['p50_ms']:.1f} | "
            f"{base['p99_ms']:.1f} / {pr['p99_ms']:.1f} | {failed(base)} / {failed(pr)} |")
    # wrk stops at the request budget (run.py BUDGET): such a run's r/s is budget / duration, a floor.
    capped = [r for r in results["runs"] if r["target"] in ("L0", "L1")
              and r["requests"] >= 0.99 * results.get("budget", float("inf"))]
    lines += ["", "References (peakready VPS):", ""]
    if capped:
        lines += [f"{len(capped)} reference run(s) reached the request budget ({results['budget']:,} a run) before "
                  "their time ran out: their r/s is a floor, not the ceiling.", ""]
    lines += ["| reference | conns | r/s | p50 | p99 | failed |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results["runs"]:
        if r["target"] in ("L0", "L1"):
            lines.append(f"| {r['scenario']} | {r['connections']} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | "
                         f"{r['p99_ms']:.1f} | {failed(r)} |")
    lines += ["", "## Bottleneck of each run", "",
              "From the run's own numbers: the cores each service and wrk used, and how busy the whole "
              f"machine's {m['cores']} cores were (anything else running shows as the difference), and the errors.", "",
              "| scenario | conns | target | p95 ms | wrk cores | VPS cores | machine busy | bottleneck |",
              "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in results["runs"]:
        lines.append(f"| {r['scenario']} | {r['connections']} | {r['target']} | {r['p95_ms']:.1f} | "
                     f"{r['wrk_cpu_s'] / r['seconds']:.2f} | {r['cores']['vps_total']:.2f} | {r['machine_busy_cores']:.2f} | "
                     f"{r['bottleneck']} |")
    lines += ["", "## Inside the 1000-connection runs", ""]
    for target in PROFILES:
        r = runs.get((SWEPT, target, 1000))
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
                                     else "no Redis cache in this profile"),
            f"- CPU (cores): {cpu}; wrk {r['wrk_cpu_s'] / r['seconds']:.2f}; the whole VPS {r['cores']['vps_total']:.2f}",
            f"- peak RSS: {rss}",
            "",
        ]
    lines += proxysql_section(results)
    lines += [f"![throughput and p99 against connections]({plot_name})", ""]
    return "\n".join(lines)


def client_ratio(proxysql: dict) -> str:
    try:
        return f"{int(proxysql['clients']) / max(int(proxysql['max_used']), 1):.1f}"
    except (KeyError, ValueError):
        return "?"


def proxysql_section(results: dict) -> list[str]:
    """ProxySQL's multiplexing in each DB scenario, and its cost or gain against MariaDB direct."""
    lines = ["## ProxySQL", ""]
    rows = [r for r in results["runs"] if r["target"] == "peakready" and r.get("proxysql_backend")]
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
    path = results.get("db_path")
    if path:
        through, direct = path["ports"].get("6033", {}), path["ports"].get("3306", {})
        lines += ["", f"The same read (`{path['query']}`), {path['queries']:,} queries from {path['concurrency']} "
                      "clients each on one connection (mariadb-slap in the VPS), through ProxySQL and straight to "
                      "MariaDB:", "", "| path | seconds | queries/s |", "| --- | ---: | ---: |"]
        for label, r in (("through ProxySQL (6033)", through), ("straight to MariaDB (3306)", direct)):
            lines.append(f"| {label} | {r.get('seconds', r.get('error', '?'))} | {r.get('qps', '-')} |")
        if through.get("qps") and direct.get("qps"):
            lines += ["", f"ProxySQL / direct: {through['qps'] / direct['qps']:.2f}× the queries a second."]
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

    runs = results["runs"]
    series = {
        "baseline": [r for r in runs if r["scenario"] == SWEPT and r["target"] == "baseline"],
        "peakready": [r for r in runs if r["scenario"] == SWEPT and r["target"] == "peakready"],
        "L0: nginx constant": [r for r in runs if r["target"] == "L0"],
        "L1: app constant, no I/O": [r for r in runs if r["target"] == "L1"],
    }
    style = {"baseline": ("tab:red", "-", "o"), "peakready": ("tab:green", "-", "o"),
             "L0: nginx constant": ("tab:gray", "--", "s"), "L1: app constant, no I/O": ("tab:blue", ":", "^")}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for label, rs in series.items():
        rs = sorted(rs, key=lambda r: r["connections"])
        if not rs:
            continue
        color, line, marker = style[label]
        xs = [r["connections"] for r in rs]
        left.plot(xs, [r["rps"] for r in rs], color=color, linestyle=line, marker=marker, label=label)
        right.plot(xs, [r["p99_ms"] for r in rs], color=color, linestyle=line, marker=marker, label=label)
    for ax, title, unit in ((left, "throughput, GET /api/v1/menu?outlet=3", "requests/s"),
                            (right, "p99 latency, GET /api/v1/menu?outlet=3", "ms")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sorted({r["connections"] for r in series["peakready"]}))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    left.legend()
    m = results["machine"]
    fig.suptitle(f"peakready vs baseline, {results['date'][:10]}, {m['cores']} cores, {results['duration_s']:g} s a run")
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
