"""The bundle's imports point one way: no module of peakready/ imports, directly or through others, a
module that imports it back, and the bundle never reaches into its test harness (targets/, tests/,
bench/) nor edits sys.path. Every import counts, at the top or inside a function, and importing
peakready.roles.x runs peakready/roles/__init__.py first, so that counts too."""

import ast
from pathlib import Path

from peakready import ROOT

PACKAGE = ROOT / "peakready"
HARNESS = ("targets", "tests", "bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(path: Path) -> set[str]:
    """Every module `path` imports, with the packages whose __init__ that import runs."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            # `from peakready import topology`: a module of the package, not a name of its __init__.
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    out = set()
    for name in names:
        parts = name.split(".")
        out |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return out


def ancestors(name: str) -> set[str]:
    """The packages a module lives in: initialised before it whatever it imports (no dependency of its choosing)."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


GRAPH = {name: {m for m in imported(path) if m in MODULES and m != name and m not in ancestors(name)}
         for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_of_the_bundle_imports_itself_back():
    assert cycles(GRAPH) == []


def test_the_cycle_finder_sees_a_cycle():
    """The control: a cycle through three modules, and one through a package's __init__, are found."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    graph = {k: set(v) for k, v in GRAPH.items()}
    # What a fact reading a role's table would do: `from peakready.roles.app import X` runs
    # peakready/roles/__init__.py, which imports the pre-flight, which imports the facts.
    graph["peakready.facts"] |= {"peakready.roles", "peakready.roles.app"}
    assert any("peakready.roles" in c and "peakready.facts" in c for c in cycles(graph))


def test_the_bundle_never_imports_its_harness_nor_edits_sys_path():
    for path in MODULES.values():
        harness = sorted(m for m in imported(path) if m.split(".")[0] in HARNESS)
        assert not harness, f"{path.relative_to(ROOT)} imports {harness}"
        assert "sys.path" not in path.read_text(), f"{path.relative_to(ROOT)} edits sys.path"


def test_facts_depend_only_on_pyinfra_and_what_they_query():
    """A fact reads the host; it may know the queries it asks (peakready.monitoring, plain data over
    the table of services) but nothing that runs a deploy."""
    data = {"peakready", "peakready.services"}
    facts = {name for name in MODULES if name == "peakready.facts" or name.startswith("peakready.facts.")}
    assert len(facts) > 1, "peakready.facts is a package of modules"
    for name in facts:
        assert GRAPH[name] <= facts | data | {"peakready.monitoring"}, (name, GRAPH[name])
    assert GRAPH["peakready.monitoring"] <= data and GRAPH["peakready.services"] == set()
