"""Small helpers shared by the benchmark scripts: percentiles, peak memory, timers."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def percentile(samples_ns: Sequence[int], q: float) -> float:
    """The q-th percentile (0..100) of nanosecond samples, in microseconds."""
    ordered = sorted(samples_ns)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k] / 1000


def summary_us(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50, p99, mean in microseconds and throughput per second (single-threaded)."""
    mean = statistics.fmean(samples_ns) / 1000 if samples_ns else float("nan")
    return {
        "p50_us": percentile(samples_ns, 50),
        "p99_us": percentile(samples_ns, 99),
        "mean_us": mean,
        "per_s": 1e6 / mean if mean else 0.0,
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Run fn; return its result and the wall time in seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def sample(fn: Callable[[int], object], n: int) -> list[int]:
    """Call fn(i) for i in range(n); nanoseconds per call."""
    out = []
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        fn(i)
        out.append(clock() - t0)
    return out
