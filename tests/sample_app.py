"""The sample app's settings (group_data/sample_app.py), as pyinfra reads a group_data file: its
public names. The tests that render or check what the sample app is deployed with lay these over
the defaults, as the local inventories' sample_app group does."""

from __future__ import annotations

import runpy

from peakready import ROOT, knobs

SETTINGS: dict = {k: v for k, v in runpy.run_path(str(ROOT / "group_data" / "sample_app.py")).items()
                  if not k.startswith("_")}


def data() -> dict:
    """Every knob as a host of the sample_app group has it."""
    return {**knobs.defaults(), **SETTINGS}
