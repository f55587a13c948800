# peakready's defaults for every host, from its schema (peakready/schema/: every knob, what it does,
# what a valid value is). This file belongs to peakready: your settings go in a file of your own,
# inventories/group_data/<inventory>.py (e.g. inventories/group_data/prod.py for inventories/prod.py),
# which pyinfra lays over these defaults and the pre-flight checks the same way.
from peakready.knobs import defaults as _defaults

globals().update(_defaults())
