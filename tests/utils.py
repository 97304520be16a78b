"""Test helpers shared by every test module.

One timeout unit, scaled by ``CONTEST_TEST_TIMEOUT_FACTOR`` for slow machines, so that no
test depends on this box's speed (websockets' ``tests/utils.py`` does the same).
"""

import os

TIMEOUT_FACTOR = float(os.environ.get("CONTEST_TEST_TIMEOUT_FACTOR", "1"))


def timeout(seconds: float = 5.0) -> float:
    """*seconds*, scaled by the machine's timeout factor."""
    return seconds * TIMEOUT_FACTOR
