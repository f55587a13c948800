"""The README's production quickstart as the walk (tests/infra/test_readme.py) reads it: its
commands, and the settings file they write, which the pre-flight must accept as they stand."""

import subprocess

import pytest

from peakready import validate
from tests import readme
from tests.unit.test_team_settings import TEAM_FILE, prod_inventory


def test_the_quickstart_writes_the_teams_settings_deploys_through_prod_py_and_asks_for_the_site():
    blocks = readme.quickstart()
    script = "\n".join(blocks)
    assert f"cat > {TEAM_FILE}" in script
    deploys = [b for b in blocks if ".venv/bin/pyinfra inventories/prod.py deploy.py" in b]
    assert len(deploys) == 1 and readme.DOC_ADDRESS in deploys[0]
    after = blocks[blocks.index(deploys[0]) + 1:]
    assert after and readme.DOC_ADDRESS in after[-1] and "curl" in after[-1], "the walk checks the site with the README's own command"


def test_code_blocks_are_the_indented_ones_after_a_blank_line():
    markdown = "## A\n\nText\n    not a block: no blank line before\n\n    one\n    two\n\n    two still\n\nprose\n\n    three\n"
    assert readme.code_blocks(markdown) == ["one\ntwo\n\ntwo still\n", "three\n"]


def test_a_readme_without_the_section_is_an_error(tmp_path):
    (tmp_path / "README.md").write_text("# peakready\n\n## Something else\n\n    make up\n")
    with pytest.raises(ValueError, match="no section '## Real servers"):
        readme.quickstart(tmp_path / "README.md")
    (tmp_path / "README.md").write_text(f"## {readme.QUICKSTART}\n\nJust prose.\n")
    with pytest.raises(ValueError, match="no indented command block"):
        readme.quickstart(tmp_path / "README.md")


def test_the_settings_the_readme_writes_pass_the_pre_flight(tmp_path, monkeypatch):
    """Its settings block run as written, then the inventory loaded with that file: the knobs are
    accepted, the app (apps/shop) found, and the server is one that serves its site."""
    writes = next(b for b in readme.quickstart() if f"cat > {TEAM_FILE}" in b)
    subprocess.run(["bash", "-euo", "pipefail", "-c", writes], cwd=tmp_path, check=True, timeout=30)
    settings = (tmp_path / TEAM_FILE).read_text()
    loaded = prod_inventory(tmp_path / "inventory", monkeypatch, settings)
    knobs = validate.inputs("vps.example.org", loaded["groups"], loaded["data"])
    assert knobs["app_source"] == "apps/shop"
    validate.public_server(knobs, "vps.example.org", TEAM_FILE)
