"""One conformance test over every registered model of every data kind it supports: what each
model promises. A model declares its tiny `test_config`, its `test_steps` and the `test_checks`
that apply to it on its class, so adding a model needs no edit here."""

import numpy as np
import pytest
import torch

import models as zoo
from bench.budget import Budget
from bench.cache import ArtifactCache
from bench.data import load
from conftest import zoo_model

DATA = {"images": load("dsprites", image_size=32), "tables": load("credit", n_rows=600, test_fraction=0.25),
        "series": load("pendulum", rows=300, held_out=20)}
BATCH = {"images": 32, "tables": 64, "series": 32}
CASES = [(name, kind) for name, cls in sorted(zoo.registry().items()) for kind in sorted(cls.supports)]


def cases(check: str) -> list:
    return [pytest.param(name, kind, id=f"{name}-{kind}") for name, kind in CASES
            if check in zoo.get(name).test_checks]


def make(name: str, kind: str, seed: int = 0):
    """The model at its test config, prepared on the kind's data, with freshly initialised
    upstream stages (at their own test configs) attached."""
    return zoo_model(name, DATA[kind], seed)


def trained(name: str, kind: str):
    """The model after two training steps (some, like TVAE, build their networks when they fit)."""
    model = make(name, kind)
    model.fit(DATA[kind], Budget(steps=2, batch_size=BATCH[kind]), seed=0, progress=False)
    return model.eval()


def items(kind: str, n: int, seed: int = 0) -> torch.Tensor:
    data = DATA[kind]
    if kind in ("images", "series"):
        return torch.from_numpy(data.sample(n, seed)[0])
    return torch.from_numpy(data.transform(data.test[seed * n:(seed + 1) * n]))


def test_every_model_declares_known_capabilities_and_checks():
    assert CASES, "the zoo is empty"
    for name, cls in zoo.registry().items():
        assert cls.capabilities <= set(zoo.CAPABILITIES), name
        assert cls.test_checks <= zoo.TEST_CHECKS, name
        assert cls.supports <= set(DATA), f"{name}: no conformance data for {set(cls.supports) - set(DATA)}"


@pytest.mark.parametrize("name,kind", cases("shapes"))
def test_output_shapes(name, kind):
    model = trained(name, kind)
    x = items(kind, 5)
    if _refuses(model, "encode", x):  # a generator without an encoder (the GANs): it must at least sample
        assert _refuses(model, "reconstruct", x) and model.can("sample"), name
    else:
        codes = model.encode(x)
        assert codes["c"].ndim == 2 and codes["c"].shape[0] == 5
        recon = model.reconstruct(x)
        assert recon.shape == x.shape
        if kind == "images":
            assert recon.min() >= 0 and recon.max() <= 1
    if model.can("sample"):
        drawn = model.sample(3)
        assert drawn.shape == (3, *DATA[kind].data_shape)
        if kind == "images":
            assert drawn.min() >= 0 and drawn.max() <= 1
    if model.can("traverse"):
        assert model.traverse(x[:2], dim=0, values=[-1.0, 0.0, 1.0]).shape == (2, 3, *DATA[kind].data_shape)
    assert model.num_params() > 0


def _refuses(model, method: str, *args) -> bool:
    """The model has no `method`, or it raises NotImplementedError (any other error fails the test)."""
    if not hasattr(model, method):
        return True
    try:
        getattr(model, method)(*args)
    except NotImplementedError:
        return True
    return False


@pytest.mark.parametrize("name,kind", cases("capabilities"))
def test_declared_capabilities_are_what_the_model_does(name, kind):
    model = trained(name, kind)
    x = items(kind, 4)
    generator = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    does = {
        "sample": not _refuses(model, "sample", 2),
        "traverse": not _refuses(model, "traverse", x[:1], 0, [0.0]),
        "z": not _refuses(model, "encode", x) and "z" in model.encode(x),
        "stage_one": not _refuses(model, "stage", "stage_one"),
        "conditioning": not _refuses(model, "conditioning_codes", x, generator()),
        "elbo": not _refuses(model, "elbo", x, generator()),
        "density": not _refuses(model, "log_density", x),
        "mixture": not _refuses(model, "mixture_means"),
        "conditional": not _refuses(model, "generate", torch.zeros(2, len(DATA[kind].factor_sizes), dtype=torch.long),
                                    generator()),
        "own_code": not _refuses(model, "recover_code", 2, generator()),
    }
    assert set(does) == set(zoo.CAPABILITIES)
    assert {c for c, yes in does.items() if yes} == set(model.capabilities)
    if model.can("elbo"):
        terms = model.elbo(x, generator())
        assert terms["log_likelihood"].shape == terms["kl"].shape == (4,)
    if model.can("conditional"):
        factors = torch.stack([torch.arange(3) % k for k in DATA[kind].factor_sizes], dim=1)
        a, b = (model.generate(factors, torch.Generator().manual_seed(s)) for s in (1, 1))
        assert a.shape == (3, *DATA[kind].data_shape) and torch.equal(a, b)  # the generator alone draws the noise
    if model.can("own_code"):
        read = model.recover_code(5, generator())
        assert read["code"].shape == read["recovered"].shape == (5,)
    if model.can("conditioning"):
        views = model.conditioning_codes(x, generator())
        assert {v.shape for v in views.values()} == {views["C_R"].shape}
    if model.can("density"):
        densities = model.log_density(x)
        assert {v.shape for v in densities.values()} == {(4,)} and "log_density" in densities
        assert all(torch.isfinite(v).all() for v in densities.values())
    if model.can("mixture"):
        means, weights = model.mixture_means()
        assert means.shape[1:] == x.shape[1:] and weights.shape == (len(means),)
        assert abs(float(weights.sum()) - 1) < 1e-5
    if model.can("stage_one"):
        assert "stage_one" in model.requires and isinstance(model.stage("stage_one"), zoo.Model)


@pytest.mark.parametrize("name,kind", cases("loss_decreases"))
def test_loss_decreases(name, kind):
    model = make(name, kind)
    log = model.fit(DATA[kind], Budget(steps=model.test_steps, batch_size=BATCH[kind], learning_rate=1e-3),
                    seed=0, progress=False)
    first, last = log[0]["loss"], np.mean([e["loss"] for e in log[-5:]])
    assert last < 0.8 * first, (first, last)


@pytest.mark.parametrize("name,kind", cases("round_trip"))
def test_save_load_round_trip_gives_identical_outputs(name, kind, tmp_path):
    model = make(name, kind, seed=1)
    model.fit(DATA[kind], Budget(steps=3, batch_size=BATCH[kind]), seed=1, progress=False)
    cache = ArtifactCache(tmp_path)
    cache.save("k", model, {"spec": 1}, [{"step": 1, "loss": 1.0}])
    clone = make(name, kind, seed=2)  # different init, so equality proves the load
    if model.requires:
        clone.attach({slot: model.stage(slot) for slot in model.requires})  # as the runner hands them over
    assert cache.load_into("k", clone) == [{"step": 1, "loss": 1.0}]
    x = items(kind, 4, seed=3)
    model.eval(), clone.eval()
    if not _refuses(model, "reconstruct", x):
        torch.testing.assert_close(model.reconstruct(x), clone.reconstruct(x), rtol=0, atol=0)
    if model.can("sample"):
        torch.manual_seed(7)
        drawn = model.sample(3)
        torch.manual_seed(7)
        torch.testing.assert_close(clone.sample(3), drawn, rtol=0, atol=0)


@pytest.mark.parametrize("name,kind", cases("deterministic"))
def test_same_seed_gives_identical_weights(name, kind):
    budget = Budget(steps=5, batch_size=16)
    trained = []
    for seed in (3, 3, 4):
        model = make(name, kind, seed=seed)
        torch.manual_seed(seed)  # the runner seeds torch once per job, before building the model
        model.fit(DATA[kind], budget, seed=seed, progress=False)
        trained.append(model.state_dict())
    a, b, c = trained
    for (key, pa), pb in zip(a.items(), b.values()):
        assert torch.equal(pa, pb), key
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.values(), c.values()))
