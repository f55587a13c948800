"""Render the stack's Jinja2 templates (templates/<service>/...).

StrictUndefined: a template that names a value the role did not hand it fails while the deploy is
still collecting operations, before anything on the host has changed.
"""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from peakready import ROOT

_env = Environment(
    loader=FileSystemLoader(str(ROOT / "templates")),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


def render(template: str, **data) -> str:
    """Render templates/<template> with `data`, e.g. render("base/sysctl.conf.j2", sysctls={...})."""
    return _env.get_template(template).render(**data)
