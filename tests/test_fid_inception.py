"""The FID Inception path: weights lookup and checksum, equivalence with pytorch-fid's network,
and a feature pipeline whose FID does not depend on batch size or value encoding.

The real weights cannot be downloaded here, so a stand-in file with the right keys and shapes
(saved from a randomly initialised network) exercises the real loading code.
"""

from unittest import mock

import numpy as np
import pytest
import torch

from bench.features import FeaturesUnavailable, FeatureSpaces, inception
from bench.metrics import frechet_distance_of_features


@pytest.fixture(scope="module")
def stand_in_state():
    return inception.random_state_dict(seed=0)


@pytest.fixture(scope="module")
def stand_in_file(tmp_path_factory, stand_in_state):
    path = tmp_path_factory.mktemp("weights") / inception.WEIGHTS_NAME
    torch.save(stand_in_state, path)
    return path


@pytest.fixture(scope="module")
def stand_in_net(stand_in_file):
    net, _ = inception.load_fid_inception(stand_in_file, inception.sha256_of(stand_in_file)[:8])
    return net


@pytest.fixture
def no_weights_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home" / "hub" / "checkpoints" / inception.WEIGHTS_NAME


def test_stand_in_file_loads_with_its_checksum(stand_in_file, stand_in_state):
    net, digest = inception.load_fid_inception(stand_in_file, inception.sha256_of(stand_in_file)[:8])
    assert len(digest) == 64
    loaded = net.layers[0].conv.weight
    assert torch.equal(loaded, stand_in_state["Conv2d_1a_3x3.conv.weight"])


def test_a_file_that_is_not_the_fid_weights_is_refused(stand_in_file):
    # the stand-in's checksum is not the published one: it must never pass as the FID weights
    with pytest.raises(inception.WeightsChecksumError, match=r"not the FID Inception weights.*6726825d"):
        inception.load_fid_inception(stand_in_file)


def test_a_right_checksum_on_a_broken_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(inception.WeightsChecksumError, match="cannot be loaded"):
        inception.load_fid_inception(path, inception.sha256_of(path)[:8])


def test_lookup_order_and_the_searched_paths(tmp_path, monkeypatch, no_weights_anywhere):
    with pytest.raises(inception.WeightsUnavailable, match=str(no_weights_anywhere)):
        inception.find_weights()
    no_weights_anywhere.parent.mkdir(parents=True)
    no_weights_anywhere.write_bytes(b"x")
    assert inception.find_weights() == no_weights_anywhere  # torch's hub cache, under $TORCH_HOME
    elsewhere = tmp_path / "elsewhere.pth"
    monkeypatch.setenv(inception.WEIGHTS_ENV, str(elsewhere))
    with pytest.raises(inception.WeightsUnavailable, match="elsewhere.pth"):  # an explicit path is not overridden
        inception.find_weights()
    elsewhere.write_bytes(b"y")
    assert inception.find_weights() == elsewhere
    assert inception.find_weights(no_weights_anywhere) == no_weights_anywhere  # --fid-weights beats the env


def test_missing_weights_make_the_space_unavailable_with_the_reason(no_weights_anywhere):
    spaces = FeatureSpaces()
    for _ in range(2):  # asked again (every model asks): the same reason, no retry noise
        with pytest.raises(FeaturesUnavailable, match=f"not found.*{no_weights_anywhere}.*--fid-weights"):
            spaces.extractor("inception", data=None)


def test_our_network_equals_pytorch_fids(stand_in_net, stand_in_state):
    import pytorch_fid.inception as pf

    with mock.patch.object(pf, "load_state_dict_from_url", return_value=stand_in_state):
        theirs = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = theirs(images)[0].flatten(1)
        ours = stand_in_net(images)
    assert ours.shape == (3, inception.FEATURE_DIM)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)


def test_image_encodings():
    gray = np.random.default_rng(0).integers(0, 256, (2, 1, 8, 8), dtype=np.uint8)
    x = inception.as_float_rgb(gray)
    assert x.shape == (2, 3, 8, 8) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], x[:, 2]) and torch.allclose(x[:, 1] * 255, torch.from_numpy(gray[:, 0]).float())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        inception.as_float_rgb(np.full((1, 3, 4, 4), 2.0, np.float32))
    with pytest.raises(ValueError, match="uint8 or float"):
        inception.as_float_rgb(np.ones((1, 3, 4, 4), np.int32))
    with pytest.raises(ValueError, match=r"\(N, 1 or 3, H, W\)"):
        inception.as_float_rgb(np.ones((1, 4, 4), np.float32))


@pytest.mark.filterwarnings("ignore:.*covariance is singular")  # 66 images, 2048 features: expected
def test_fid_does_not_depend_on_batch_size_or_value_encoding(stand_in_file, monkeypatch):
    # the production extractor (channels-last network), with the stand-in accepted as the weights
    monkeypatch.setattr(inception, "WEIGHTS_SHA256_PREFIX", inception.sha256_of(stand_in_file)[:8])
    extractor = FeatureSpaces(fid_weights=stand_in_file, log=lambda message: None).extractor("inception", None)
    assert extractor.record["weights_sha256"].startswith(inception.WEIGHTS_SHA256_PREFIX)
    rng = np.random.default_rng(0)
    # 66 images: a short last batch for batch sizes 7 (9 x 7 + 3) and 64 (64 + 2)
    real_u8 = rng.integers(0, 256, (66, 1, 32, 32), dtype=np.uint8)
    fake = np.clip(real_u8 / 255 + rng.normal(0, 0.2, real_u8.shape), 0, 1).astype(np.float32)
    fake_features = extractor(fake, batch_size=64)
    fid = frechet_distance_of_features(extractor(real_u8, batch_size=64), fake_features)
    assert fid > 1e-3  # different sets: the checks below compare something non-trivial
    as_float = real_u8.astype(np.float32) / 255
    for batch_size in (1, 7, 64):
        again = frechet_distance_of_features(extractor(as_float, batch_size=batch_size), fake_features)
        assert again == pytest.approx(fid, abs=1e-4), batch_size


TINY_FID_SUITE = """
name: fid_tiny
dataset: {name: dsprites, params: {image_size: 16}}
budget: {steps: 3, batch_size: 8}
seeds: [0]
models:
  - model: beta_tcvae
    params: {latent_dim: 3}
metrics:
  - name: fid
    params: {num_points: 6}
  - l1
"""


def test_without_weights_the_run_completes_and_fid_is_missing_with_its_reason(workdir, no_weights_anywhere):
    import sqlite3

    from bench.cli import main

    (workdir / "s.yaml").write_text(TINY_FID_SUITE)
    assert main(["run", "s.yaml", "--store", "r.sqlite", "--cache", "c", "--out", "lb", "--no-progress",
                 "--device", "cpu"]) == 0
    with sqlite3.connect("r.sqlite") as db:
        scores = dict(db.execute("SELECT metric_id, coalesce(value, missing_reason) FROM scores"))
    assert set(scores) == {"fid_recon[num_points=6]", "fid_sample[num_points=6]", "l1"}
    for variant in ("recon", "sample"):
        assert str(no_weights_anywhere) in scores[f"fid_{variant}[num_points=6]"]
    leaderboard = (workdir / "lb" / "fid_tiny" / "leaderboard.md").read_text()
    assert "— [1]" in leaderboard and "FID Inception weights not found" in leaderboard


def test_with_weights_fid_is_scored_and_its_preprocessing_recorded(stand_in_file, monkeypatch):
    import dataclasses

    import models as zoo
    from bench.data import load
    from bench.evaluate import evaluate
    from bench.metrics import METRICS
    from bench.suite import MetricSpec

    monkeypatch.setattr(inception, "WEIGHTS_SHA256_PREFIX", inception.sha256_of(stand_in_file)[:8])
    data = load("dsprites", image_size=16)
    torch.manual_seed(0)
    model = zoo.get("beta_tcvae")(zoo.get("beta_tcvae").Config(latent_dim=3), data.image_shape).eval()
    specs = [MetricSpec(name, dataclasses.asdict(METRICS[name].Params(num_points=6, **extra)))
             for name, extra in (("fid", {}), ("kid", {"space": "inception", "subset_size": 3, "num_subsets": 4}))]
    spaces = FeatureSpaces(fid_weights=stand_in_file, log=lambda message: None)
    records = evaluate(model, data, specs, seed=0, spaces=spaces)
    assert [r["metric_id"].split("[")[0] for r in records] == ["fid_recon", "fid_sample", "kid_recon", "kid_sample"]
    for record in records:
        assert record["value"] is not None and np.isfinite(record["value"]), record
        features = record["details"]["features"]
        assert features["weights_sha256"] == inception.sha256_of(stand_in_file)
        assert "299" in features["resize"] and "uint8" in features["input_range"] and "3 channels" in features["grayscale"]
        assert record["details"]["num_points"] == 6
        assert any("use num_points >= 2048" in w for w in record["details"]["warnings"])
    assert records[0]["value"] > 0
