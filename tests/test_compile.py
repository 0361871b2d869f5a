"""`msbench run --compile`: models trained alone go through torch.compile; the result is the eager one up
to rounding (same noise, same batches), recorded as another training mode, which `regress --exact` flags."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from bench.cache import WEIGHTS, ArtifactCache
from bench.cli import main
from bench.regress import compare, run_environment
from bench.store import Store
from bench.suite import load_suite
from models._base import compiling, set_compile
from test_ensemble import _empty

SUITE = """\
name: tiny
dataset: {name: dsprites, params: {image_size: 32}}
budget: {steps: 6, batch_size: 16, learning_rate: 1.0e-3}
seeds: [0]
models:
  - {model: beta_tcvae, label: beta-TCVAE, params: {beta: 4, latent_dim: 4}}
metrics:
  - {name: l2, params: {num_points: 64}}
"""


@pytest.fixture
def no_compile_after():
    yield
    set_compile(False)  # the flag is process-wide: leave it as the other tests expect it


def _run(cache, store, *extra):
    return main(["run", "tiny.yaml", "--store", store, "--cache", cache, "--out", "lb", "--no-progress",
                 "--device", "cpu", *extra])


def test_compiled_training_matches_eager_and_is_recorded_as_its_own_mode(workdir, capsys, no_compile_after):
    (workdir / "tiny.yaml").write_text(SUITE)
    assert _run("eager", "eager.sqlite") == 0
    assert not compiling()
    assert _run("compiled", "compiled.sqlite", "--compile") == 0
    assert ", torch.compile)" in capsys.readouterr().err
    key = load_suite("tiny.yaml").jobs[0].key

    # the same training up to float rounding: same initial weights, batches and posterior noise
    eager, compiled = (load_file(str(ArtifactCache(c).path(key) / WEIGHTS)) for c in ("eager", "compiled"))
    assert eager.keys() == compiled.keys()
    moved = max(np.abs(compiled[k] - eager[k]).max() for k in eager)
    assert 0 < moved < 1e-4, moved  # rounding apart (Inductor fuses), not another draw of the noise

    modes = {c: json.loads((ArtifactCache(c).path(key) / "manifest.json").read_text())["trained_on"]["training"]
             for c in ("eager", "compiled")}
    assert modes == {"eager": "alone", "compiled": "alone, compiled"}
    runs = {s: Store(f"{s}.sqlite", readonly=True).runs("tiny") for s in ("eager", "compiled")}
    assert json.loads(runs["compiled"][0]["environment"])["training"] == "alone, compiled"

    # --exact treats compiled against eager as a change of kernel path
    baseline = {"training": run_environment(runs["eager"])["training"], "cells": []}
    problems = compare(baseline, _empty(), runs["compiled"], run_environment(runs["compiled"]), {}, exact=True).problems
    assert any("alone, compiled" in p for p in problems), problems


def test_a_compiled_ensemble_trains_as_the_eager_one(no_compile_after):
    import torch

    import models as zoo
    from bench.budget import Budget
    from bench.data import load
    from models._ensemble import fit_ensemble, member_generator

    data, cls = load("dsprites", image_size=32), zoo.get("beta_tcvae")
    trained = {}
    for compiled in (False, True):
        set_compile(compiled)
        members, generators = [], []
        for seed, beta in ((0, 1.0), (1, 4.0)):
            torch.manual_seed(seed)
            members.append(cls(cls.Config(beta=beta, latent_dim=4), data.data_shape))
            generators.append(member_generator("cpu"))
        fit_ensemble(members, generators, data, Budget(steps=20, batch_size=16), [0, 1], progress=False)
        trained[compiled] = members
        assert [m.training_mode(ensemble=2) for m in members] == ["ensemble of 2" + (", compiled" if compiled else "")] * 2
    for eager, compiled in zip(trained[False], trained[True]):
        moved = max((a - b).abs().max().item() for a, b in zip(eager.parameters(), compiled.parameters()))
        assert 0 < moved < 1e-5, moved


def test_compile_without_the_cpu_compiler_is_refused_in_one_line(workdir, capsys, monkeypatch, no_compile_after):
    (workdir / "tiny.yaml").write_text(SUITE)
    monkeypatch.setenv("CXX", "no-such-compiler-msbench")
    assert _run("c", "s.sqlite", "--compile") == 2
    err = capsys.readouterr().err
    assert "no-such-compiler-msbench" in err and "--compile" in err
    assert not (workdir / "s.sqlite").exists()  # refused before anything was written
