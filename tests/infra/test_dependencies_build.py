"""A pure-Python dependency published as source only is built into a wheel on this machine (no
builder container), for the host's Python; one that compiles code goes to the builder (shown by
tests/infra/test_user_apps.py: isso's misaka, Wagtail's mysqlclient). Needs PyPI, not a VPS."""

from peakready import dependencies
from peakready.dependencies import Target


def test_a_pure_python_source_only_dependency_is_built_here(tmp_path, monkeypatch):
    monkeypatch.setattr(dependencies, "CACHE", tmp_path)
    monkeypatch.setattr(dependencies, "build_in_builder", lambda *a: (_ for _ in ()).throw(
        AssertionError("a pure-Python package went to the builder")))
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "requirements.txt").write_text("docopt==0.6.2\n")  # only ever published as an sdist
    target = Target("3.11.2", "2.36", "amd64", "bookworm")
    resolved = dependencies.resolve(tmp_path / "app", target, "sync")
    assert "docopt==0.6.2" in resolved and "gunicorn==" in resolved
    _, wheels = dependencies.wheelhouse(resolved, target, [], "debian:{codename}")
    names = sorted(p.name for p in wheels.glob("*.whl"))
    assert any(n.startswith("docopt-0.6.2-") and n.endswith("-none-any.whl") for n in names), names
    assert any(n.startswith("gunicorn-") for n in names), names


def test_a_pyproject_without_a_lock_is_resolved_for_the_host(tmp_path, monkeypatch):
    """PEP 621 dependencies, ranges included, pinned for the host's Python (bookworm's 3.11.2: a
    marker on the full version counts)."""
    monkeypatch.setattr(dependencies, "CACHE", tmp_path)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "1"\ndependencies = ["flask>=3,<4", '
        '"async-timeout==5.0.1; python_full_version < \'3.11.3\'"]\n')
    resolved = dependencies.resolve(tmp_path / "app", Target("3.11.2", "2.36", "amd64", "bookworm"), "gthread")
    pins = dict(line.split("==") for line in resolved.splitlines() if "==" in line)
    assert pins["flask"].startswith("3.") and "werkzeug" in pins and "gunicorn" in pins
    assert "async-timeout" in pins, "the host's Python is 3.11.2, not this machine's"
    newer = dependencies.resolve(tmp_path / "app", Target("3.13.5", "2.41", "amd64", "trixie"), "gthread")
    assert "async-timeout" not in newer
