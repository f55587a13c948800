"""A release rolled across the app hosts (peakready/roll.py, `make release`) under a stream of reads
and bookings: each app host drained from lb's nginx, deployed alone (checked before and after its
switch), put back, one after the other; not one request fails. A release that answers its health
path when started aside but not once live fails its live check on app1: app1's `current` goes back,
the roll stops there, app2 is never touched, both serve the release they had, both are back in the
upstream, and the roll says so. Watched from outside the roll, every second: which release each
app host runs and which one lb's nginx has drained."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from peakready import ROOT
from tests.infra.test_web import app_copy as bundled_copy
from tests.multi.conftest import REPORT
from tests.multi.judge import count, failures

APPS = ("app1", "app2")
ROLL_TIMEOUT_S = 1800  # the roll's own bound: four pyinfra runs a host (measured: see the report)
LIVE_CHECK_S = 10  # the broken release's live check (app_live_check_s): it fails at its end
STOP = "/run/peakready-release-stop"  # in lb: the load's end (traffic.py)
LIVE = "readlink /srv/peakready/current"


def app_copy(name: str, broken: bool = False) -> str:
    """A release of its own (tests/infra/test_web.py's copy of the bundled app, marked `name`);
    broken: its health path answers as before when the release is started aside (the deploy's
    readiness check sets PEAKREADY_RELEASE_DIR), 500 once it is live."""
    source = bundled_copy(f"multi-{name}", name)
    if broken:
        with (ROOT / source / "peakready_app" / "public.py").open("a") as public:
            public.write("\n\n_aside = health\n\n\n"
                         "async def health(request):  # peakready test: a release that fails once live\n"
                         "    import os\n\n"
                         "    from starlette.responses import PlainTextResponse\n\n"
                         "    if os.environ.get('PEAKREADY_RELEASE_DIR'):\n"
                         "        return await _aside(request)\n"
                         "    return PlainTextResponse('broken release\\n', status_code=500)\n")
    return source


class Watch:
    """Every second, until stopped: (time, app1's release, app2's release, the drained upstream lines on lb)."""

    def __init__(self, topo):
        self.topo, self.seen, self.done = topo, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.done.wait(1.0):
            try:
                live = tuple(self.topo.sh(app, LIVE).strip() for app in APPS)
                drained = self.topo.sh("lb", "nginx -T 2>/dev/null | grep -c ' down;' || true").strip()
            except Exception:  # a look that failed is no look; the next one comes
                continue
            self.seen.append((time.time(), *live, int(drained or 0)))

    def stop(self) -> list:
        self.done.set()
        self.thread.join(timeout=30)
        return self.seen


def rolled(topo, source: str, *data: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "peakready.roll", "--inventory", "inventories/docker_multi.py",
                           "--data", "file_integrity=false", "--data", f"app_source={source}",
                           *(arg for kv in data for arg in ("--data", kv))], cwd=ROOT,
                          env=dict(os.environ, PEAKREADY_MULTI=topo.prefix), capture_output=True, text=True,
                          timeout=ROLL_TIMEOUT_S)


@pytest.fixture(scope="module")
def releases(topo):
    """The release each app host runs before the rolls (the next deploy, test_backups.py's first,
    puts the default app back on both)."""
    return {app: topo.sh(app, LIVE).strip() for app in APPS}


def test_a_release_rolls_across_the_app_hosts_under_load_with_no_failed_request(topo, releases):
    load = topo.traffic(seconds=ROLL_TIMEOUT_S, budget=500_000, readers=2, writers=3, stop=STOP)
    watch = Watch(topo)
    time.sleep(2)
    start = time.time()
    roll = rolled(topo, app_copy("two"))
    roll_s = time.time() - start
    time.sleep(2)
    topo.sh("lb", f"touch {STOP}")
    seen = watch.stop()
    log = topo.collect(load)["log"]
    assert roll.returncode == 0, (roll.stdout + roll.stderr)[-4000:]
    after = {app: topo.sh(app, LIVE).strip() for app in APPS}
    assert after["app1"] == after["app2"] != releases["app1"], (releases, after)
    failed = sum(failures(log, kind) for kind in ("read", "write"))
    writes = count(log, "write")
    REPORT.append(f"a release rolled across app1, app2 under load (make release): {roll_s:.0f} s; "
                  f"{failed} failed of {len(log)} requests ({writes} bookings)")
    assert writes > 100, "the load ran"
    assert failed == 0, [entry for entry in log if entry[2] not in (200, 201)][:10]
    # One host at a time: app1 on the new release while app2 still ran the old one, never the other
    # way round; and lb had one host drained at some moment, none at the end.
    new, old = after["app1"], releases["app1"]
    assert any(a1 == new and a2 == old for _, a1, a2, _ in seen), seen[-5:]
    assert not any(a2 == new and a1 != new for _, a1, a2, _ in seen)
    assert any(drained == 1 for *_, drained in seen) and seen[-1][3] == 0, seen[-5:]


def test_a_release_that_fails_its_live_check_on_app1_goes_back_and_stops_the_roll(topo, releases):
    live = {app: topo.sh(app, LIVE).strip() for app in APPS}
    kept = topo.sh("app2", "ls /srv/peakready/releases")
    roll = rolled(topo, app_copy("broken", broken=True), f"app_live_check_s={LIVE_CHECK_S}")
    said = roll.stdout + roll.stderr
    assert roll.returncode == 1, said[-3000:]
    assert "the live release did not answer /health with 200" in said, said[-3000:]
    assert f"current is back on {live['app1']}" in said, said[-3000:]
    assert "stopped at app1: its deploy failed" in said and "not touched: app2" in said, said[-3000:]
    assert f"app1 {live['app1']} (the release it had)" in said, said[-3000:]
    assert {app: topo.sh(app, LIVE).strip() for app in APPS} == live
    assert topo.sh("app1", "curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost' "
                           "http://127.0.0.1:8000/health").strip() == "200"
    # Both back in the upstream; app2's deploy never ran (no release of the broken code there).
    assert topo.sh("lb", "nginx -T 2>/dev/null | grep -c ' down;' || true").strip() == "0"
    assert topo.sh("app2", "ls /srv/peakready/releases") == kept
