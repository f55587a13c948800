"""How the multi-host tests judge a load's log against a time bound (traffic.py's log: every request
as [sent_at, kind, outcome, answered_at]). A bound is only a check when the load ran long enough to
see it broken: each judge first asks that requests of the kind were still being sent well past the
moment the bound ends. A judge returns its figure and, when the bound is broken or could not be
seen, the problem: the test reports the figure first, then asserts (tests/unit/test_multi_judge.py
holds the controls: the broken cases, each one a problem).
"""

from __future__ import annotations

from dataclasses import dataclass

# A load is started this long before its event, and runs this long past the event's bound.
LEAD_S = 5.0
MARGIN_S = 5.0
# A window counts as seen when the load still sent requests this long after its end.
SEEN_PAST_S = 1.0


@dataclass(frozen=True)
class Verdict:
    figure: float | None  # seconds: what the test reports (None: nothing to measure)
    problem: str | None = None  # None: within the bound

    @property
    def ok(self) -> bool:
        return self.problem is None


def load_seconds(bound_s: float, before_event_s: float = LEAD_S) -> float:
    """How long a load must run for an event `before_event_s` after its start to be judged against
    `bound_s`: past the bound's end, with a margin for the event's own time."""
    return before_event_s + bound_s + MARGIN_S


def failed(outcome) -> bool:
    """An error, or a 5xx."""
    return not isinstance(outcome, int) or outcome >= 500


def failures(log: list, kind: str, start: float = 0.0, end: float = float("inf")) -> int:
    """Requests of `kind` sent in [start, end) that failed."""
    return sum(1 for sent, k, outcome, _ in log if k == kind and start <= sent < end and failed(outcome))


def count(log: list, kind: str, start: float = 0.0, end: float = float("inf")) -> int:
    return sum(1 for sent, k, _, _ in log if k == kind and start <= sent < end)


def unseen(log: list, kind: str, until: float) -> str | None:
    """None when the load still sent requests of `kind` SEEN_PAST_S after `until` (whatever happened up
    to then was seen); else why not."""
    last = max((sent for sent, k, _, _ in log if k == kind), default=None)
    if last is None:
        return f"the load sent no {kind}"
    if last < until + SEEN_PAST_S:
        return (f"the load's last {kind} was sent {last - until:+.1f} s from the end of the window it judges: it "
                "stopped too early (its length, or its request budget) to see the bound broken")
    return None


def back_within(log: list, kind: str, event: float, bound_s: float, settle_s: float = 0.0,
                ok: tuple[int, ...] = (200, 201)) -> Verdict:
    """Seconds from `event` until the first request of `kind` sent after it (and after `settle_s`
    more: one sent at the event's instant may still have found the old state) was answered with
    success; a problem when none was within `bound_s`, judged on a load that ran past event + bound_s."""
    back = min((answered for sent, k, outcome, answered in log
                if k == kind and sent > event + settle_s and outcome in ok), default=None)
    figure = None if back is None else back - event
    if figure is not None and figure < bound_s:
        return Verdict(figure)
    if problem := unseen(log, kind, event + bound_s):
        return Verdict(figure, problem)
    if figure is None:
        return Verdict(None, f"no {kind} succeeded in the {bound_s:.0f} s after the event")
    return Verdict(figure, f"{kind}s were back {figure:.1f} s after the event, the bound is {bound_s:.0f} s")


def last_failure_within(log: list, kind: str, start: float, bound_s: float) -> tuple[int, Verdict]:
    """How many requests of `kind` sent from `start` failed, and the verdict on the seconds from
    `start` to the last of them: a problem when one was later than `bound_s`, judged on a load that
    ran past start + bound_s."""
    late = [sent for sent, k, outcome, _ in log if k == kind and sent >= start and failed(outcome)]
    window = max(late) - start if late else 0.0
    if problem := unseen(log, kind, start + bound_s):
        return len(late), Verdict(window, problem)
    if window >= bound_s:
        return len(late), Verdict(window, f"a {kind} failed {window:.1f} s after the start, the bound is {bound_s:.0f} s")
    return len(late), Verdict(window)
