"""The Jacobian-supervision student (models/jacobian_student.py) on what Lezama (2018) claims for it:
its factor part learns the teacher's disentangled code."""

import dataclasses

import numpy as np
import torch

import models as zoo
from bench.budget import Budget
from bench.config import build
from bench.data import load
from conftest import zoo_model

DATA = load("dsprites", image_size=32)


def test_the_factor_part_tracks_the_teachers_code_and_only_through_lambda_y():
    held_out = torch.from_numpy(DATA.sample(500, np.random.default_rng(9))[0])
    budget = Budget(steps=250, batch_size=64, learning_rate=1e-3)
    student = zoo_model("jacobian_student", DATA, 0, stage_budget=Budget(steps=200, batch_size=64, learning_rate=1e-3))
    teacher = student.stage("teacher")
    control = zoo_model("jacobian_student", DATA, 0)  # the same student without the latent loss
    control.config = dataclasses.replace(control.config, lambda_y=0.0)
    control.attach({"teacher": teacher})
    code = teacher.encode(held_out)["c"].numpy()

    def tracking(model):
        model.fit(DATA, budget, seed=0, progress=False)
        y = model.eval().encode(held_out)["c"].numpy()
        correlations = [np.corrcoef(y[:, d], code[:, d])[0, 1] for d in range(code.shape[1])]
        return min(correlations), ((y - code) ** 2).mean() / code.var(0).mean()

    worst, error = tracking(student)
    assert worst > 0.95 and error < 0.05, (worst, error)  # measured: 0.999 and 7e-4
    worst, error = tracking(control)
    assert worst < 0.5 and error > 1, (worst, error)  # measured: 0.06 at best, error 65 variances


def test_the_paper_preset_is_the_authors_network_at_any_multiple_of_16():
    cls = zoo.get("jacobian_student")
    for side in (32, 64):
        model = cls(build(cls.Config, {"architecture": "paper"}), (3, side, side))
        teacher = zoo.get("beta_tcvae")(build(zoo.get("beta_tcvae").Config, {}), (3, side, side))
        model.attach({"teacher": teacher})
        model.eval()
        x = torch.rand(2, 3, side, side)
        codes = model.encode(x)
        assert codes["c"].shape == (2, 10) and codes["z"].shape == (2, 5)
        assert model.decode(codes).shape == x.shape
        teacher_ids = {id(p) for p in teacher.parameters()}
        assert not teacher_ids & {id(p) for p in model.parameters()}  # neither trained nor saved with the student
        assert model.num_params() == sum(p.numel() for p in [*model.encoder.parameters(), *model.decoder.parameters()])
