"""The releases of peakready, as CHANGELOG.md records them: each release's heading names its commit
(`## 0.1.0 (2026-12-06, commit <40 hex>)`), so a clone that carries no tags (a CI checkout of one
branch) still finds the previous release in its own history. The tags (`v0.1.0`) name the same
commits for people; tests/unit/test_releases.py holds the two together."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHANGELOG = ROOT / "CHANGELOG.md"
HEADING = re.compile(r"^## (?P<version>\d+\.\d+\.\d+) \((?P<rest>[^)]*)\)\s*$", re.M)
COMMIT = re.compile(r"\bcommit (?P<commit>[0-9a-f]{40})\b")


@dataclass(frozen=True)
class Release:
    version: str
    commit: str

    @property
    def tag(self) -> str:
        return f"v{self.version}"


def recorded(text: str) -> list[Release]:
    """Every release heading of a changelog, newest first; a release heading without its commit is an
    error (the upgrade test could not find that release)."""
    releases = []
    for heading in HEADING.finditer(text):
        commit = COMMIT.search(heading["rest"])
        if commit is None:
            raise ValueError(f"CHANGELOG.md: release {heading['version']} names no commit "
                             f"(`## {heading['version']} (date, commit <40 hex>)`)")
        releases.append(Release(heading["version"], commit["commit"]))
    return releases


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def previous() -> Release:
    """The newest release recorded in CHANGELOG.md, checked to be in this checkout's history."""
    releases = recorded(CHANGELOG.read_text())
    if not releases:
        raise LookupError("CHANGELOG.md records no release")
    latest = releases[0]
    if git("cat-file", "-e", f"{latest.commit}^{{commit}}").returncode != 0:
        raise LookupError(f"release {latest.version}'s commit {latest.commit} is not in this clone "
                          "(a shallow clone? git fetch --unshallow)")
    if git("merge-base", "--is-ancestor", latest.commit, "HEAD").returncode != 0:
        raise LookupError(f"release {latest.version}'s commit {latest.commit} is not an ancestor of HEAD")
    return latest
