"""Early warning (研判预警): detection delay and false alerts per month of the Poisson exceedance test, synthetic data.

Synthetic network: 40 (category, prefecture) cells with daily case rates between 0.05 and 1.0 (0.35 to
7 a week, the sparse regime of a provincial desk), two years of days, 30 injected spikes per run
lasting 14 days, the rate multiplied by 2, 3 or 5. The detector runs daily exactly as
``handoff.early_warning`` does (same ``detect`` and the same one-alert-per-window quiet rule), with
the demo configuration's parameters. An alert counts as true when its window overlaps a spike of its
cell; delay is days from the spike's start to its first alert. The baseline in the same run is the
rule of thumb without a test ("at least double the usual week"), on the same data.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable

import numpy as np

from contract.data_config import EarlyWarningConfig
from handoff.early_warning import Cell, Exceedance, detect

CELLS = 40
DAYS = 730
SPIKES = 30
SPIKE_DAYS = 14
SEED = 12355


Detector = Callable[[dict[Cell, int], dict[Cell, list[int]], EarlyWarningConfig], list[Exceedance]]


def doubling_rule(current: dict[Cell, int], baseline: dict[Cell, list[int]],
                  config: EarlyWarningConfig) -> list[Exceedance]:
    """The baseline: the rule of thumb a desk would use without a test, "at least double the usual week"
    (and ``min_count``), on the same counts and the same quiet rule."""
    found = []
    for cell, observed in current.items():
        expected = sum(baseline[cell]) / config.baseline_windows
        if observed >= config.min_count and observed >= 2 * max(expected, config.baseline_floor):
            found.append(Exceedance(cell[0], cell[1], observed, expected, 1.0, baseline[cell]))
    return found


def _run(multiplier: float, config: EarlyWarningConfig, seed: int,
         detector: Detector = detect) -> tuple[list[int], int, int, float]:
    """(delays of detected spikes, missed spikes, false alerts, evaluated months)."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.05, 1.0, CELLS)
    lam = np.tile(rates[:, None], (1, DAYS))
    warmup = config.window_days * (config.baseline_windows + 1)
    spikes = [(int(rng.integers(CELLS)), int(rng.integers(warmup, DAYS - SPIKE_DAYS))) for _ in range(SPIKES)]
    for cell, start in spikes:
        lam[cell, start:start + SPIKE_DAYS] *= multiplier
    counts = rng.poisson(lam)
    cumulative = np.concatenate([np.zeros((CELLS, 1), dtype=int), counts.cumsum(axis=1)], axis=1)
    window = config.window_days
    last_alert = [-10**9] * CELLS
    first_hit: dict[int, int] = {}
    false_alerts = 0
    for day in range(warmup, DAYS + 1):
        current = {(str(c), "r"): int(cumulative[c, day] - cumulative[c, day - window]) for c in range(CELLS)}
        baseline = {(str(c), "r"): [int(cumulative[c, day - window * k] - cumulative[c, day - window * (k + 1)])
                                    for k in range(1, config.baseline_windows + 1)] for c in range(CELLS)}
        for found in detector(current, baseline, config):
            cell = int(found.category)
            if day - last_alert[cell] < window:
                continue  # the quiet rule: one alert per cell per window
            last_alert[cell] = day
            hits = [i for i, (c, start) in enumerate(spikes)
                    if c == cell and day - window < start + SPIKE_DAYS and day > start]
            if not hits:
                false_alerts += 1
            for i in hits:
                first_hit.setdefault(i, day - spikes[i][1])
    months = (DAYS - warmup) / 30.44
    return list(first_hit.values()), SPIKES - len(first_hit), false_alerts, months


async def main() -> None:
    config = EarlyWarningConfig(window_days=7, baseline_windows=8, alpha=0.001, min_count=3)
    print(f"   {CELLS} cells, {DAYS} days, {SPIKES} spikes x {SPIKE_DAYS} days per run, 3 runs; "
          f"window {config.window_days} d, baseline {config.baseline_windows} windows, alpha {config.alpha}")
    for (name, detector), multiplier in itertools.product(
            (("poisson", detect), ("baseline: doubling rule", doubling_rule)), (2.0, 3.0, 5.0)):
        delays: list[int] = []
        missed = false_alerts = 0
        months = 0.0
        for run in range(3):
            found, lost, false, span = _run(multiplier, config, SEED + run, detector)
            delays += found
            missed += lost
            false_alerts += false
            months += span
        detected = len(delays)
        print(f"   {name}, spike x{multiplier:g}: detected {detected}/{detected + missed} "
              f"({100 * detected / (detected + missed):.0f}%), delay median "
              f"{statistics.median(delays) if delays else float('nan'):.1f} d, p90 "
              f"{sorted(delays)[int(0.9 * (len(delays) - 1))] if delays else float('nan')} d; false alerts "
              f"{false_alerts / months:.2f}/month network-wide ({false_alerts / months / CELLS:.4f} per cell-month)")
