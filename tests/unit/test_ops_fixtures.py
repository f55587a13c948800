"""peakready's own operations (every @operation in peakready/), tested as pyinfra tests its
operations: each JSON file under fixtures/ops/<operation>/ gives the arguments, the facts the host
answers and the commands the operation must yield (or the no-op it must report, or the error it
must raise).

Facts, by class name: a fact asked with a path answers from {path: value} ({"File": {path: {"mode",
"user", "group"} or null}, "Sha1File": {path: sha1 or "rendered"}}); one asked with another argument
answers from {that argument's value: value} ({"Command": {command: output}}); one asked with none
is its value. "rendered" stands for the SHA-1 of what the operation renders, so a fixture says "the
same content" without repeating a template's text. A file upload is written "upload <remote path>".

Arguments that are objects: "data" is the sample app's deploy (the defaults and its settings) with
the fixture's values over it, "secrets" a Secrets whose every value is "<name>-0123456789abcdef",
"tarball" bytes of its text, and "d" (ProxySQL's wanted state) the one of a 2-core host with the
fixture's replicas (both as tests/unit/test_proxysql_role.py makes them).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from pyinfra.api import FileUploadCommand, StringCommand
from pyinfra.api.exceptions import OperationError

import peakready
from peakready import ops
from peakready.render import render
from tests import sample_app
from tests.unit.test_proxysql_role import FakeSecrets, want

FIXTURES = Path(__file__).with_name("fixtures") / "ops"
CASES = sorted(FIXTURES.glob("*/*.json"))


def custom_operations() -> dict[str, ModuleType]:
    """Every @operation of the bundle (pyinfra's @deploy functions excluded): name -> its module."""
    found = {}
    for info in pkgutil.walk_packages(peakready.__path__, "peakready."):
        if info.name.endswith(".__main__"):
            continue  # a command line, run when imported
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            inner = getattr(obj, "_inner", None)
            if inner is not None and inner.__module__ == module.__name__ and not hasattr(inner, "deploy_name"):
                found[name] = module
    return found


OPERATIONS = custom_operations()


class FakeHost:
    """Answers facts from the fixture and records what the operation reports."""

    name = "vps"

    def __init__(self, facts: dict, rendered: dict[str, str]):
        self.facts, self.rendered, self.noops = facts, rendered, []

    def get_fact(self, fact, path: str | None = None, **kw):
        answers = self.facts.get(fact.__name__)
        if path is None and not kw:
            return answers
        asked = path if path is not None else next(iter(kw.values()))
        key = ",".join(map(str, asked)) if isinstance(asked, list) else str(asked)
        value = (answers or {}).get(key)
        if fact.__name__ == "Sha1File" and value == "rendered":
            return hashlib.sha1(self.rendered[path].encode()).hexdigest()
        return value

    def get_temp_filename(self, path: str) -> str:
        return f"/tmp/pyinfra-{hashlib.sha1(path.encode()).hexdigest()[:8]}"

    def noop(self, message: str) -> None:
        self.noops.append(message)


def arguments(args: dict) -> dict:
    """The fixture's arguments, with the objects the operation takes made from them."""
    out = dict(args)
    if "data" in out:
        out["data"] = SimpleNamespace(**{**sample_app.data(), **out["data"]})  # over the sample app's deploy
    if "secrets" in out:
        out["secrets"] = FakeSecrets()
    if "tarball" in out:
        out["tarball"] = out["tarball"].encode()
    if "d" in out:
        out["d"] = want(out["d"]["readers"])
    return out


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


def run(name: str, case: dict, monkeypatch) -> tuple[list[str], FakeHost]:
    module = OPERATIONS[name]
    fake = FakeHost(case["facts"], rendered_files(name, case["args"]))
    monkeypatch.setattr(module, "host", fake)
    return [as_text(c) for c in getattr(module, name)._inner(**arguments(case["args"]))], fake


@pytest.mark.parametrize("fixture", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_operation_yields_what_the_fixture_says(fixture, monkeypatch):
    case = json.loads(fixture.read_text())
    if "error" in case:
        with pytest.raises(OperationError, match=case["error"]):
            run(fixture.parent.name, case, monkeypatch)
        return
    commands, fake = run(fixture.parent.name, case, monkeypatch)
    assert commands == case["commands"]
    assert fake.noops == ([case["noop"]] if "noop" in case else [])


# Operations whose nothing-to-do case needs a fact too large to write by hand: built from the wanted
# state in these tests instead.
NO_OP_ELSEWHERE = {"accounts": "tests/unit/test_data_roles.py", "runtime": "tests/unit/test_proxysql_role.py"}


def test_every_custom_operation_has_fixtures_a_change_and_a_no_op_where_it_has_one():
    assert len(OPERATIONS) >= 15, sorted(OPERATIONS)
    assert {p.parent.name for p in CASES} == set(OPERATIONS), (
        f"without fixtures: {sorted(set(OPERATIONS) - {p.parent.name for p in CASES})}")
    for name in OPERATIONS:
        cases = [json.loads(p.read_text()) for p in CASES if p.parent.name == name]
        assert any(c.get("commands") for c in cases), f"{name}: no fixture where it changes something"
        body = Path(OPERATIONS[name].__file__).read_text().split(f"def {name}(", 1)[1].split("\n@", 1)[0]
        if "host.noop(" in body and name not in NO_OP_ELSEWHERE:
            assert any("noop" in c for c in cases), f"{name}: no fixture where it has nothing to do"


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
