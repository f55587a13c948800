"""The errors peakready raises for what a user can fix: each message is one sentence naming what to set."""

from pyinfra.api.exceptions import PyinfraError


class KnobError(PyinfraError):
    """A knob has a value peakready cannot use; the message names it and says what to set."""


class PlanError(KnobError):
    """The knobs and the inventory ask for a stack that does not fit; the message names what to change."""
