"""Speed target: Inception feature extraction against pytorch-fid's own `get_activations`, side by
side on the same images, same network and weights (random: timing only), same batch size.

pytorch-fid reads images through PIL, so its copy of the images is PNG bytes held in memory
(decoding 64 px PNGs costs microseconds next to a 299 px Inception pass). Target: ours is no
slower (ratio >= 1.0). Run with `tox -e bench`.
"""

import io
import timeit
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

from bench.features import Extractor, inception

SPEED_TARGET = 1.0
N_IMAGES, BATCH = 100, 50


@pytest.fixture(scope="module")
def setup():
    import pytorch_fid.inception as pf

    state = inception.random_state_dict(seed=0)
    with mock.patch.object(pf, "load_state_dict_from_url", return_value=state):
        theirs = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    ours_net = inception.FidInception(state).to(memory_format=torch.channels_last)
    # the production extractor's network call (bench.features.FeatureSpaces._inception)
    ours = Extractor("inception", {}, lambda x: ours_net(x.contiguous(memory_format=torch.channels_last)), "cpu")
    images = np.random.default_rng(0).integers(0, 256, (N_IMAGES, 3, 64, 64), dtype=np.uint8)
    pngs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image.transpose(1, 2, 0)).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    return theirs, ours, images, pngs


def test_inception_features_against_pytorch_fid_get_activations(benchmark, setup):
    from pytorch_fid.fid_score import get_activations

    theirs, ours, images, pngs = setup

    def pytorch_fid_features():  # fresh file objects each time: PIL reads from the current position
        return get_activations([io.BytesIO(p) for p in pngs], theirs, batch_size=BATCH, device="cpu", num_workers=0)

    np.testing.assert_allclose(ours(images, BATCH), pytorch_fid_features(), rtol=1e-3, atol=1e-4)  # same features
    baseline = min(timeit.repeat(pytorch_fid_features, number=1, repeat=3))
    benchmark.pedantic(ours, args=(images, BATCH), rounds=3, iterations=1)
    mine = benchmark.stats.stats.min
    ratio = baseline / mine
    benchmark.extra_info.update({"pytorch_fid_s": baseline, "speedup": ratio, "images": N_IMAGES})
    print(f"\nInception features for {N_IMAGES} images: ours {mine:.2f} s, pytorch-fid get_activations "
          f"{baseline:.2f} s, ratio {ratio:.2f}x")
    assert ratio >= SPEED_TARGET, f"slower than pytorch-fid: ratio {ratio:.2f}"
