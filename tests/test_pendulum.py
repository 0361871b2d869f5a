"""The pendulum (the paper's appendix D): the simulator against scipy, the dataset's paired targets,
the correlation score's known answers, and the appendix's claim that z learns the unobserved mass."""

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from scipy.stats import pearsonr

import models as zoo
from bench.budget import Budget
from bench.config import build
from bench.data import load
from bench.data.pendulum import HELD_OUT_MASSES, LENGTHS, MASSES, simulate
from bench.evaluate import evaluate
from bench.metrics.series import multiple_correlation
from bench.suite import MetricSpec


def scipy_theta(length, damping, mass):
    """θ at t = 0 .. 9.9 from scipy's adaptive solver at tight tolerances (an independent integrator)."""
    def slope(t, state):
        return [state[1], -(damping / mass) * state[1] - (9.8 / length) * np.sin(state[0])]
    return solve_ivp(slope, [0, 10], [0.0, 3.0], t_eval=np.arange(100) / 10, rtol=1e-11, atol=1e-12).y[0]


@pytest.mark.parametrize("length,damping,mass", [(1.0, 0.1, 0.1), (2.0, 0.0, 1.0), (3.0, 2.0, 2.0), (1.0, 2.0, 0.1)])
def test_the_simulator_agrees_with_scipy(length, damping, mass):
    np.testing.assert_allclose(simulate(length, damping, mass)[0], scipy_theta(length, damping, mass), atol=1e-5)


def test_rows_carry_the_observed_factors_and_their_paired_targets():
    data = load("pendulum", rows=200, held_out=40, seed=3)
    length, damping, mass = data.values.T
    np.testing.assert_array_equal(data.series[:, 0], length.astype(np.float32))
    np.testing.assert_array_equal(data.series[:, 1], damping.astype(np.float32))
    np.testing.assert_allclose(data.series[:, 2:], simulate(length, damping, mass), atol=1e-6)
    y0, y1 = data.targets_of(np.arange(200))
    np.testing.assert_allclose(y0, simulate(length, 0.0, 1.0), atol=1e-6)
    np.testing.assert_allclose(y1, simulate(length, damping, 1.0), atol=1e-6)
    assert np.abs(data.series[:, 2:]).max() < np.pi  # it never goes over the top
    assert set(np.unique(mass)) <= set(MASSES) and set(np.unique(length)) <= set(LENGTHS)
    rows, values = data.held_out_set()
    assert rows.shape == (40, 102) and set(np.unique(values[:, 2])) <= set(HELD_OUT_MASSES)
    again = load("pendulum", rows=200, held_out=40, seed=3)
    np.testing.assert_array_equal(again.series, data.series)
    assert not np.array_equal(load("pendulum", rows=200, held_out=40, seed=4).values, data.values)


def test_multiple_correlation_known_answers():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 1))
    factor = -2 * z[:, 0] + rng.normal(size=500)
    assert multiple_correlation(z, factor) == pytest.approx(abs(pearsonr(z[:, 0], factor).statistic), abs=1e-12)
    assert multiple_correlation(z, 3 - 5 * z[:, 0]) == pytest.approx(1.0)
    two = rng.normal(size=(500, 2))
    assert multiple_correlation(two, two[:, 0] - two[:, 1]) == pytest.approx(1.0)  # no single z dimension says it
    assert multiple_correlation(rng.normal(size=(2000, 1)), rng.normal(size=2000)) < 0.06
    with pytest.raises(ValueError, match="constant"):
        multiple_correlation(z, np.ones(500))


def _trained(steps: int, hidden: int, seed: int = 0):
    data = load("pendulum", rows=2000, held_out=300)
    budget = Budget(steps=steps, batch_size=50, learning_rate=1e-3)
    stages = {}
    for slot, name in (("undamped", "pendulum_undamped"), ("damped", "pendulum_damped")):
        torch.manual_seed(seed)
        stages[slot] = zoo.get(name)(build(zoo.get(name).Config, {"hidden": hidden}), data.data_shape)
        stages[slot].prepare(data)
        stages[slot].fit(data, budget, seed=seed, progress=False)
    torch.manual_seed(seed)
    cls = zoo.get("ms_vae_pendulum")
    model = cls(build(cls.Config, {"hidden": hidden}), data.data_shape)
    model.prepare(data)
    model.attach(stages)
    before = {slot: {k: v.clone() for k, v in stage.state_dict().items()} for slot, stage in stages.items()}
    model.fit(data, budget, seed=seed, progress=False)
    return model, stages, data, before


def test_z_learns_the_mass_it_never_sees():
    """Appendix D, Figure 24: z of the residual tracks the mass, and not L or b (a short run)."""
    model, stages, data, before = _trained(steps=2000, hidden=256)  # about 40 s on 2 cores
    for slot, stage in stages.items():  # stage three's training leaves the stages as they were
        assert all(torch.equal(before[slot][k], v) for k, v in stage.state_dict().items()), slot
    rows, values = data.held_out_set()
    with torch.no_grad():
        y0 = stages["undamped"].predict(torch.from_numpy(rows[:, :1]))
        y1 = stages["damped"].predict(torch.from_numpy(rows[:, 1:2]), torch.from_numpy(simulate(values[:, 0], 0.0, 1.0)
                                                                                       .astype(np.float32)))
    assert y0.shape == y1.shape == (300, 100)
    true_y0, true_y1 = simulate(values[:, 0], 0.0, 1.0), simulate(values[:, 0], values[:, 1], 1.0)
    assert np.mean((y0.numpy() - true_y0) ** 2) < 0.05 * true_y0.var()  # stage one learnt L -> Y0
    assert np.mean((y1.numpy() - true_y1) ** 2) < 0.05 * true_y1.var()  # stage two learnt (b, Y0) -> Y1
    records = {r["metric_id"]: r for r in evaluate(model, data, [MetricSpec("hidden_correlation", {}),
                                                                 MetricSpec("series_l2", {})], seed=0)}
    assert records["hidden_correlation"]["value"] > 0.9, records["hidden_correlation"]
    assert records["z_observed_correlation"]["value"] < 0.1
    assert records["hidden_correlation"]["details"]["num_points"] == records["series_l2"]["details"]["num_points"] == 300
    # z carries what Y1 cannot: the reconstruction beats Y1 alone (the trajectory at m = 1)
    with torch.no_grad():
        y1 = model.y1(torch.from_numpy(rows[:, :2])).numpy()
    assert records["series_l2"]["value"] < 0.5 * np.mean((y1 - rows[:, 2:]) ** 2)


class Observer(zoo.Model):
    """Encodes rows to their observed factors only: no z."""

    supports = frozenset({"series"})

    def __init__(self):
        super().__init__(None, (102,))
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.encoded = 0

    def encode(self, x, c_noise=None):
        self.encoded += len(x)
        return {"c": x[:, :2]}

    def decode(self, codes):
        return torch.cat([codes["c"], torch.zeros(len(codes["c"]), 100)], 1)


def test_a_model_without_z_gets_a_missing_correlation_and_still_an_l2():
    data = load("pendulum", rows=50, held_out=30)
    model = Observer()
    records = {r["metric_id"]: r for r in evaluate(model, data, [MetricSpec("hidden_correlation", {}),
                                                                 MetricSpec("series_l2", {})], seed=0)}
    assert model.encoded == 2 * 30  # the rows encoded once, and once more to reconstruct: shared by both metrics
    assert records["hidden_correlation"]["value"] is None
    assert "no latent z" in records["hidden_correlation"]["missing_reason"]
    rows, _ = data.held_out_set()
    assert records["series_l2"]["value"] == pytest.approx(float(np.mean(rows[:, 2:].astype(np.float64) ** 2)), rel=1e-6)


def test_a_cached_stage_predicts_what_the_trained_one_did(tmp_path):
    from bench.cache import ArtifactCache

    data = load("pendulum", rows=100, held_out=10)
    cls = zoo.get("pendulum_damped")
    torch.manual_seed(0)
    stage = cls(build(cls.Config, {"hidden": 16}), data.data_shape)
    stage.prepare(data)
    stage.fit(data, Budget(steps=5, batch_size=16), seed=0, progress=False)
    ArtifactCache(tmp_path).save("k", stage, {"spec": 1}, [])
    torch.manual_seed(1)
    clone = cls(build(cls.Config, {"hidden": 16}), data.data_shape)
    ArtifactCache(tmp_path).load_into("k", clone)
    b, y0 = torch.rand(4, 1), torch.rand(4, 100)
    with torch.no_grad():
        torch.testing.assert_close(clone.predict(b, y0), stage.predict(b, y0), rtol=0, atol=0)
