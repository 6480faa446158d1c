"""The fuzz suite's budget and tally.

``FUZZ_EXAMPLES`` (default 400) bounds the examples per target so the suite stays well under a
minute on a shared CI core; raise it (and set ``FUZZ_RANDOM=1`` for fresh seeds) for a longer hunt.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "400")), deadline=None, database=None,
                derandomize=os.environ.get("FUZZ_RANDOM") is None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Inputs tried per target, printed at the end of the run (tests/fuzz/conftest.py).
TRIED: Counter[str] = Counter()
