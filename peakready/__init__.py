"""peakready: a Debian VPS that survives a traffic spike, provisioned with pyinfra."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
