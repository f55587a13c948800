"""The multi-host tests' time bounds can fail (tests/multi/judge.py): each judge passes the case the
suite measures and finds a problem in the broken one: a return later than the bound, a failure later
than the bound, and a load that stopped before the bound's end (where nothing could have been seen
broken)."""

import pytest

from tests.multi import judge

EVENT = 1000.0


def load(until: float, outcome_at, kind: str = "write", start: float = EVENT - judge.LEAD_S, step: float = 0.1,
         takes: float = 0.01) -> list:
    """A steady stream of `kind` from `start` to `until`, each request's outcome by when it was sent,
    each answered `takes` seconds later."""
    n = int((until - start) / step)
    return [[round(start + i * step, 3), kind, outcome_at(start + i * step), round(start + i * step + takes, 3)]
            for i in range(n)]


def down_until(back: float):
    return lambda t: 201 if t < EVENT or t >= back else 503


def test_the_load_runs_past_the_bound():
    assert judge.load_seconds(30) == judge.LEAD_S + 30 + judge.MARGIN_S


def test_writes_back_within_the_bound_pass():
    verdict = judge.back_within(load(EVENT + 40, down_until(EVENT + 4)), "write", EVENT, 30)
    assert verdict.ok and verdict.figure == pytest.approx(4, abs=0.12)


def test_writes_back_after_the_bound_are_a_problem():  # the control
    verdict = judge.back_within(load(EVENT + 40, down_until(EVENT + 31)), "write", EVENT, 30)
    assert verdict.problem == "writes were back 31.0 s after the event, the bound is 30 s"


def test_a_write_sent_early_but_answered_after_the_bound_is_late():
    """ProxySQL holds writes while it has no writer: what counts is when the answer came."""
    verdict = judge.back_within(load(EVENT + 40, down_until(EVENT + 1), takes=35), "write", EVENT, 30)
    assert not verdict.ok and verdict.figure == pytest.approx(36, abs=0.12)


def test_writes_never_back_are_a_problem():
    verdict = judge.back_within(load(EVENT + 40, down_until(EVENT + 99)), "write", EVENT, 30)
    assert verdict.problem == "no write succeeded in the 30 s after the event"


def test_a_load_that_stopped_before_the_bound_cannot_say_writes_came_back_in_time():
    """The old failover check: a 45 s load begun 5 s before the kill, against a 60 s bound."""
    verdict = judge.back_within(load(EVENT + 40, down_until(EVENT + 99)), "write", EVENT, 60)
    assert "stopped too early" in verdict.problem


def test_requests_sent_as_the_event_happened_are_not_a_return():
    log = load(EVENT + 40, lambda t: 201 if t < EVENT + 0.3 or t >= EVENT + 5 else "ConnectionRefusedError")
    verdict = judge.back_within(log, "write", EVENT, 30, settle_s=0.5)
    assert verdict.ok and verdict.figure == pytest.approx(5, abs=0.12)


def test_failures_early_in_a_switchover_pass():
    log = load(EVENT + 30, lambda t: 503 if EVENT + 1 <= t < EVENT + 2 else 201)
    failed, verdict = judge.last_failure_within(log, "write", EVENT, 20)
    assert failed == 10 and verdict.ok and verdict.figure == pytest.approx(1.9, abs=0.11)


def test_a_failure_after_the_bound_is_a_problem():  # the control
    log = load(EVENT + 30, lambda t: 503 if t == pytest.approx(EVENT + 21, abs=0.01) else 201)
    failed, verdict = judge.last_failure_within(log, "write", EVENT, 20)
    assert failed == 1 and verdict.problem == "a write failed 21.0 s after the start, the bound is 20 s"


def test_a_switchover_load_that_ends_at_the_bound_cannot_pass():
    """The old switchover check: a 25 s load begun 5 s before, against a 20 s bound."""
    _, verdict = judge.last_failure_within(load(EVENT + 20, lambda t: 201), "write", EVENT, 20)
    assert "stopped too early" in verdict.problem


def test_a_window_is_seen_only_when_the_load_ran_a_second_past_it():
    log = load(EVENT + 10, lambda t: 200, kind="read")
    assert judge.unseen(log, "read", EVENT + 8.5) is None
    assert "stopped too early" in judge.unseen(log, "read", EVENT + 9.5)
    assert judge.unseen(log, "write", EVENT) == "the load sent no write"
