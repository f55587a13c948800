"""The app's dependencies: resolved and built on the control machine, for the host's Python and
platform, so the host needs neither PyPI nor a compiler.

    declared(src)      what the app declares them in, first found: pylock.toml, uv.lock,
                       poetry.lock, requirements.txt (top-level or pinned lines), pyproject.toml
                       (PEP 621 [project] dependencies)
    resolve(...)       the whole set pinned for the host (uv pip compile --python-version
                       --python-platform; a lock file's pins kept as they are), plus the server the
                       worker class needs (gunicorn, uvicorn-worker) when the app does not name it
    wheelhouse(...)    a wheel for every pin: PyPI's for the host's platform when it has one; else the
                       source distribution built here when it is pure Python, or in a builder
                       container of the host's Debian release (the local VPS image, with
                       build-essential, python3-dev and app_build_packages) when it compiles code

Everything is cached in .peakready/ by content: the same inputs never resolve or build twice. The
resolved set goes into the release (.peakready-requirements.txt), so a rollback's release is the
exact set it ran with.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from peakready import ROOT
from peakready.knobs import KnobError

CACHE = ROOT / ".peakready"
UV = str(Path(sys.executable).with_name("uv"))
INPUTS = ("pylock.toml", "uv.lock", "poetry.lock", "requirements.txt", "pyproject.toml")
RESOLVED = ".peakready-requirements.txt"  # in each release: what its virtualenv was made from
# What gunicorn needs to serve the app, by worker class (knob app_worker_class).
SERVER = {"uvicorn": ("gunicorn", "uvicorn-worker"), "sync": ("gunicorn",), "gthread": ("gunicorn",)}
RESOLVE_TIMEOUT_S = 300
BUILD_TIMEOUT_S = 1200
ARCH = {"amd64": "x86_64", "arm64": "aarch64"}
UV_NEWEST_GLIBC_MINOR = 40
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class Target:
    """The host the wheels are for."""
    python: str  # its python3's full version, e.g. 3.11.2 (markers such as python_full_version count)
    glibc: str  # e.g. 2.36
    arch: str  # Debian's name: amd64, arm64
    codename: str  # bookworm, trixie: the builder's release

    @property
    def machine(self) -> str:
        return ARCH.get(self.arch, self.arch)

    @property
    def uv_platform(self) -> str:
        # uv names manylinux tags up to 2.40 (Debian 13 has glibc 2.41): the newest it knows that
        # the host's glibc runs.
        minor = min(int(self.glibc.split(".")[1]), UV_NEWEST_GLIBC_MINOR)
        return f"{self.machine}-manylinux_2_{minor}"

    def pip_platforms(self) -> list[str]:
        newest = int(self.glibc.split(".")[1])
        return [f"manylinux2014_{self.machine}", *(f"manylinux_2_{n}_{self.machine}" for n in range(17, newest + 1))]

    def __str__(self) -> str:
        return f"Python {self.python} on {self.uv_platform} (Debian {self.codename})"


def declared(src: Path) -> Path | None:
    """The file the app declares its dependencies in, or None."""
    return next((src / name for name in INPUTS if (src / name).is_file()), None)


def lock_pins(lock: Path) -> list[str]:
    """A lock file's pins as requirement lines (its own markers kept)."""
    if lock.name == "uv.lock":
        res = run([UV, "export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-project", "--no-header",
                   "--no-annotate", "--format", "requirements-txt"], cwd=lock.parent, timeout=RESOLVE_TIMEOUT_S)
        if res.returncode != 0:
            raise KnobError(f"app_source: uv.lock cannot be read ({last_line(res.stderr)}): run `uv lock` and commit it.")
        return [line.strip() for line in res.stdout.splitlines() if line.strip() and not line.startswith(("#", "-"))]
    data = tomllib.loads(lock.read_text())
    if lock.name == "poetry.lock":
        # Poetry 2 records the groups each package is in; older locks a category.
        return [pin(p["name"], p["version"], p.get("markers")) for p in data.get("package", [])
                if "main" in p.get("groups", ["main"]) and p.get("category", "main") == "main"]
    return [pin(p["name"], p["version"], p.get("marker")) for p in data.get("packages", [])
            if "version" in p]  # pylock.toml (PEP 751)


def pin(name: str, version: str, marker) -> str:
    if isinstance(marker, dict):  # poetry.lock: a marker per group
        marker = marker.get("main")
    return f"{name}=={version}" + (f" ; {marker}" if marker else "")


def resolve(src: Path, target: Target, worker_class: str) -> str:
    """Every dependency of the app pinned for `target`, as requirements.txt text (cached)."""
    source = declared(src)
    if source is None:
        raise KnobError(f"app_source {src.name} declares no dependencies: add requirements.txt, or pyproject.toml "
                        f"(with uv.lock, poetry.lock or pylock.toml if you lock them).")
    server = "\n".join(SERVER[worker_class]) + "\n"
    lock = source.name in ("pylock.toml", "uv.lock", "poetry.lock")
    given = "\n".join(lock_pins(source)) + "\n" if lock else source.read_text()
    # A requirements file may include others (-r base.txt, -c constraints.txt): all of them count.
    around = "".join(f.name + f.read_text() for f in sorted(src.glob("*.txt")) + sorted(src.glob("*.in")))
    key = digest(source.name, given, around, server, str(target))
    out = CACHE / "resolved" / f"{key}.txt"
    if out.exists():
        return out.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = [Path(tmp, "locked.txt")] if lock else [source.resolve()]
        if lock:
            inputs[0].write_text(given)
        Path(tmp, "server.txt").write_text(server)
        res = run(
            [UV, "pip", "compile", "--quiet", "--no-header", "--no-annotate", "--python-version", target.python,
             "--python-platform", target.uv_platform, *map(str, inputs), str(Path(tmp, "server.txt")),
             "-o", str(Path(tmp, "out.txt"))],
            cwd=src, timeout=RESOLVE_TIMEOUT_S)
        if res.returncode != 0:
            raise KnobError(f"app_source: the dependencies in {source.name} cannot be resolved for {target} "
                            f"({uv_reason(res.stderr)}): fix or loosen them there.")
        text = Path(tmp, "out.txt").read_text()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def wheelhouse(resolved: str, target: Target, build_packages: list[str], builder_image: str) -> tuple[str, Path]:
    """(key, directory): a wheel for every pin of `resolved`, for `target` (cached by content)."""
    key = digest(resolved, str(target), *build_packages)
    out = CACHE / "wheels" / key
    if (out / ".complete").exists():
        return key, out
    pins = [line.split(";")[0].strip() for line in resolved.splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "-"))]
    out.mkdir(parents=True, exist_ok=True)
    # Two deploys at once (two hosts, two terminals) fill the same directory one after the other: the
    # second finds it complete.
    with open(out.with_name(f"{key}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / ".complete").exists():
            if not download(pins, target, out):
                sources = [p for p in pins if not download([p], target, out)]
                build(sources, target, build_packages, builder_image, out)
            (out / ".complete").write_text(key)
    return key, out


def download(pins: list[str], target: Target, out: Path) -> bool:
    """PyPI's wheels of `pins` for the target's platform into `out`; False if one has none."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--no-deps",
           "--python-version", target.python, "--implementation", "cp", "-d", str(out), *pins]
    for tag in target.pip_platforms():
        cmd += ["--platform", tag]
    return run(cmd, timeout=RESOLVE_TIMEOUT_S).returncode == 0


def build(pins: list[str], target: Target, build_packages: list[str], builder_image: str, out: Path) -> None:
    """Wheels of source-only pins: pure Python ones built here, the others in a builder of the host's
    Debian release."""
    with tempfile.TemporaryDirectory() as tmp:
        sdists, built = Path(tmp, "sdists"), Path(tmp, "built")
        sdists.mkdir()
        for p in pins:
            fetch_sdist(p, target, sdists)
        compiled = []
        for sdist in sorted(sdists.iterdir()):
            res = run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(built), str(sdist)],
                      timeout=BUILD_TIMEOUT_S)
            wheels = sorted(built.glob("*.whl"))
            if res.returncode == 0 and wheels and wheels[-1].name.endswith("-none-any.whl"):
                shutil.move(str(wheels[-1]), out / wheels[-1].name)
            else:
                compiled.append(sdist)
            for leftover in built.glob("*.whl"):
                leftover.unlink()
        if compiled:
            build_in_builder(compiled, target, build_packages, builder_image, out)


INDEX = "https://pypi.org/simple"


def fetch_sdist(pin_line: str, target: Target, dest: Path) -> Path:
    """The source distribution of `name==version` from the index (PEP 691's JSON), its sha256
    checked. Fetched as a file: pip download would prepare its metadata here first, which for a
    package that compiles fails without that package's build dependencies on this machine."""
    name, _, version = pin_line.partition("==")
    if not version:
        raise KnobError(f"app_source: {pin_line} has no wheel for {target}: pin it to a released version.")
    project = re.sub(r"[-_.]+", "-", name).lower()
    request = urllib.request.Request(f"{INDEX}/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=60, context=ssl_context()) as answer:
            files = json.load(answer)["files"]
    except (OSError, ValueError) as exc:  # urllib's errors are OSErrors
        raise KnobError(f"app_source: {pin_line} has no wheel for {target}, and its source could not be fetched "
                        f"from {INDEX} ({exc}).") from None
    stem = re.compile(rf"{re.sub(r'[-_.]+', '[-_.]', name)}-{re.escape(version)}\.(tar\.gz|zip)$", re.I)
    found = [f for f in files if stem.match(f["filename"]) and not f.get("yanked")]
    if not found:
        raise KnobError(f"app_source: {pin_line} has no wheel for {target} and no source distribution to build one "
                        "from: pin a version that has either.")
    chosen = sorted(found, key=lambda f: not f["filename"].endswith(".tar.gz"))[0]
    try:
        with urllib.request.urlopen(chosen["url"], timeout=300, context=ssl_context()) as answer:
            body = answer.read()
    except OSError as exc:
        raise KnobError(f"app_source: {chosen['filename']} could not be downloaded ({exc}): run the deploy again.") from None
    if "sha256" in chosen.get("hashes", {}) and hashlib.sha256(body).hexdigest() != chosen["hashes"]["sha256"]:
        raise KnobError(f"app_source: {chosen['filename']} from the index does not match its sha256: try again.")
    path = dest / chosen["filename"]
    path.write_bytes(body)
    return path


def ssl_context() -> ssl.SSLContext:
    """The system's trust store (where pip's is configured: a proxy's CA lands there too)."""
    return ssl.create_default_context(cafile=CA_BUNDLE if Path(CA_BUNDLE).is_file() else None)


def build_in_builder(sdists: list[Path], target: Target, build_packages: list[str], builder_image: str,
                     out: Path) -> None:
    """Compiled wheels, built in a throwaway container of the host's Debian release and Python
    (app_builder_image, {codename} the host's): its tool chain never reaches the host."""
    what = ", ".join(s.name for s in sdists)
    if target.machine != platform.machine():
        raise KnobError(f"app_source: {what} compiles code and the host is {target.machine}, this machine "
                        f"{platform.machine()}: deploy from a machine of the host's architecture, or pin versions "
                        "with wheels for it.")
    if shutil.which("docker") is None or run(["docker", "info"], timeout=60).returncode != 0:
        raise KnobError(f"app_source: {what} compiles code, built in a Docker container of the host's Debian release, "
                        "and no Docker engine answers on this machine: start one (or pin versions with wheels).")
    image = builder_image.format(codename=target.codename)
    names = " ".join(f"/in/{s.name}" for s in sdists)
    script = (
        "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; "
        f"apt-get install -y -qq --no-install-recommends build-essential python3-dev python3-venv "
        f"{' '.join(build_packages)} >/dev/null; python3 -m venv /b; /b/bin/pip install --quiet --upgrade pip; "
        f"/b/bin/pip wheel --quiet --no-deps -w /out {names}; chown -R {os_ids()} /out")
    # The builder trusts the certificate authorities this machine trusts (a proxy's own CA included),
    # for the build requirements pip fetches from PyPI.
    ca = next((Path(p) for p in (ssl.get_default_verify_paths().cafile or "", CA_BUNDLE) if p and Path(p).is_file()),
              None)
    trust = ["-v", f"{ca}:/etc/peakready-ca.crt:ro", "-e", "PIP_CERT=/etc/peakready-ca.crt"] if ca else []
    with tempfile.TemporaryDirectory() as tmp:
        for s in sdists:
            shutil.copy(s, tmp)
        res = run(["docker", "run", "--rm", "-v", f"{tmp}:/in:ro", "-v", f"{out}:/out", *trust,
                   "--entrypoint", "sh", image, "-c", script], timeout=BUILD_TIMEOUT_S)
    if res.returncode != 0:
        errors = [line.strip() for line in res.stderr.splitlines() if re.search(r"error", line, re.I)]
        raise KnobError(f"app_source: {', '.join(s.name for s in sdists)} could not be built for {target} "
                        f"({(errors or [last_line(res.stderr)])[0][:300]}): add the Debian packages its build needs "
                        "to app_build_packages.")


def run(argv: list[str], timeout: int, cwd=None) -> subprocess.CompletedProcess:
    """A tool of the build, bounded in time; running out of it is a refusal like any other."""
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise KnobError(f"app_source: `{' '.join(argv[:3])} ...` did not finish in {timeout} s: check this machine's "
                        "network to the package index, then run the deploy again.") from None


def os_ids() -> str:
    return f"{os.getuid()}:{os.getgid()}"


def digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def uv_reason(stderr: str) -> str:
    """uv's explanation, on one line."""
    lines = [re.sub(r"^[\s×╰─▶]+", "", line).strip() for line in stderr.splitlines()]
    return "; ".join(line for line in lines if line and not line.startswith("hint:"))[:400] or "no output"
