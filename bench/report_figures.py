"""The figures the report's tables and plot share: the runs grouped by scenario, target and
connections, ratios round by round, and how a figure, a failure or a profile is written."""

from __future__ import annotations

import statistics

PROFILES = ("baseline", "peakready")
SWEPT = "menu (cached)"
VIA_REDIS = "menu via Redis (micro-cache passed)"
L0_NAME, L1_NAME = "L0 nginx constant", "L1 app constant"


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


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def label(profile: str, cap: dict) -> str:
    """A capacity profile's name in the report."""
    return "peakready as deployed" if profile == "peakready" else profile


def last_round(results: dict) -> list[dict]:
    last = max((r.get("round", 0) for r in results["runs"]), default=0)
    return [r for r in results["runs"] if r.get("round", 0) == last]


def client_ratio(proxysql: dict) -> str:
    try:
        return f"{int(proxysql['clients']) / max(int(proxysql['max_used']), 1):.1f}"
    except (KeyError, ValueError):
        return "?"


def fail_kinds(r: dict) -> str:
    parts = [f"{k} {v}" for k, v in r["errors"].items() if v]
    parts += [f"HTTP {k} ×{v}" for k, v in sorted(r["statuses"].items()) if not 200 <= int(k) < 300]
    return ", ".join(parts) or "none"
