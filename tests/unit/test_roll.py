"""The rolling release's order (peakready/roll.py), with a runner that records each pyinfra run
instead of making it: drained, deployed alone, put back, batch after batch; a failure stops it."""

import pytest

from peakready import knobs, validate
from peakready.knobs import KnobError
from peakready.roll import RollError, plan_roll, roll, serving

APPS, WEBS = ["app1", "app2", "app3"], ["lb"]


def look(hosts):
    """What each app host serves: the release before, as a roll that changed nothing finds it."""
    return {host: "releases/old" for host in hosts}


def recorder(fails: set[tuple[str, str]] = frozenset()):
    """A runner: each run as (script, hosts, the app_drained given); (script, hosts) in `fails` fails."""
    runs = []

    def run(script, hosts, args):
        drained = next((a.split("=", 1)[1] for a in args if a.startswith("app_drained=")), "")
        runs.append((script, ",".join(hosts), drained))
        return (script, ",".join(hosts)) not in fails
    return runs, run


def test_each_app_host_in_turn_is_drained_deployed_alone_and_put_back():
    runs, run = recorder()
    assert roll(plan_roll(APPS, WEBS, 1), run, look) == 0
    assert runs == [step for app in APPS for step in (
        ("drain.py", "lb", app), ("deploy.py", app, ""), ("drain.py", "lb", ""))]


def test_batches_of_two():
    runs, run = recorder()
    assert roll(plan_roll(APPS, WEBS, 2), run, look) == 0
    assert [r for r in runs if r[0] == "deploy.py"] == [("deploy.py", "app1,app2", ""), ("deploy.py", "app3", "")]
    assert ("drain.py", "lb", "app1,app2") in runs


def test_a_release_that_fails_on_the_first_host_stops_the_roll_there(capsys):
    runs, run = recorder({("deploy.py", "app1")})
    assert roll(plan_roll(APPS, WEBS, 1), run, look) == 1
    # Put back in the upstream, and nothing sent to the others.
    assert runs == [("drain.py", "lb", "app1"), ("deploy.py", "app1", ""), ("drain.py", "lb", "")]
    said = capsys.readouterr().err
    assert "stopped at app1: its deploy failed" in said and "not touched: app2, app3" in said
    assert "Live now: app1 releases/old (the release it had), app2 releases/old (the release it had)" in said


def test_what_each_host_serves_is_told_against_what_it_served_before():
    assert serving({"app1": "releases/new", "app2": "releases/old"}, {"app1": "releases/old", "app2": "releases/old"}) \
        == "app1 releases/new (a new release), app2 releases/old (the release it had)"


def test_a_drain_that_fails_deploys_nothing(capsys):
    runs, run = recorder({("drain.py", "lb")})
    assert roll(plan_roll(APPS, WEBS, 1), run, look) == 1
    assert [r[0] for r in runs] == ["drain.py", "drain.py"]
    assert "draining it failed, so it was not deployed" in capsys.readouterr().err


@pytest.mark.parametrize("apps, webs, batch, said", [
    (["app1"], WEBS, 1, "nothing to roll across"),
    (APPS, [], 1, "no web host"),
    (APPS, WEBS, 3, "--batch 3: give 1 to 2"),
    (APPS, WEBS, 0, "--batch 0"),
])
def test_a_roll_that_cannot_be_one_is_refused(apps, webs, batch, said):
    with pytest.raises(RollError, match=said):
        plan_roll(apps, webs, batch)


@pytest.mark.parametrize("value, ok", [("", True), ("app1", True), ("app1,app2", True), ("app1,", False),
                                       ("app 1", False), ("app1;reboot", False)])
def test_the_drained_hosts_are_host_names(value, ok):
    if ok:
        assert validate.run_args({"app_drained": value}, ("app_drained",))["app_drained"] == value
    else:
        with pytest.raises(KnobError, match="app_drained"):
            validate.run_args({"app_drained": value}, ("app_drained",))
    assert knobs.RUN_ARGS["app_drained"][0] == ""
    # drain.py's pre-flight checks the knobs of data that holds it: a run argument, not an unknown knob.
    assert "app_drained" not in validate.knob_values({"app_drained": "app1"})
    with pytest.raises(KnobError, match="unknown knob 'app_draned'"):
        validate.knob_values({"app_draned": "app1"})
