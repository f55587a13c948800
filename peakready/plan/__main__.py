import sys

from peakready.plan.cli import main

sys.exit(main())
