"""Secrets: generated once and reused, 0600, git-ignored, the environment wins, empty is an error."""

import json
import stat
import subprocess
import sys
import time

import pytest

from peakready import ROOT
from peakready.secrets import DIRECTORY, NAMES, SecretError, Secrets, variable


@pytest.fixture
def store(tmp_path):
    return lambda env=None: Secrets("prod", environ=env or {}, directory=tmp_path / "secrets")


def test_generated_once_then_reused(store):
    first = {name: store().get(name) for name in NAMES}
    again = {name: store().get(name) for name in NAMES}
    assert first == again
    assert len(set(first.values())) == len(NAMES), "every secret is its own"
    assert all(len(v) >= 32 for v in first.values())


def test_file_is_0600_in_a_0700_directory(store):
    s = store()
    s.get("redis_app_password")
    assert stat.S_IMODE(s.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(s.path.parent.stat().st_mode) == 0o700


def test_a_file_readable_by_others_is_refused(store):
    s = store()
    s.get("redis_app_password")
    s.path.chmod(0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        store().get("redis_app_password")


def test_the_secrets_directory_is_git_ignored():
    path = DIRECTORY / "prod.json"
    res = subprocess.run(["git", "check-ignore", "-q", str(path.relative_to(ROOT))], cwd=ROOT)
    assert res.returncode == 0, f"{path} would be committed"


def test_the_environment_wins_and_is_not_stored(store):
    env = {variable("mariadb_app_password"): "from-the-environment-0123456789"}
    assert store(env).get("mariadb_app_password") == "from-the-environment-0123456789"
    assert store().get("mariadb_app_password") != "from-the-environment-0123456789"


@pytest.mark.parametrize("value,message", [
    ("", "is set but empty"),
    ("   ", "is set but empty"),
    ("short", "16 to 256"),
    ("has a space in it and is long", "16 to 256"),
    ("quote'breaks-sql-0123456789", "16 to 256"),
])
def test_a_bad_variable_is_an_error_naming_it(store, value, message):
    env = {variable("mariadb_app_password"): value}
    with pytest.raises(SecretError, match=f"PEAKREADY_SECRET_MARIADB_APP_PASSWORD .*{message}|{message}") as err:
        store(env).check_all()
    assert "PEAKREADY_SECRET_MARIADB_APP_PASSWORD" in str(err.value)
    assert value.strip() == "" or value not in str(err.value), "the message never repeats the value"


def test_deploys_at_once_all_get_the_values_stored_first(tmp_path):
    """Eight processes (eight deploys of one inventory at once) ask for every secret of an empty
    store at the same moment: each gets the same values, and those are the stored ones."""

    start = time.time() + 1.0
    script = ("import json, sys, time; from pathlib import Path; from peakready.secrets import NAMES, Secrets; "
              f"time.sleep(max(0, {start} - time.time())); "
              f"s = Secrets('race', directory=Path({str(tmp_path)!r})); "
              "print(json.dumps({n: s.get(n) for n in NAMES}))")
    runs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
            for _ in range(8)]
    seen = [json.loads(run.communicate(timeout=60)[0]) for run in runs]
    stored = json.loads((tmp_path / "race.json").read_text())
    assert all(values == stored for values in seen)
