"""bench/run.py's results as <out>/<date>.json, a Markdown report <out>/<date>.md and a plot
<out>/<date>.png (throughput and p99 latency against connections: baseline, peakready, the app via
Redis, L0, L1; and the users each profile held). The targets, the other sections and the plot are
in report_targets.py, report_sections.py and report_plot.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Run as a script (python bench/report.py <json>), its siblings are bench.*: the repository's root
# on the path, as bench/run.py puts it.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report_figures import grouped, met  # noqa: E402
from bench.report_plot import plot  # noqa: E402
from bench.report_sections import (  # noqa: E402
    bottleneck_section,
    capacity_section,
    inside_1000,
    proxysql_section,
    sweep_section,
    throughput_section,
)
from bench.report_targets import targets  # noqa: E402


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


def write(results: dict, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = out / f"{stem}.json", out / f"{stem}.md", out / f"{stem}.png"
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    plot(results, png_path)
    md_path.write_text(markdown(results, png_path.name))
    return [json_path, md_path, png_path]


if __name__ == "__main__":
    # Rewrites the report and the plot of a run from its JSON: python bench/report.py bench/results/<date>.json
    source = Path(sys.argv[1])
    for written in write(json.loads(source.read_text()), source.parent, source.stem):
        print(written)
