"""Overload answered at the door: three times the users the plan sizes the VPS for, at once.

The plan sizes the stack for its users (`make plan`: "users at once") and nginx holds eight times as
many connections; the app host takes its door's requests at once (upstream max_conns) and nginx
answers the rest itself. So a spike of 3 x the users must see no socket error, every refusal a 503
with Retry-After answered at once, and the admitted requests within the SLO (targets/door.py judges
both, from wrk's counts and nginx's per-request times). The control: the same spike with the door
taken off the live config (then put back) breaks the SLO (and may drop connections), so the check can
fail. Between the two, for the table only, the same spike with a door four times as wide: how much
quicker the plan's door keeps the admitted. The figures go to .peakready/overload.md, printed at the
end of the run.

The users are wrk's users mode (targets/wrk.lua, as make bench's): each clicks, thinks 1 s on
average, clicks again; 80 % of the clicks are public reads that nginx's micro-cache answers.
"""

from __future__ import annotations

import datetime as dt
import time

from peakready import ROOT
from targets import door, wrk

SITE = "/etc/nginx/sites-available/peakready"
SPIKE = 3  # x the users the plan sizes the VPS for
WIDER = 4  # the table's middle row: a door this many times as wide as the plan's
DURATION_S = 10
BUDGET = 1_000_000
THINK_MS = 1000
FIGURES = ROOT / ".peakready" / "overload.md"
SETTLE_S = 180


def spike(name: str, users: int, tag: str) -> dict:
    day = (dt.date.today() + dt.timedelta(days=9)).isoformat()
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=31)).strftime("%Y-%m-%dT19:00:00Z")
    offset = door.log_offset(name)
    run = wrk.run(name, "/", users, DURATION_S, budget=BUDGET,
                  mode=("users", f"overload{tag}{int(time.time())}", when, str(THINK_MS), day))
    return door.figures(run, door.logged(name, offset)) | {"rps": run["rps"], "client_p95_ms": run["p95_ms"],
                                                           "client_p99_ms": run["p99_ms"]}


def settle(host, bound_s: float = SETTLE_S) -> float:
    """Seconds until /health answers 200 through nginx five times in a row; fails past bound_s."""
    start = time.monotonic()
    good = 0
    while good < 5:
        assert time.monotonic() - start < bound_s, f"/health did not answer 200 within {bound_s} s"
        code = host.run("curl -s -o /dev/null -m 5 -w '%{http_code}' -H 'Host: localhost' http://127.0.0.1/health")
        good = good + 1 if code.stdout.strip() == "200" else 0
        time.sleep(0.5)
    return time.monotonic() - start


def row(what: str, f: dict) -> str:
    ms = lambda s: "-" if s is None else f"{s * 1000:.0f}"  # noqa: E731
    return (f"| {what} | {f['rps']:,.0f} | {f['admitted']:,} | {ms(f['admitted_p95_s'])} | {ms(f['admitted_p99_s'])} "
            f"| {f['refused']:,} | {ms(f['refused_p99_s'])} | {f['no_retry_after']} | {f['socket_errors']:,} "
            f"| {f['client_p95_ms']:.0f} |")


def with_site(host, test_vps, users: int, tag: str, edit: str) -> tuple[dict, float]:
    """The same spike with the live site edited by `edit` (a perl -pi expression), then put back: its
    figures, and the seconds the app took after it to answer /health again."""
    host.run_expect([0], f"cp {SITE} {SITE}.door")
    figures = {}
    try:
        # The edit must change the site (a substitution that matched nothing would measure the door).
        host.run_expect([0], f"perl -pi -e '{edit}' {SITE} && ! cmp -s {SITE} {SITE}.door && nginx -t -q "
                             "&& systemctl reload nginx")
        time.sleep(2)
        figures = spike(test_vps.name, users, tag)
    finally:
        host.run_expect([0], f"mv {SITE}.door {SITE} && nginx -t -q && systemctl reload nginx")
        # A wider door lets the app queue more than it serves: the next spike, and the tests after
        # this one, start once it has worked through them and answers /health again.
        drained = settle(host)
    return figures, drained


def test_a_spike_of_3x_the_planned_users_is_served_or_turned_away_politely(host, test_vps, plan):
    users = SPIKE * plan.nginx.clients
    assert users <= plan.nginx.slots, "nginx holds the spike's connections"
    at_door = spike(test_vps.name, users, "door")
    # For the table: a door WIDER x as wide (what the door was before it was sized by the admitted's
    # latency), and the control: the door taken off (max_conns removed from the live site).
    wider, _ = with_site(host, test_vps, users, "wider", rf's/ max_conns=(\d+);/" max_conns=".($1*{WIDER}).";"/e')
    no_door, drained = with_site(host, test_vps, users, "nodoor", r"s/ max_conns=\d+;/;/")
    assert "max_conns" in host.check_output(f"cat {SITE}")

    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text("\n".join([
        f"{users:,} users at once ({SPIKE} x the {plan.nginx.clients:,} the plan sizes this "
        f"{plan.host.cores}-core VPS for), {DURATION_S} s; the app host's door: "
        f"{sum(plan.nginx.app_max_conns.values())} requests at once. Times in ms; admitted and refused from nginx's "
        "access log (rt), the client's p95 from wrk (which shares the cores).", "",
        "| run | r/s | admitted | admitted p95 | admitted p99 | refused (503) | refused p99 | 503 without Retry-After "
        "| socket errors | client p95 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        row("the door (as deployed)", at_door), row(f"a door {WIDER} x as wide", wider),
        row("control: no door", no_door), "",
        f"After the control the app answered /health again {drained:.0f} s after the spike ended."]) + "\n")
    print(FIGURES.read_text())

    assert door.broken(at_door) == [], at_door
    # Without the door the same spike breaks what the door keeps (not merely "nothing refused").
    assert [p for p in door.broken(no_door) if not p.startswith("nothing refused")], no_door
