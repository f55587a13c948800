"""Overload at nginx's door, judged from both sides: what the load generator saw (targets/wrk.py) and
what nginx logged for each request (its access log's status and request time, rt=).

wrk gives one latency distribution for every answer; the door's promise is about two kinds of
answer: the requests it admitted stay within the SLO, and the ones it turned away get a 503 with
Retry-After at once. nginx's access log tells them apart: each line has the status and the time
nginx spent on the request (from its first byte read to its last byte sent), so the admitted and the
refused get a p95 and a p99 each. The bench and the overload test read the same figures here.
"""

from __future__ import annotations

import re

from peakready.knobs import defaults
from targets import vps

# The SLO the stack is sized for (the plan's users, make bench's users held): p95 below the
# slo_p95_ms knob (its default: what the alerts and the plan's users per core are measured against).
ADMITTED_P95_S = defaults()["slo_p95_ms"] / 1000
# A refusal is nginx answering from memory: it must not wait on anything.
REFUSED_P99_S = 0.05
LINE = re.compile(r'"[A-Z]+ (\S+) HTTP/[\d.]+" (\d{3}) \d+ rt=([\d.]+)')


def log_offset(name: str) -> int:
    """Where nginx's access log ends now: the next run's lines come after it."""
    return int(vps.sh(name, "stat -c %s /var/log/nginx/access.log 2>/dev/null || echo 0").strip() or 0)


def logged(name: str, offset: int, needle: str = "") -> dict[int, list[float]]:
    """The request times (s) nginx logged since `offset`, by status; only lines whose URL holds `needle`."""
    text = vps.sh(name, f"tail -c +{offset + 1} /var/log/nginx/access.log", timeout=300)
    times: dict[int, list[float]] = {}
    for match in LINE.finditer(text):
        url, status, rt = match.groups()
        if needle in url:
            times.setdefault(int(status), []).append(float(rt))
    return times


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def figures(run: dict, times: dict[int, list[float]]) -> dict:
    """One run at the door: the client's counts and the server's times of the admitted (2xx) and the
    refused (503) requests. 499s (the client left: wrk closing its connections as its time runs out)
    are neither."""
    admitted = [t for status, ts in times.items() if 200 <= status < 300 for t in ts]
    refused = times.get(503, [])
    return {
        "socket_errors": run["socket_errors"], "errors": run["errors"], "statuses": run["statuses"],
        "no_retry_after": run["no_retry_after"],
        "admitted": len(admitted), "refused": len(refused),
        "admitted_p95_s": percentile(admitted, 95), "admitted_p99_s": percentile(admitted, 99),
        "refused_p99_s": percentile(refused, 99),
        "other_statuses": {s: len(ts) for s, ts in times.items() if not (200 <= s < 300 or s in (499, 503))},
    }


def broken(f: dict, *, refusals_expected: bool = True) -> list[str]:
    """What the door failed to do in a run (empty: it did it all): no socket error; every answer
    admitted (2xx) or refused with a 503 that says Retry-After; the admitted within the SLO's p95, the
    refused within REFUSED_P99_S; and, when the load was beyond the door, some refused."""
    out = []
    if f["socket_errors"]:
        out.append(f"{f['socket_errors']} socket errors ({f['errors']})")
    wrong = {s: n for s, n in f["statuses"].items() if not (200 <= int(s) < 300 or int(s) == 503)}
    if wrong or f["other_statuses"]:
        out.append(f"answers other than 2xx and 503: {wrong or f['other_statuses']}")
    if f["no_retry_after"]:
        out.append(f"{f['no_retry_after']} 503s without Retry-After")
    if f["admitted_p95_s"] is None or f["admitted_p95_s"] >= ADMITTED_P95_S:
        out.append(f"admitted p95 {f['admitted_p95_s']} s, not under {ADMITTED_P95_S} s")
    if f["refused_p99_s"] is not None and f["refused_p99_s"] >= REFUSED_P99_S:
        out.append(f"refused p99 {f['refused_p99_s']} s, not under {REFUSED_P99_S} s")
    if refusals_expected and not f["refused"]:
        out.append("nothing refused: the load never met a door")
    return out
