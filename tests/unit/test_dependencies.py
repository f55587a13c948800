"""The app's dependencies and release checks without a host: which file declares them, a lock's
pins, the host's platform tags, and the knobs checked against the app's code and wheels."""

import textwrap
import zipfile
from pathlib import Path

import pytest

from peakready import validate
from peakready.dependencies import Target, declared, lock_pins
from peakready.knobs import KnobError

BOOKWORM = Target("3.11.2", "2.36", "amd64", "bookworm")


def test_a_lock_file_wins_over_requirements_and_pyproject(tmp_path):
    assert declared(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert declared(tmp_path).name == "pyproject.toml"
    (tmp_path / "requirements.txt").write_text("flask\n")
    assert declared(tmp_path).name == "requirements.txt"
    (tmp_path / "poetry.lock").write_text("")
    assert declared(tmp_path).name == "poetry.lock"


def test_poetry_lock_pins_the_main_group_with_its_markers(tmp_path):
    lock = tmp_path / "poetry.lock"
    lock.write_text(textwrap.dedent("""\
        [[package]]
        name = "flask"
        version = "3.1.3"
        groups = ["main"]

        [[package]]
        name = "colorama"
        version = "0.4.6"
        groups = ["main"]
        markers = "platform_system == \\"Windows\\""

        [[package]]
        name = "pytest"
        version = "9.2.0"
        groups = ["dev"]
        """))
    assert lock_pins(lock) == ["flask==3.1.3", 'colorama==0.4.6 ; platform_system == "Windows"']


def test_pylock_pins_its_packages(tmp_path):
    lock = tmp_path / "pylock.toml"
    lock.write_text(textwrap.dedent("""\
        lock-version = "1.0"
        created-by = "pip"

        [[packages]]
        name = "starlette"
        version = "1.10.0"

        [[packages]]
        name = "uvloop"
        version = "0.23.0"
        marker = "sys_platform != 'win32'"
        """))
    assert lock_pins(lock) == ["starlette==1.10.0", "uvloop==0.23.0 ; sys_platform != 'win32'"]


def test_the_host_platform_tags_stop_at_its_glibc():
    assert BOOKWORM.uv_platform == "x86_64-manylinux_2_36"
    tags = BOOKWORM.pip_platforms()
    assert tags[0] == "manylinux2014_x86_64" and tags[-1] == "manylinux_2_36_x86_64"
    assert "manylinux_2_39_x86_64" not in tags
    trixie = Target("3.13.5", "2.41", "arm64", "trixie")
    assert trixie.uv_platform == "aarch64-manylinux_2_40", "the newest tag uv knows, which glibc 2.41 runs"
    assert trixie.pip_platforms()[-1] == "manylinux_2_41_aarch64"


def wheel(directory: Path, name: str, files: dict[str, str]) -> None:
    directory.mkdir(exist_ok=True)
    with zipfile.ZipFile(directory / name, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)


@pytest.fixture
def app(tmp_path):
    """An app whose module is in a package (as isso's is), with alembic among its wheels."""
    src, wheels = tmp_path / "src", tmp_path / "wheels"
    src.mkdir()
    (src / "requirements.txt").write_text("isso\n")
    (src / "manage.py").write_text("")
    wheel(wheels, "isso-1.0-py3-none-any.whl", {"isso/__init__.py": "", "isso/run.py": "application = make()\n"})
    wheel(wheels, "alembic-1.0-py3-none-any.whl", {
        "alembic/__init__.py": "",
        "alembic-1.0.dist-info/entry_points.txt": "[console_scripts]\nalembic = alembic.config:main\n"})
    data = {"app_module": "isso.run:application", "app_migrate_module": "", "app_migrate_command": "",
            "app_static_command": "", "app_static_dir": ""}
    return src, wheels, data


def test_an_app_that_is_where_its_knobs_say_passes(app):
    src, wheels, data = app
    validate.app_release(src, data, wheels)
    for command in ("alembic upgrade head", "python manage.py migrate --noinput", "python -m isso.run"):
        validate.app_release(src, {**data, "app_migrate_command": command}, wheels)


@pytest.mark.parametrize("change,words", [
    ({"app_module": "isso.wsgi:application"}, "no module isso.wsgi"),
    ({"app_module": "isso.run:app"}, "defines no app"),
    ({"app_migrate_command": "flask db upgrade"}, "no package of the app installs a flask command"),
    ({"app_migrate_command": "python scripts/migrate.py"}, "app_source has no scripts/migrate.py"),
    ({"app_static_command": "python -m nowhere.collect"}, "no module nowhere.collect"),
    ({"app_static_dir": "static"}, "app_source has no such directory"),
    ({"app_migrate_module": "isso.migrate"}, "knob app_migrate_module"),
])
def test_an_app_not_where_its_knobs_say_is_refused_naming_the_knob(app, change, words):
    src, wheels, data = app
    with pytest.raises(KnobError, match=words) as err:
        validate.app_release(src, {**data, **change}, wheels)
    assert str(err.value).startswith(f"knob {next(iter(change))}")
