"""The app's release, built on the control machine before anything reaches a host: its source
(a directory of this repository, or a git URL checked out at app_ref), its dependencies resolved and
built as wheels for the host (peakready/dependencies.py), and the release tarball: the code and the
resolved set, so the same code and dependencies always give the same bytes and id.

The pre-flight prepares it (and validate.py checks it) before the first change; roles/app.py
uploads what prepare() built, from the same cache.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from peakready import ROOT, dependencies
from peakready.dependencies import RESOLVED, Target
from peakready.knobs import KnobError

WHEELS = ".peakready-wheels"  # in each release: the key of the wheels its virtualenv came from

CACHE = ROOT / ".peakready"
# Never part of a release: caches, virtualenvs, and this repository's own state (secrets included,
# were app_source this repository's root).
SKIP = {"__pycache__", ".git", ".venv", "venv", ".pytest_cache", ".mypy_cache", ".peakready", ".vagrant"}
GIT_TIMEOUT_S = 120


# (cache directory, app_source, app_ref) -> its checkout, fetched once per run.
_FETCHED: dict[tuple[str, str, str], Path] = {}


def redact(url: str) -> str:
    """A URL without the credentials it may carry (https://user:token@host/...)."""
    return re.sub(r"//[^/@]*@", "//***@", url)


def checked_source(source: str, ref: str) -> Path:
    """
    The app's code on this machine, checked before the first change (the pre-flight calls this):
    a directory of the repository, or a git URL fetched at `ref` (once per run; each ref has its
    own checkout). Raises KnobError naming app_source when it cannot be fetched or declares no
    dependencies.
    """
    if "://" not in source and not source.startswith("git@"):
        src = ROOT / source
    else:
        key = (str(CACHE), source, ref)
        if key not in _FETCHED:
            _FETCHED[key] = fetch(source, ref)
        src = _FETCHED[key]
    if dependencies.declared(src) is None:
        raise KnobError(f"app_source {redact(source)} declares no dependencies: add requirements.txt, or "
                        "pyproject.toml (with uv.lock, poetry.lock or pylock.toml if you lock them).")
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


def release_tarball(src: Path, extra: dict[str, str] | None = None) -> tuple[str, bytes]:
    """(release id, tar.gz of the code and `extra` files): the same content always gives the same
    bytes and id."""
    members = [(str(path.relative_to(src)), path.read_bytes()) for path in sorted(src.rglob("*"))
               if not set(path.relative_to(src).parts) & SKIP and path.suffix != ".pyc" and path.is_file()]
    members += [(name, text.encode()) for name, text in sorted((extra or {}).items())]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, body in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(body), 0o644, 0
            tar.addfile(info, io.BytesIO(body))
    raw = gzip.compress(buf.getvalue(), mtime=0)  # no timestamp: the bytes depend on the content only
    return hashlib.sha256(raw).hexdigest()[:12], raw


@dataclass(frozen=True)
class Release:
    id: str
    tarball: bytes
    resolved: str  # the dependencies, pinned for the host (RESOLVED in the release)
    wheels_key: str
    wheels: Path  # a wheel for every pin, on this machine


def prepare(src: Path, target: Target, worker_class: str, build_packages: list[str], builder_image: str) -> Release:
    """The release of `src` for a host like `target`: resolved, built, packed (cached by content)."""
    resolved = dependencies.resolve(src, target, worker_class)
    key, wheels = dependencies.wheelhouse(resolved, target, list(build_packages), builder_image)
    # The wheels' key too: the same pins built another way (app_build_packages) are another release.
    release_id, tarball = release_tarball(src, {RESOLVED: resolved, WHEELS: key + "\n"})
    return Release(release_id, tarball, resolved, key, wheels)
