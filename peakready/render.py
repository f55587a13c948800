"""Render the stack's Jinja2 templates (templates/<service>/...).

StrictUndefined: a template that names a value the role did not hand it fails its operation before
anything is uploaded, instead of writing an empty value into a live config.
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
