"""The sample app is an example: it deploys through the knobs any app sets (group_data/sample_app.py),
and nothing in the bundle's roles or templates knows it: not its module, its routes, its variables."""

from __future__ import annotations

import re
from pathlib import Path

from peakready import ROOT
from tests import sample_app

# What only the sample app has: its package, its API's paths and nouns, its own variables.
ITS_OWN = re.compile(r"peakready_app\.|\b[Ss]ample\b|sample_app|/api/|\b[Oo]utlets?\b|\b[Mm]enu\b|\b[Bb]ooking|"
                     r"ADMIN_TOKEN|CACHE_TTL|\bCACHE\b|Content-Security-Policy \"default-src")
BUNDLE = ("peakready/roles", "templates")


def mentions(text: str) -> list[str]:
    return sorted({m.group(0) for m in ITS_OWN.finditer(text)})


def test_no_role_or_template_knows_the_sample_app():
    found = {str(path.relative_to(ROOT)): hits for folder in BUNDLE for path in sorted((ROOT / folder).rglob("*"))
             if path.is_file() and path.suffix in (".py", ".j2") and (hits := mentions(path.read_text()))}
    assert found == {}, f"the bundle knows the sample app: {found}"


def test_the_check_would_see_a_role_that_knows_it():
    """The control: the branches this replaced (the role guessed the app from its module; the site
    template had its routes and CSP)."""
    assert mentions('return data.app_module.startswith("peakready_app.")') == ["peakready_app."]
    assert mentions("location ~ ^/api/v1/(outlets|menu)$ {") == ["/api/", "menu", "outlets"]
    assert mentions("{% if sample_app %}\nCACHE_TTL_MENU_S='{{ ttl.menu }}'") == ["CACHE_TTL", "menu", "sample_app"]


def test_its_settings_are_knobs_any_app_sets():
    """Every line of its settings file is a knob of the schema, the same on every host (group- or
    plan-scoped): what a team's own settings file holds for its app."""
    from peakready.knobs import KNOBS

    assert sample_app.SETTINGS, "group_data/sample_app.py sets nothing"
    scopes = {name: KNOBS[name].scope if name in KNOBS else "not a knob" for name in sample_app.SETTINGS}
    assert {name: scope for name, scope in scopes.items() if scope not in ("group", "plan")} == {}
    assert Path(ROOT / sample_app.SETTINGS["app_source"] / "peakready_app").is_dir()
