"""Polling with a bound, for the suites that wait on a live host (tests/infra, tests/multi)."""

import time


def wait_until(check, seconds: float = 8.0) -> bool:
    """True once check() is true, polled every 0.5 s; False after `seconds` without it."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True
