"""Trained models: built from a job, trained or taken from the artifact cache, with the upstream
stages they build on attached. The runner trains through `obtain_model`; the report's figures
load through `CachedModels`. Sits between the cache and the runner: it imports the zoo and the
cache, and nothing that depends on it.
"""

import time

import torch

import models as zoo
from bench.cache import ArtifactCache, CorruptArtifact
from bench.config import build
from bench.provenance import training_record


class UpstreamFailed(RuntimeError):
    """A stage this job builds on could not be trained or loaded."""


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)  # seeds the CPU and every CUDA generator
    # cuDNN's autotuned convolution algorithms differ from run to run; fixed ones make GPU scores repeatable
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def build_model(job, data, device: str, upstream: dict):
    """A fresh, seeded model for `job` with its trained upstream stages attached."""
    _seed_everything(job.seed)
    cls = zoo.get(job.model)
    model = cls(build(cls.Config, job.params), data.data_shape).to(device)
    model.prepare(data)
    if upstream:
        model.attach(upstream)
    return model


def obtain_model(job, data, cache: ArtifactCache, device: str, progress: bool, log, claims=None) -> tuple:
    """The trained model for `job`: from the cache when present, else trained and cached.
    Upstream stages (e.g. MS-VAE's stage one) are obtained first, the same way, and attached.
    A damaged artifact is set aside (kept for inspection) and trained again. With `claims`
    (runs sharing a store), a model that another run is training now is waited for, not
    trained twice.

    Returns (model, reused, train_seconds); train_seconds counts this job's own training only.
    """
    upstream = {}
    for slot, stage in job.upstream:
        stage_log = lambda message, slot=slot, stage=stage: log(f"{slot} {stage.model}: {message}")  # noqa: E731
        try:
            upstream[slot], reused, seconds = obtain_model(stage, data, cache, device, progress, stage_log, claims)
        except Exception as exc:
            raise UpstreamFailed(f"{slot} {stage.display} failed: {type(exc).__name__}: {exc}") from exc
        if not reused:
            stage_log(f"trained in {seconds:.1f}s (cached for later jobs)")

    def cached():
        """The cached model, or None (a damaged artifact is set aside on the way)."""
        if not cache.has(job.key):
            return None
        model = build_model(job, data, device, upstream)
        try:
            cache.load_into(job.key, model)
        except CorruptArtifact as exc:
            moved = cache.set_aside(job.key)
            log(f"warning: {exc}; " + (f"moved it to {moved} and training again" if moved else "training again"))
            return None
        log(f"reused cached artifact {cache.path(job.key)}")
        return model

    if (model := cached()) is not None:
        return model, True, 0.0
    claim = f"artifact/{job.key}"
    if claims is not None:
        claims.wait_for(claim, on_wait=lambda holder: log(f"waiting: another run ({holder}) is training this model"))
    try:
        if claims is not None and (model := cached()) is not None:  # trained by the run we waited for
            return model, True, 0.0
        model = build_model(job, data, device, upstream)
        start = time.perf_counter()
        losses = model.fit(data, job.budget, seed=job.seed, progress=progress, desc=job.display)
        seconds = time.perf_counter() - start
        cache.save(job.key, model, job.spec, losses, trained_on=training_record(device))
    finally:
        if claims is not None:
            claims.release(claim)
    return model, False, seconds


def _all_jobs(jobs) -> dict:
    """{key: job} of `jobs` and every upstream stage they build on."""
    found = {}
    for job in jobs:
        found[job.key] = job
        found.update(_all_jobs(stage for _, stage in job.upstream))
    return found


class CachedModels:
    """The trained models of a suite's jobs, for the figures that need a model, each built once
    per report (figures must not change the models they are handed). In a report (`train`
    False) a model is loaded from the artifact cache, and a missing or damaged artifact raises
    CorruptArtifact (the figure is skipped); in a run (`train` True) it is set aside and
    trained again, as any job's would be."""

    def __init__(self, jobs, cache: ArtifactCache, data, device: str = "cpu", train: bool = False,
                 progress: bool = False, log=print):
        self.jobs, self.cache, self.data, self.device = _all_jobs(jobs), cache, data, device
        self.train, self.progress, self.log = train, progress, log
        self._loaded = {}

    def load(self, key: str):
        if key not in self._loaded:
            job = self.jobs.get(key)
            if job is None:
                raise CorruptArtifact(f"no job of this suite has the key {key}")
            try:
                model = self._from_cache(job)
            except CorruptArtifact:
                if not self.train:
                    raise
                model = obtain_model(job, self.data, self.cache, self.device, self.progress,  # sets it aside, retrains
                                     lambda message: self.log(f"figure model {job.display}: {message}"))[0]
            self._loaded[key] = model.eval()
        return self._loaded[key]

    def losses(self, key: str) -> list:
        """The loss log the job's model was trained with (figures of training curves)."""
        return self.cache.loss_log(key)

    def _from_cache(self, job):
        if not self.cache.has(job.key):
            raise CorruptArtifact(f"cached artifact {self.cache.path(job.key)} is missing")
        model = build_model(job, self.data, self.device, {slot: self.load(stage.key) for slot, stage in job.upstream})
        self.cache.load_into(job.key, model)
        return model
