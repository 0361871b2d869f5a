import numpy as np
import pytest

from bench.metrics import l1, l2


def test_known_values():
    target = np.zeros((2, 1, 2, 2))
    recon = np.full((2, 1, 2, 2), 0.5)
    recon[0, 0, 0, 0] = 1.0
    # 7 pixels off by 0.5 and one by 1.0, over 8 pixels
    assert l1(target, recon) == pytest.approx((7 * 0.5 + 1.0) / 8)
    assert l2(target, recon) == pytest.approx((7 * 0.25 + 1.0) / 8)
    assert l1(recon, recon) == 0.0 and l2(recon, recon) == 0.0


def test_rejects_mismatched_shapes_and_out_of_range():
    with pytest.raises(ValueError, match="shape"):
        l1(np.zeros((1, 2)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        l2(np.zeros((1, 2)), np.full((1, 2), 255.0))
