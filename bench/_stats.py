"""Small helpers shared by the benchmarks."""

from __future__ import annotations

import statistics


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def describe_ms(samples: list[float]) -> str:
    """Latency samples in seconds, described in milliseconds."""
    ms = [s * 1000 for s in samples]
    return (f"p50 {percentile(ms, 50):.3f} ms · p99 {percentile(ms, 99):.3f} ms · "
            f"max {max(ms):.3f} ms · mean {statistics.fmean(ms):.3f} ms · n={len(ms)}")
