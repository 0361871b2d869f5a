"""Our `mig` against disentanglement-lib's own `_compute_mig` on the same arrays."""

import numpy as np
import pytest

from bench.metrics import mig

pytestmark = pytest.mark.reference


def dlib_mig(dlib, codes, factors, num_bins=20):
    gin, mig_module, utils = dlib
    gin.clear_config()
    gin.bind_parameter("discretizer.discretizer_fn", utils._histogram_discretize)
    gin.bind_parameter("discretizer.num_bins", num_bins)
    # disentanglement-lib holds codes and factors as (dims, N)
    return mig_module._compute_mig(codes.T, factors.T)["discrete_mig"]


def cases():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, s, 5000) for s in (3, 6, 40, 32, 32)], axis=1)
    yield "identity", factors.astype(float), factors
    noisy = factors + rng.normal(scale=[0.3, 1.0, 5.0, 3.0, 3.0], size=factors.shape)
    yield "noisy_identity", np.concatenate([noisy, rng.normal(size=(5000, 5))], axis=1), factors
    mixed = rng.normal(size=(5000, 10))
    mixed[:, :5] += 0.2 * factors
    yield "mixed", mixed @ rng.normal(size=(10, 10)), factors
    yield "skewed", np.exp(rng.normal(size=(5000, 6))), factors
    yield "duplicated", np.repeat(factors.astype(float), 2, axis=1), factors


@pytest.mark.parametrize("name,codes,factors", list(cases()), ids=[c[0] for c in cases()])
@pytest.mark.parametrize("num_bins", [20, 7])
def test_mig_equals_disentanglement_lib(dlib, name, codes, factors, num_bins):
    assert mig(codes, factors, num_bins) == pytest.approx(dlib_mig(dlib, codes, factors, num_bins), rel=1e-9, abs=1e-12)
