"""`make clean` removes what can be made again (the virtualenv, the caches in .peakready/) and never
the only copies: the generated secrets and the record of a promoted primary."""

import shutil
import subprocess

from peakready import ROOT

KEPT = ("secrets/prod.json", "topology/prod.json")
REMOVED = ("wheels/abc/x.whl", "resolved/r.txt", "vps/peakready-vps.json", "ssh/id_ed25519", "overload.md")


def clean(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    """The repository's Makefile in an empty directory, its `down` (and the venv it needs) taken as
    done, and a docker on PATH that does nothing: only the clean recipe's own file work runs."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker").write_text("#!/bin/sh\nexit 0\n")
    (fake / "docker").chmod(0o755)
    return subprocess.run(["make", "-o", "down", "-o", "venv", *overrides, "clean"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={"PATH": f"{fake}:/usr/bin:/bin"})


def made(tmp_path) -> None:
    for rel in (*KEPT, *REMOVED):
        (tmp_path / ".peakready" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / ".peakready" / rel).write_text("x")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)


def test_make_clean_keeps_the_secrets_and_the_promoted_primary(tmp_path):
    made(tmp_path)
    done = clean(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [rel for rel in KEPT if not (tmp_path / ".peakready" / rel).exists()] == []
    assert sorted(p.name for p in (tmp_path / ".peakready").iterdir()) == ["secrets", "topology"]
    assert not (tmp_path / ".venv").exists()


def test_make_clean_runs_where_nothing_was_made(tmp_path):
    done = clean(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_without_the_kept_list_the_secrets_would_go(tmp_path):
    # The control: the same recipe with nothing kept removes them, so the check above can fail.
    made(tmp_path)
    done = clean(tmp_path, "KEPT=")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / ".peakready").exists() or not any((tmp_path / ".peakready").iterdir())
