"""targets/door.py: the verdict on a run at nginx's door fails each way the door can fail (the
overload test and make bench rely on it), and passes a run that kept every promise."""

from targets import door

LOG = (
    '127.0.0.1 [05/Dec/2026:20:00:00 +0000] "GET /api/v1/menu?outlet=1 HTTP/1.1" 200 512 rt=0.002 urt=- cache=HIT\n'
    '127.0.0.1 [05/Dec/2026:20:00:00 +0000] "GET /api/v1/outlets/3/availability?date=x HTTP/1.1" 200 90 rt=0.120 '
    'urt=0.119 cache=-\n'
    '127.0.0.1 [05/Dec/2026:20:00:00 +0000] "GET /api/v1/outlets/3/availability?date=x HTTP/1.1" 503 120 rt=0.000 '
    'urt=- cache=-\n'
    '127.0.0.1 [05/Dec/2026:20:00:00 +0000] "GET /api/v1/outlets HTTP/1.1" 499 0 rt=0.300 urt=- cache=-\n'
)


def good_run(**kw):
    return {"socket_errors": 0, "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
            "statuses": {200: 2, 503: 1}, "no_retry_after": 0, **kw}


def test_the_access_log_splits_the_admitted_from_the_refused(monkeypatch):
    monkeypatch.setattr(door.vps, "sh", lambda name, script, **kw: LOG)
    times = door.logged("vps", 0)
    assert times == {200: [0.002, 0.12], 503: [0.0], 499: [0.3]}
    assert door.logged("vps", 0, "availability") == {200: [0.12], 503: [0.0]}
    f = door.figures(good_run(), times)
    assert (f["admitted"], f["refused"], f["other_statuses"]) == (2, 1, {})  # a 499 (the client left) is neither
    assert door.broken(f) == []


def test_each_broken_promise_is_named():
    times = {200: [0.1] * 99 + [0.2], 503: [0.0] * 10}
    assert door.broken(door.figures(good_run(socket_errors=3), times))[0].startswith("3 socket errors")
    assert "503s without Retry-After" in door.broken(door.figures(good_run(no_retry_after=2), times))[0]
    assert "answers other than" in door.broken(door.figures(good_run(statuses={200: 1, 502: 1}), times))[0]
    slow = {200: [0.9] * 100, 503: [0.0]}
    assert door.broken(door.figures(good_run(), slow))[0].startswith("admitted p95 0.9 s")
    late = {200: [0.1] * 100, 503: [0.2] * 100}
    assert door.broken(door.figures(good_run(), late))[0].startswith("refused p99 0.2 s")
    # Beyond the door, a run that refused nothing never met it; below it, none is expected.
    calm = {200: [0.01] * 10}
    assert door.broken(door.figures(good_run(statuses={200: 10}), calm)) == ["nothing refused: the load never met a door"]
    assert door.broken(door.figures(good_run(statuses={200: 10}), calm), refusals_expected=False) == []
