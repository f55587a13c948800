"""CHANGELOG.md names each release's commit, which the upgrade test deploys first (a CI clone may carry
no tags); the commit is in this history, and a tag of the same name, where the clone has it, agrees."""

from __future__ import annotations

import pytest

from targets import releases


def test_the_newest_release_is_found_by_its_commit_in_this_history():
    latest = releases.previous()
    assert latest == releases.recorded(releases.CHANGELOG.read_text())[0]
    tag = releases.git("rev-parse", "--verify", "--quiet", f"{latest.tag}^{{commit}}")
    if tag.returncode == 0:  # a clone with tags: the tag and the changelog name one commit
        assert tag.stdout.strip() == latest.commit, (latest, tag.stdout)


def test_a_release_heading_without_its_commit_is_refused():
    with pytest.raises(ValueError, match="release 9.9.9 names no commit"):
        releases.recorded("# Changelog\n\n## Unreleased\n\n## 9.9.9 (2027-01-01)\n")
    assert releases.recorded("## 1.2.3 (2027-01-01, commit " + "a" * 40 + ")\n") == [
        releases.Release("1.2.3", "a" * 40)]


def test_a_commit_outside_this_history_is_refused(monkeypatch, tmp_path):
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text("## 9.9.9 (2027-01-01, commit " + "0" * 40 + ")\n")
    monkeypatch.setattr(releases, "CHANGELOG", changelog)
    with pytest.raises(LookupError, match="not in this clone"):
        releases.previous()
