"""How the multi-host tests judge a load's log against a time bound (traffic.py's log: every request
as [sent_at, kind, outcome]). A bound is only a check when the load ran long enough to see it
broken: each judge first asks that requests of the kind were still being sent past the moment the
bound ends, and fails when the load stopped before (tests/unit/test_multi_judge.py holds the
controls: the broken cases, each failing).
"""

from __future__ import annotations

# A load is started this long before its event, and runs this long past the event's bound.
LEAD_S = 5.0
MARGIN_S = 5.0


def load_seconds(bound_s: float, before_event_s: float = LEAD_S) -> float:
    """How long a load must run for an event `before_event_s` after its start to be judged against
    `bound_s`: past the bound's end, with a margin for the event's own time."""
    return before_event_s + bound_s + MARGIN_S


def failed(outcome) -> bool:
    """An error, or a 5xx."""
    return not isinstance(outcome, int) or outcome >= 500


def failures(log: list, kind: str, start: float = 0.0, end: float = float("inf")) -> int:
    """Requests of `kind` sent in [start, end) that failed."""
    return sum(1 for sent, k, outcome in log if k == kind and start <= sent < end and failed(outcome))


def count(log: list, kind: str, start: float = 0.0, end: float = float("inf")) -> int:
    return sum(1 for sent, k, _ in log if k == kind and start <= sent < end)


def covered(log: list, kind: str, until: float) -> None:
    """The load still sent requests of `kind` after `until`: whatever happened up to then was seen."""
    last = max((sent for sent, k, _ in log if k == kind), default=None)
    assert last is not None, f"the load sent no {kind}"
    assert last > until, (
        f"the load's last {kind} was sent {until - last:.1f} s before the end of the window it judges: it "
        "stopped too early (its length, or its request budget) to see the bound broken")


def back_within(log: list, kind: str, event: float, bound_s: float, settle_s: float = 0.0,
                ok: tuple[int, ...] = (200, 201)) -> float:
    """Seconds from `event` to the first request of `kind` sent after it (and after `settle_s` more:
    one sent at the event's instant may still have found the old state) that succeeded; fails when
    none did within `bound_s`, judged on a load that ran past event + bound_s."""
    back = min((sent for sent, k, outcome in log if k == kind and sent > event + settle_s and outcome in ok),
               default=None)
    if back is None or back - event >= bound_s:
        covered(log, kind, event + bound_s)
    assert back is not None, f"no {kind} succeeded in the {bound_s:.0f} s after the event"
    assert back - event < bound_s, f"{kind}s were back {back - event:.1f} s after the event, the bound is {bound_s:.0f} s"
    return back - event


def last_failure_within(log: list, kind: str, start: float, bound_s: float) -> tuple[int, float]:
    """(how many requests of `kind` sent from `start` failed, seconds from `start` to the last of
    them); fails when one was later than `bound_s`, judged on a load that ran past start + bound_s."""
    covered(log, kind, start + bound_s)
    late = [sent for sent, k, outcome in log if k == kind and sent >= start and failed(outcome)]
    window = max(late) - start if late else 0.0
    assert window < bound_s, f"a {kind} failed {window:.1f} s after the start, the bound is {bound_s:.0f} s"
    return len(late), window
