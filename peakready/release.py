"""The app's release, built on the control machine before anything reaches a host: its source
(a directory of this repository, or a git URL checked out at app_ref), the release tarball (the same
code always gives the same bytes and id) and its dependencies as wheels for the host's Python.

The pre-flight checks the source with checked_source(); roles/app.py uploads what this builds.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

from pyinfra.api.exceptions import PyinfraError

from peakready import ROOT
from peakready.knobs import KnobError

CACHE = ROOT / ".peakready"
SKIP = {"__pycache__", ".git", ".venv", "venv", ".pytest_cache", ".mypy_cache"}
GIT_TIMEOUT_S = 120


def source_dir(data) -> Path:
    """The app's code on this machine: the repository's directory, or a checkout of the git URL."""
    return checked_source(data.app_source, data.app_ref)


# (cache directory, app_source, app_ref) -> its checkout, fetched once per run.
_FETCHED: dict[tuple[str, str, str], Path] = {}


def redact(url: str) -> str:
    """A URL without the credentials it may carry (https://user:token@host/...)."""
    return re.sub(r"//[^/@]*@", "//***@", url)


def checked_source(source: str, ref: str) -> Path:
    """
    The app's code on this machine, checked before the first change (the pre-flight calls this):
    a directory of the repository, or a git URL fetched at `ref` (once per run; each ref has its
    own checkout). Raises KnobError naming app_source when it cannot be fetched or holds no
    requirements.txt.
    """
    if "://" not in source and not source.startswith("git@"):
        src = ROOT / source
    else:
        key = (str(CACHE), source, ref)
        if key not in _FETCHED:
            _FETCHED[key] = fetch(source, ref)
        src = _FETCHED[key]
    if not (src / "requirements.txt").is_file():
        raise KnobError(f"app_source {redact(source)} has no requirements.txt: pin the app's dependencies there "
                        "(pip freeze > requirements.txt).")
    return src


def fetch(source: str, ref: str) -> Path:
    checkout = CACHE / "src" / hashlib.sha256(f"{source}\0{ref}".encode()).hexdigest()[:16]
    try:
        if not (checkout / ".git").exists():
            subprocess.run(["git", "clone", "--quiet", "--no-checkout", source, str(checkout)], check=True,
                           capture_output=True, timeout=GIT_TIMEOUT_S)
        subprocess.run(["git", "-C", str(checkout), "fetch", "--quiet", "origin", ref], check=True,
                       capture_output=True, timeout=GIT_TIMEOUT_S)
        subprocess.run(["git", "-C", str(checkout), "checkout", "--quiet", "--force", "FETCH_HEAD"], check=True,
                       capture_output=True, timeout=GIT_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        lines = exc.stderr.decode(errors="replace").strip().splitlines()
        why = next((line for line in lines if line.startswith("fatal:")), lines[-1] if lines else "git failed")
        raise KnobError(f"app_source {redact(source)} at app_ref {ref} could not be fetched ({redact(why)}): "
                        "check the URL, its access and app_ref.") from None
    except subprocess.TimeoutExpired:
        raise KnobError(f"app_source {redact(source)} at app_ref {ref} could not be fetched in {GIT_TIMEOUT_S} s: "
                        "check the URL and that this machine reaches it.") from None
    return checkout


def release_tarball(src: Path) -> tuple[str, bytes]:
    """(release id, tar.gz of the code): the same code always gives the same bytes and id."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if set(rel.parts) & SKIP or path.suffix == ".pyc" or not path.is_file():
                continue
            info = tarfile.TarInfo(str(rel))
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            tar.addfile(info, io.BytesIO(path.read_bytes()))
    raw = gzip.compress(buf.getvalue(), mtime=0)  # no timestamp: the bytes depend on the content only
    return hashlib.sha256(raw).hexdigest()[:12], raw


def wheelhouse(requirements: Path, python: str) -> tuple[str, Path]:
    """The app's dependencies as wheels for the host's Python (downloaded once, cached)."""
    key = hashlib.sha256(requirements.read_bytes() + python.encode()).hexdigest()[:12]
    out = CACHE / "wheels" / key
    if not (out / ".complete").exists():
        # pip evaluates environment markers for this machine's Python, not the host's: download
        # every pinned line, and let the host's pip pick by marker when it installs.
        out.mkdir(parents=True, exist_ok=True)
        unmarked = out / ".requirements-unmarked.txt"
        unmarked.write_text("".join(line.split(";")[0].strip() + "\n" for line in requirements.read_text().splitlines()
                                    if line.strip() and not line.lstrip().startswith("#")))
        platforms = ["manylinux2014_x86_64"] + [f"manylinux_2_{n}_x86_64" for n in range(17, 40)]
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--no-deps",
               "--python-version", python, "--implementation", "cp", "-r", str(unmarked), "-d", str(out)]
        for platform in platforms:
            cmd += ["--platform", platform]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise PyinfraError(f"the app's requirements have no wheels for Python {python}: "
                               f"{res.stderr.strip().splitlines()[-1:]}")
        (out / ".complete").write_text(key)
    return key, out


