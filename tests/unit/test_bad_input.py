"""The bad-input corpus (tests/bad_input.py) without a VPS: each case is refused by the same checks
the deploy's pre-flight runs, in the same order, for a host the size of the local VPS."""

import re

import pytest

from peakready.knobs import KnobError
from peakready.plan import HostFacts, make_plan
from peakready.secrets import Secrets
from peakready.validate import inputs as check_inputs
from tests import sample_app
from tests.bad_input import CASES

# The local VPS as inventories/docker.py describes it, ProxySQL off (its package need not be on
# this machine; tests/infra/test_bad_input.py runs the corpus with it).
GROUPS = ("web_servers", "app_servers", "db_primary", "cache_servers", "docker", "sample_app")
VPS_DATA = {**sample_app.SETTINGS, "proxysql_enabled": False, "proxysql_deb": ""}
OFFLINE = [c for c in CASES if not c.live]


def preflight(tmp_path, name="vps", data=None, env=None):
    """check_host() without the host: inputs, secrets, then the plan of a 2-core 4 GB host."""
    checked = check_inputs(name, GROUPS, {**VPS_DATA, **(data or {})})
    Secrets("docker", environ=env or {}, directory=tmp_path / "secrets").check_all()
    return make_plan([HostFacts(name, 2, 4096, GROUPS)], checked)


def test_the_local_vps_as_it_is_passes(tmp_path):
    """Else every case below would pass for the wrong reason."""
    assert preflight(tmp_path)["vps"].app.workers >= 1


@pytest.mark.parametrize("case", OFFLINE, ids=[c.id for c in OFFLINE])
def test_bad_input_is_refused_in_one_sentence_naming_the_setting(tmp_path, case):
    with pytest.raises(KnobError) as err:
        preflight(tmp_path, case.host or "vps", case.host_data(tmp_path / "debs"), case.env)
    message = str(err.value)
    for word in case.words:
        assert word in message
    assert "\n" not in message and re.search(r"[.?]$", message), message
    if case.never_printed:
        assert case.never_printed not in message


def test_the_corpus_covers_every_kind_of_bad_input():
    assert len(CASES) >= 20
    kinds = {
        "wrong type": any(isinstance(v, (str, type(None), float)) and k.endswith(("_s", "_mb", "workers", "enabled"))
                          for c in CASES for k, v in c.data.items()),
        "unknown knob": any("did you mean" in w for c in CASES for w in c.words),
        "secret": any(c.env for c in CASES),
        "host name": any(c.host for c in CASES),
        "app_source": any("app_source" in c.data for c in CASES),
        "tls": any("tls" in c.data for c in CASES),
        "time": any(k.endswith("_time") for c in CASES for k in c.data),
    }
    assert all(kinds.values()), kinds
