"""peakready's own operations (peakready/ops.py), tested as pyinfra tests its operations: each JSON
file under fixtures/ops/<operation>/ gives the arguments, the facts the host answers and the
commands the operation must yield (or the no-op it must report).

Facts: {"File": {path: {"mode", "user", "group"} or null}, "Sha1File": {path: sha1 or "rendered"}};
"rendered" stands for the SHA-1 of what the operation renders, so a fixture says "the same content"
without repeating a template's text. A file upload is written "upload <remote path>".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pyinfra.api import FileUploadCommand, StringCommand

from peakready import ops
from peakready.render import render

FIXTURES = Path(__file__).with_name("fixtures") / "ops"
CASES = sorted(FIXTURES.glob("*/*.json"))


class FakeHost:
    """Answers facts from the fixture and records what the operation reports."""

    def __init__(self, facts: dict, rendered: dict[str, str]):
        self.facts, self.rendered, self.noops = facts, rendered, []

    def get_fact(self, fact, path: str | None = None, **_kw):
        answers = self.facts.get(fact.__name__, {})
        value = answers.get(path)
        if fact.__name__ == "Sha1File" and value == "rendered":
            return hashlib.sha1(self.rendered[path].encode()).hexdigest()
        return value

    def get_temp_filename(self, path: str) -> str:
        return f"/tmp/pyinfra-{hashlib.sha1(path.encode()).hexdigest()[:8]}"

    def noop(self, message: str) -> None:
        self.noops.append(message)


def rendered_files(name: str, args: dict) -> dict[str, str]:
    """What each file of the operation renders to, by destination."""
    if name == "config_file":
        extra = {k: v for k, v in args.items() if k not in ("template", "dest", "check", "mode", "user", "group",
                                                             "keep_last_good", "keep_if")}
        return {args["dest"]: render(args["template"], **extra)}
    if name == "config_set":
        return {f["dest"]: render(f["template"], **f.get("data", {})) for f in args["files"]}
    return {}


def as_text(command) -> str:
    if isinstance(command, FileUploadCommand):
        return f"upload {command.dest}"
    if isinstance(command, StringCommand):
        return str(command)
    return command


@pytest.mark.parametrize("fixture", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_operation_yields_what_the_fixture_says(fixture, monkeypatch):
    case = json.loads(fixture.read_text())
    name = fixture.parent.name
    fake = FakeHost(case["facts"], rendered_files(name, case["args"]))
    monkeypatch.setattr(ops, "host", fake)
    commands = [as_text(c) for c in getattr(ops, name)._inner(**case["args"])]
    assert commands == case["commands"]
    assert fake.noops == ([case["noop"]] if "noop" in case else [])


def test_every_custom_config_operation_has_fixtures():
    assert {p.parent.name for p in CASES} >= {"config_file", "config_set", "restart_or_roll_back"}


def test_a_fixture_that_lies_fails(monkeypatch):
    """The control: the harness does compare (a fixture expecting nothing of a new file fails)."""
    case = json.loads((FIXTURES / "config_file" / "new_file.json").read_text())
    fake = FakeHost(case["facts"], rendered_files("config_file", case["args"]))
    monkeypatch.setattr(ops, "host", fake)
    assert [as_text(c) for c in ops.config_file._inner(**case["args"])] != []


class Op:
    def __init__(self, changed: bool):
        self.changed = changed

    def did_change(self) -> bool:
        return self.changed


@pytest.mark.parametrize("changed,started,restarted,expected", [
    ((True, False), False, False, True),   # a config changed: reload
    ((False, False), False, False, False),  # nothing changed
    ((True, True), True, False, False),    # just started: it runs what is new already
    ((True, False), False, True, False),   # restarted: a reload is needless
])
def test_when_changed_is_one_of_changed_and_none_of_unless(changed, started, restarted, expected):
    condition = ops.when_changed(*(Op(c) for c in changed), unless=[Op(started), lambda: restarted])
    assert condition() is expected
