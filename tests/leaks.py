"""Search for secrets where they must never be: text (pyinfra's output), the repository, and inside a
VPS the output of a command (the journal) and the world-readable files. Every search answers with
secret NAMES and places, never a value, so a failing test prints nothing it should not.

Each secret is looked for as it is and as it appears in a URL (percent-encoded), the two forms the
stack writes it in. Inside a VPS the values reach the search through a 0600 file written from stdin
(never a command line) and removed afterwards; the search itself runs there (python3) and answers
with the index of each value it found.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

# Never walked in the repository: git's own objects (compressed; the history is searched through
# `git log -p` instead), and the git-ignored local state that holds the secrets on purpose
# (.peakready/secrets) and the virtualenv.
REPO_SKIP = {".git", ".peakready", ".venv"}


class Redacted(dict):
    """Secrets by name. Its repr names them and hides the values: pytest prints the arguments of
    every function in a failure's traceback (fixtures included), so secrets handed around as plain
    dicts end up in the test output, and CI's log, the first time an assertion fails."""

    def __repr__(self) -> str:
        return f"Redacted({', '.join(sorted(self))})"


class Hidden(str):
    """One secret value whose repr hides it (see Redacted)."""

    def __repr__(self) -> str:
        return "Hidden(...)"


def redacted(secrets: dict[str, str]) -> Redacted:
    if not isinstance(secrets, Redacted):
        raise TypeError("pass secrets as tests.leaks.Redacted, so that no failure can print them")
    return secrets


def needles(secrets: Redacted) -> dict[str, str]:
    """{form to look for: secret name}: each value, and its percent-encoded form when it differs."""
    found: dict[str, str] = {}
    for name, value in redacted(secrets).items():
        if len(value) < 8 or "\n" in value:
            raise ValueError(f"secret {name} cannot be searched for without false hits")
        found[value] = name
        found.setdefault(quote(value, safe=""), name)
    return found


def in_text(text: str | bytes, secrets: Redacted) -> set[str]:
    """Names of the secrets that occur in `text`."""
    data = text.encode() if isinstance(text, str) else text
    return {name for needle, name in needles(secrets).items() if needle.encode() in data}


def in_repo(root: Path, secrets: Redacted) -> dict[str, set[str]]:
    """{secret name: places}: tracked files (`git ls-files`, as they are in the working tree), the
    history of every branch (`git log -p --all`), and every file of the working tree but REPO_SKIP."""
    hits: dict[str, set[str]] = {}

    def git(*args: str) -> bytes:
        res = subprocess.run(["git", *args], cwd=root, capture_output=True)
        if res.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {res.stderr.decode(errors='replace').strip()}")
        return res.stdout

    tracked = [p for p in git("ls-files", "-z").decode().split("\0") if p]
    assert tracked, "git ls-files listed nothing: not a repository?"
    for path in tracked:
        file = root / path
        if file.is_file() and not file.is_symlink():
            for name in in_text(file.read_bytes(), secrets):
                hits.setdefault(name, set()).add(f"{path} (tracked)")
    for name in in_text(git("log", "--all", "-p", "--format=%H %s"), secrets):
        hits.setdefault(name, set()).add("git history")
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        dirs[:] = [d for d in dirs if d != ".git" and not (here == root and d in REPO_SKIP)]
        for file in files:
            path = here / file
            if path.is_file() and not path.is_symlink():
                for name in in_text(path.read_bytes(), secrets):
                    hits.setdefault(name, set()).add(str(path.relative_to(root)))
    return hits


# Runs inside the VPS: argv = patterns file, then "output" COMMAND or "files" ROOT...; prints JSON
# {"hits": {index of the value: [places]}, "searched": files or bytes}, or {"error": ...}.
SEARCH = r'''
import json, os, stat, subprocess, sys
values = [v.encode() for v in open(sys.argv[1]).read().split("\n") if v]
hits = {}
def look(data, place):
    for i, value in enumerate(values):
        if value in data:
            hits.setdefault(i, []).append(place)
if sys.argv[2] == "output":
    res = subprocess.run(["sh", "-c", sys.argv[3]], capture_output=True)
    if res.returncode != 0:
        print(json.dumps({"error": res.stderr.decode(errors="replace")[-300:]}))
        sys.exit(0)
    look(res.stdout, "output")
    searched = len(res.stdout)
else:
    # find ROOT... -xdev -type f -perm -o+r: regular files others may read, on each root's filesystem.
    searched = 0
    for root in sys.argv[3:]:
        if not os.path.isdir(root):
            continue
        device = os.lstat(root).st_dev
        for directory, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if os.lstat(os.path.join(directory, d)).st_dev == device]
            for name in files:
                path = os.path.join(directory, name)
                try:
                    st = os.lstat(path)
                    if not stat.S_ISREG(st.st_mode) or not st.st_mode & stat.S_IROTH:
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                except FileNotFoundError:  # gone since the listing (a log rotated, a temp file)
                    continue
                searched += 1
                look(data, path)
print(json.dumps({"hits": hits, "searched": searched}))
'''


class Vps:
    """Searches inside a container (docker exec); secret values pass through stdin only."""

    PATTERNS = "/root/.peakready-leak-patterns"

    def __init__(self, container: str):
        self.container = container

    def _exec(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", "-i", self.container, *args], input=stdin,
                              capture_output=True, text=True, timeout=600)

    def _search(self, secrets: Redacted, *args: str) -> tuple[dict[str, set[str]], int]:
        wanted = list(needles(secrets).items())
        res = self._exec(["sh", "-c", f"umask 077; cat > {self.PATTERNS}"], "".join(f"{n}\n" for n, _ in wanted))
        assert res.returncode == 0, res.stderr
        try:
            res = self._exec(["python3", "-c", SEARCH, self.PATTERNS, *args])
        finally:
            self._exec(["rm", "-f", self.PATTERNS])
        assert res.returncode == 0, res.stderr[-500:]
        answer = json.loads(res.stdout)
        assert "error" not in answer, f"the search failed in the VPS: {answer['error']}"
        hits: dict[str, set[str]] = {}
        for index, places in answer["hits"].items():
            hits.setdefault(wanted[int(index)][1], set()).update(places)
        return hits, answer["searched"]

    def in_output(self, command: str, secrets: Redacted) -> tuple[set[str], int]:
        """(names of the secrets in what `command` prints in the VPS, bytes searched)."""
        hits, searched = self._search(secrets, "output", command)
        return set(hits), searched

    def in_world_readable_files(self, roots: list[str], secrets: Redacted) -> tuple[dict[str, set[str]], int]:
        """({secret name: files}, files searched): regular files anyone may read under `roots`,
        each root's filesystem only (find ROOTS -xdev -type f -perm -o+r)."""
        return self._search(secrets, "files", *roots)
