"""The report's plot: throughput and p99 latency against connections (baseline, peakready, the app
via Redis, L0, L1), and the p95 of each capacity step with the users each profile held."""

from __future__ import annotations

from pathlib import Path

from bench.report_figures import L0_NAME, L1_NAME, SWEPT, VIA_REDIS, grouped, label, median

SERIES = {"baseline": (SWEPT, "baseline"), "peakready (micro-cache)": (SWEPT, "peakready"),
          "peakready, app via Redis": (VIA_REDIS, "peakready"), "L0: nginx constant": (L0_NAME, "L0"),
          "L1: app constant, no I/O": (L1_NAME, "L1")}
STYLE = {"baseline": ("tab:red", "-", "o"), "peakready (micro-cache)": ("tab:green", "-", "o"),
         "peakready, app via Redis": ("tab:olive", "-.", "D"),
         "L0: nginx constant": ("tab:gray", "--", "s"), "L1: app constant, no I/O": ("tab:blue", ":", "^")}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cap = results.get("capacity")
    # A run of one mode draws only its panels: the throughput pair for rounds, the users for capacity.
    panels = (2 if results["runs"] else 0) + (1 if cap else 0)
    fig, axes = plt.subplots(1, max(panels, 1), figsize=(6 * max(panels, 1), 4.5), squeeze=False)
    axes = list(axes[0])
    if results["runs"]:
        throughput_panels(grouped(results["runs"]), axes[0], axes[1])
    if cap:
        users_panel(results, cap, axes[-1])
    m = results["machine"]
    fig.suptitle(f"peakready vs baseline, {results['date'][:10]}, {m['cores']} cores, {results['duration_s']:g} s a run, "
                 f"{results.get('rounds', 1)} round(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def throughput_panels(g: dict, left, right) -> None:
    """Throughput (left) and p99 (right) of each series against connections, both axes logarithmic."""
    import matplotlib.ticker

    conns = draw_series(g, left, right)
    pair = ((left, "throughput, GET /api/v1/menu?outlet=3", "requests/s (median)"),
            (right, "p99 latency, GET /api/v1/menu?outlet=3", "ms (median)"))
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


def draw_series(g: dict, left, right) -> set[int]:
    """One line a series on each panel, the medians over the rounds; the connection counts drawn."""
    conns = set()
    for name, (scenario, target) in SERIES.items():
        points = sorted((c, rs) for (sc, t, c), rs in g.items() if sc == scenario and t == target)
        if not points:
            continue
        color, line, marker = STYLE[name]
        xs = [c for c, _ in points]
        conns.update(xs)
        left.plot(xs, [median([r["rps"] for r in rs]) for _, rs in points], color=color, linestyle=line,
                  marker=marker, label=name)
        right.plot(xs, [median([r["p99_ms"] for r in rs]) for _, rs in points], color=color, linestyle=line,
                   marker=marker, label=name)
    return conns


def users_panel(results: dict, cap: dict, ax) -> None:
    """The p95 of each capacity step against the users, each profile's line named with the users it held."""
    for profile, color in (("baseline", "tab:red"), ("peakready", "tab:green")):
        if profile not in cap:
            continue
        steps = sorted(cap[profile]["steps"], key=lambda r: r["connections"])
        ax.plot([r["connections"] for r in steps], [max(r["p95_ms"], 0.1) for r in steps], color=color,
                marker="o", label=f"{label(profile, cap)}: holds {cap[profile]['holds']:,} users")
    over = cap.get("peakready", {}).get("overload", [])
    if over:
        overload_points(over, ax)
    ax.axhline(results["slo"]["p95_ms"], color="black", linestyle="--", linewidth=1, label="SLO p95")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("simulated users (connecting at once)")
    ax.set_ylabel("p95 ms")
    ax.set_title("users held at the SLO")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def overload_points(over: list[dict], ax) -> None:
    """Beyond what it held: the admitted requests' p95 (nginx's times), each point labelled with the
    share nginx turned away with a 503."""
    xs = [o["users"] for o in over]
    ys = [max((o["admitted_p95_s"] or 0) * 1000, 0.1) for o in over]
    ax.plot(xs, ys, color="tab:green", linestyle="none", marker="D",
            label="peakready beyond: admitted p95 (nginx), % refused with 503")
    for x, y, o in zip(xs, ys, over):
        total = o["admitted"] + o["refused"]
        ax.annotate(f"{100 * o['refused'] / total:.0f} % 503" if total else "-", (x, y), fontsize=7,
                    textcoords="offset points", xytext=(4, 4))
