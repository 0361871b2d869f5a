"""Speed target: our `mig` against a straightforward per-pair sklearn loop, side by side.

N = 10,000 points, 10 codes, 5 factors (dSprites-sized factors). Target: >= 50x faster.
Run with `tox -e bench` (benchmarks are not part of the default test run).
"""

import timeit

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from bench.metrics import mig

SPEED_TARGET = 50.0


def per_pair_mig(codes, factors, num_bins=20):
    """The obvious implementation: digitize each code, one sklearn MI call per (code, factor)."""
    binned = [np.digitize(c, np.histogram(c, num_bins)[1][:-1]) for c in codes.T]
    mi = np.array([[mutual_info_score(f, b) for f in factors.T] for b in binned])
    entropy = np.array([mutual_info_score(f, f) for f in factors.T])
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / entropy))


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, s, 10_000) for s in (3, 6, 40, 32, 32)], axis=1)
    codes = rng.normal(size=(10_000, 10))
    codes[:, :5] += 0.1 * factors
    return codes, factors


def test_mig_speed_against_per_pair_sklearn(benchmark, arrays):
    codes, factors = arrays
    assert mig(codes, factors) == pytest.approx(per_pair_mig(codes, factors), rel=1e-10)
    baseline = min(timeit.repeat(lambda: per_pair_mig(codes, factors), number=1, repeat=5))
    benchmark(mig, codes, factors)
    ours = benchmark.stats.stats.min
    ratio = baseline / ours
    benchmark.extra_info.update({"per_pair_sklearn_s": baseline, "speedup": ratio})
    print(f"\nmig: {ours * 1e3:.2f} ms, per-pair sklearn: {baseline * 1e3:.1f} ms, speed-up {ratio:.0f}x")
    assert ratio >= SPEED_TARGET, f"only {ratio:.1f}x faster than the per-pair loop"
