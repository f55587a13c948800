"""The secret searches themselves (tests/leaks.py), proved on planted values: each finds what is
there, in the forms the stack writes, and skips only what it says it skips."""

import json
import os
import subprocess
import sys

import pytest

from tests.leaks import SEARCH, Hidden, Redacted, in_repo, in_text, needles

PLANTED = Redacted({
    "in_history": "history-only-value-0123456789",
    "tracked": "tracked-value-0123456789",
    "untracked": "loose-file-value-0123456789",
    "in_venv": "venv-value-0123456789",
    "in_state": "state-value-0123456789",
    "nowhere": "nowhere-value-0123456789",
})


def test_a_value_is_searched_as_it_is_and_as_a_url_writes_it():
    assert needles(Redacted(s="a+b/c=d-0123456789")) == {"a+b/c=d-0123456789": "s", "a%2Bb%2Fc%3Dd-0123456789": "s"}
    secrets = Redacted(s="a+b/c=d-0123456789", other="other-value-0123456789")
    assert in_text("redis://app:a%2Bb%2Fc%3Dd-0123456789@127.0.0.1:6379/0", secrets) == {"s"}
    assert in_text(b"... a+b/c=d-0123456789 ...", secrets) == {"s"}
    assert in_text("nothing here", secrets) == set()


def test_a_short_value_is_refused_rather_than_searched():
    with pytest.raises(ValueError, match="secret x"):
        needles(Redacted(x="abc"))


def test_secrets_must_come_redacted_and_never_show_in_a_repr():
    with pytest.raises(TypeError, match="Redacted"):
        in_text("text", {"s": "plain-dict-value-0123456789"})
    shown = repr(Redacted(app="app-value-0123456789", admin="admin-value-0123456789")) + repr(Hidden("hidden-value-01"))
    assert shown == "Redacted(admin, app)Hidden(...)"


@pytest.fixture
def repo(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "gone.txt").write_text(PLANTED["in_history"])
    git("add", "gone.txt")
    git("commit", "-q", "-m", "one")
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "kept.py").write_text(f"token = '{PLANTED['tracked']}'\n")
    git("add", "-A")
    git("commit", "-q", "-m", "two")
    (tmp_path / "notes.txt").write_text(PLANTED["untracked"])
    for skipped, name in ((".venv", "in_venv"), (".peakready/secrets", "in_state")):
        (tmp_path / skipped).mkdir(parents=True)
        (tmp_path / skipped / "x.json").write_text(PLANTED[name])
    return tmp_path


def test_the_repository_search_finds_tracked_untracked_and_past_values(repo):
    hits = in_repo(repo, PLANTED)
    assert hits == {
        "in_history": {"git history"},
        "tracked": {"src/kept.py (tracked)", "src/kept.py", "git history"},
        "untracked": {"notes.txt"},
    }


def run_search(tmp_path, values, *args):
    patterns = tmp_path / "patterns"
    patterns.write_text("".join(f"{v}\n" for v in values))
    res = subprocess.run([sys.executable, "-c", SEARCH, str(patterns), *args], capture_output=True, text=True,
                         check=True)
    return json.loads(res.stdout)


def test_the_vps_file_search_reads_world_readable_files_only(tmp_path):
    root = tmp_path / "root"
    (root / "etc" / "deep").mkdir(parents=True)
    for path, value, mode in (("etc/open.conf", "open-value-0123456789", 0o644),
                              ("etc/deep/also-open", "open-value-0123456789", 0o604),
                              ("etc/closed.conf", "closed-value-0123456789", 0o640)):
        (root / path).write_text(f"x={value}\n")
        os.chmod(root / path, mode)
    os.symlink(root / "etc" / "closed.conf", root / "etc" / "link")  # a link is not a regular file
    answer = run_search(tmp_path, ["open-value-0123456789", "closed-value-0123456789"], "files", str(root),
                        str(tmp_path / "missing"))
    assert {k: sorted(v) for k, v in answer["hits"].items()} == {
        "0": sorted([str(root / "etc/open.conf"), str(root / "etc/deep/also-open")])}
    assert answer["searched"] == 2


def test_the_vps_output_search_finds_values_and_reports_a_failing_command(tmp_path):
    answer = run_search(tmp_path, ["first-value-0123456789", "second-value-0123456789"], "output",
                        "echo 'log: second-value-0123456789'")
    assert answer["hits"] == {"1": ["output"]}
    failed = run_search(tmp_path, ["first-value-0123456789"], "output", "echo oops >&2; exit 3")
    assert "oops" in failed["error"]
