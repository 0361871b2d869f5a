"""The domain feature space (fd_domain, domain-space KID): known cases, caching of the trained
net and of the reference features, and the evaluator's recon/sample scores."""

import dataclasses

import numpy as np
import pytest
import torch

import models as zoo
from bench.cache import ArtifactCache
from bench.data import load
from bench.evaluate import evaluate
from bench.features import FeatureSpaces, domain
from bench.metrics import METRICS, frechet_distance_of_features, kid
from bench.suite import MetricSpec

DATA = load("dsprites", image_size=16)


STEPS = 60  # features need not be good to test the plumbing


@pytest.fixture
def spaces(tmp_path):
    return FeatureSpaces(ArtifactCache(tmp_path / "cache"), progress=False, log=lambda message: None)


def spec(name, **params):
    return MetricSpec(name, dataclasses.asdict(METRICS[name].Params(**params)))


def test_known_cases_identical_same_distribution_and_growing_noise(spaces):
    extractor = spaces.extractor("domain", DATA, steps=STEPS)
    images, _ = DATA.sample(1200, 0)
    features = extractor(images)
    assert features.shape == (1200, domain.FEATURE_DIM)
    real, held_out = features[:600], images[600:]
    assert abs(frechet_distance_of_features(real, real)) < 1e-3
    same = kid(real, features[600:], num_subsets=20, subset_size=300)  # disjoint draws, one distribution
    assert abs(same["mean"]) < 3 * same["std"], same
    noise = np.random.default_rng(1).normal(size=held_out.shape).astype(np.float32)
    distances, kids = [], []
    for level in (0.2, 0.35, 0.5):
        noisy = extractor(np.clip(held_out + level * noise, 0, 1))
        distances.append(frechet_distance_of_features(real, noisy))
        kids.append(kid(real, noisy, num_subsets=20, subset_size=300))
    assert distances[0] > frechet_distance_of_features(real, features[600:]), distances
    assert distances == sorted(distances), distances
    assert kids[0]["mean"] > 3 * kids[0]["std"], kids[0]
    assert [k["mean"] for k in kids] == sorted(k["mean"] for k in kids), kids


def test_the_trained_net_is_cached_and_reused(spaces, tmp_path, monkeypatch):
    images, _ = DATA.sample(50, 0)
    first = spaces.extractor("domain", DATA, steps=STEPS)(images)
    monkeypatch.setattr(domain, "train", lambda *a, **k: pytest.fail("trained again despite the cache"))
    again = FeatureSpaces(ArtifactCache(tmp_path / "cache"), progress=False, log=lambda m: None)
    np.testing.assert_array_equal(again.extractor("domain", DATA, steps=STEPS)(images), first)
    other_seed = pytest.raises(BaseException, again.extractor, "domain", DATA, 1, STEPS)  # another seed: another net
    assert "trained again" in str(other_seed.value)


def test_a_corrupt_net_is_set_aside_and_trained_again(spaces, tmp_path):
    images, _ = DATA.sample(20, 0)
    first = spaces.extractor("domain", DATA, steps=STEPS)(images)
    (artifact,) = (tmp_path / "cache").glob("domain-*")
    (artifact / "weights.safetensors").write_bytes(b"garbage")
    messages = []
    fresh = FeatureSpaces(ArtifactCache(tmp_path / "cache"), progress=False, log=messages.append)
    np.testing.assert_array_equal(fresh.extractor("domain", DATA, steps=STEPS)(images), first)  # same seed, same net
    assert any("training again" in m for m in messages)
    assert list((tmp_path / "cache").glob("domain-*.corrupt-*"))


def test_reference_features_are_cached_on_disk_by_content(spaces, tmp_path):
    extractor = spaces.extractor("domain", DATA, steps=STEPS)
    images, _ = DATA.sample(40, 0)
    reference = spaces.reference(extractor, DATA, images)
    (stored,) = (tmp_path / "cache" / "reference-features").glob("*.npz")
    fresh = FeatureSpaces(ArtifactCache(tmp_path / "cache"), progress=False, log=lambda m: None)
    calls = []
    fresh_extractor = fresh.extractor("domain", DATA, steps=STEPS)
    fresh_extractor.fn = lambda x: calls.append(x) or pytest.fail("recomputed despite the cache")
    np.testing.assert_array_equal(fresh.reference(fresh_extractor, DATA, images), reference)
    other, _ = DATA.sample(40, 1)  # other images: other key
    fresh_extractor.fn = extractor.fn
    spaces.reference(extractor, DATA, other)
    assert len(list(stored.parent.glob("*.npz"))) == 2


def test_evaluator_scores_reconstructions_and_samples(spaces):
    cls = zoo.get("beta_tcvae")
    torch.manual_seed(0)
    model = cls(cls.Config(latent_dim=3), DATA.image_shape).eval()
    specs = [spec("fd_domain", num_points=300, feature_steps=STEPS),
             spec("kid", num_points=300, num_subsets=5, subset_size=100, feature_steps=STEPS)]
    records = {r["metric_id"]: r for r in evaluate(model, DATA, specs, seed=0, spaces=spaces)}
    kid_id = f"[feature_steps={STEPS},num_points=300,num_subsets=5,subset_size=100]"
    assert set(records) == {f"fd_domain_recon[feature_steps={STEPS},num_points=300]",
                            f"fd_domain_sample[feature_steps={STEPS},num_points=300]",
                            "kid_recon" + kid_id, "kid_sample" + kid_id}
    for record in records.values():
        assert record["value"] is not None and np.isfinite(record["value"]) and record["value"] > 0
        assert record["details"]["features"]["space"] == "domain"
        assert record["higher_is_better"] is False
    kid_record = records["kid_recon" + kid_id]
    assert set(kid_record["details"]["kid_recon"]) == {"mean", "std"}
    again = {r["metric_id"]: r["value"] for r in evaluate(model, DATA, specs, seed=0, spaces=spaces)}
    assert again == {k: r["value"] for k, r in records.items()}  # samples are seeded
