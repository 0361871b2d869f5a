"""Trained models: built from a job, trained or taken from the artifact cache, with the upstream
stages they build on attached. The runner trains through `obtain_model`; the report's figures
load through `CachedModels`. Sits between the cache and the runner: it imports the zoo and the
cache, and nothing that depends on it.
"""

import math
import time

import torch

import models as zoo
from bench.cache import ArtifactCache, CorruptArtifact
from bench.config import build
from bench.naming import canonical_json
from bench.provenance import training_record
from models._ensemble import can_ensemble, fit_ensemble, member_generator


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


def obtain_model(job, data, cache: ArtifactCache, device: str, progress: bool, log, claims=None,
                 ensembled=None) -> tuple:
    """The trained model for `job`: from the cache when present, else trained and cached.
    Upstream stages (e.g. MS-VAE's stage one) are obtained first, the same way, and attached.
    A damaged artifact is set aside (kept for inspection) and trained again. With `claims`
    (runs sharing a store), a model that another run is training now is waited for, not
    trained twice. `ensembled`: what `train_ensembles` gave, {key: (model, seconds) or the
    exception that stopped that member}; a job found there is taken from it (once).

    Returns (model, reused, train_seconds); train_seconds counts this job's own training only
    (an ensemble member's: the ensemble's time over its members).
    """
    if ensembled and job.key in ensembled:
        outcome = ensembled.pop(job.key)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome[0], False, outcome[1]
    upstream = {}
    for slot, stage in job.upstream:
        stage_log = lambda message, slot=slot, stage=stage: log(f"{slot} {stage.model}: {message}")  # noqa: E731
        try:
            upstream[slot], reused, seconds = obtain_model(stage, data, cache, device, progress, stage_log, claims,
                                                           ensembled)
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
        cache.save(job.key, model, job.spec, losses, trained_on=training_record(device, model.training_mode()))
    finally:
        if claims is not None:
            claims.release(claim)
    return model, False, seconds


def plan_ensembles(jobs, cache: ArtifactCache, size: int) -> list[list]:
    """Groups of two or more jobs (among `jobs` and the stages they build on) that are not trained yet and
    may train together as one batched ensemble: one model class that can (`can_ensemble`), the same config
    apart from its loss weights (and the fields that choose its stages), the same data, budget (fp32)
    and code; members with stages each get their own, trained first. Each group is
    split into near-equal parts of at most `size`; `size` 1 plans none. Groups come in the order they
    can train: a group's stages never in a later group."""
    if size < 2:
        return []
    alike = {}
    for job in all_jobs(jobs).values():
        cls = zoo.get(job.model)
        if not can_ensemble(cls) or job.budget.precision != "fp32" or cache.has(job.key):
            continue
        fixed = {name: value for name, value in job.params.items() if name not in cls.ensemble_weights}
        # each member has its own stages; the fixed params name their kind and architecture
        spec = {**job.spec, "params": fixed, "seed": None, "upstream": sorted(slot for slot, _ in job.upstream)}
        alike.setdefault(canonical_json(spec), []).append(job)
    groups = []
    for members in alike.values():
        parts = math.ceil(len(members) / size)
        groups.extend(members[i::parts] for i in range(parts))
    return sorted((group for group in groups if len(group) > 1), key=lambda group: depth(group[0]))


def depth(job) -> int:
    """0 for a job that builds on no stage, else one more than its deepest stage: stages train first."""
    return 1 + max(depth(stage) for _, stage in job.upstream) if job.upstream else 0


def train_ensembles(groups, data, cache: ArtifactCache, device: str, progress: bool, log, claims=None) -> dict:
    """Train each group of `plan_ensembles` as one batched ensemble (models/_ensemble.py) and cache each
    member as its own job's artifact, recorded as trained in an ensemble. Returns {key: (model, seconds)
    or the exception that stopped that member} for `obtain_model`. With `claims`, members another run is
    training are left to it; a group left with fewer than two trains nothing here."""
    outcome = {}
    for group in groups:
        mine = group if claims is None else [job for job in group if claims.acquire(f"artifact/{job.key}") is None]
        try:
            ready = [job for job in mine if not cache.has(job.key)]  # another run may have saved it meanwhile
            if len(ready) > 1:
                outcome.update(_train_group(ready, data, cache, device, progress, log, claims))
        finally:
            for job in mine if claims is not None else ():
                claims.release(f"artifact/{job.key}")
    return outcome


def _train_group(group, data, cache, device, progress, log, claims=None) -> dict:
    trained, stages = {}, []
    for job in group:  # each member's own stages, from the cache (an earlier group saved them) or trained now
        upstream = {}
        for slot, stage in job.upstream:
            try:
                upstream[slot] = obtain_model(stage, data, cache, device, progress, log, claims)[0]
            except Exception as exc:  # noqa: BLE001 - this member fails, as obtain_model would say; the others train
                trained[job.key] = UpstreamFailed(f"{slot} {stage.display} failed: {type(exc).__name__}: {exc}")
                upstream = None
                break
        stages.append(upstream)
    group, stages = [j for j, s in zip(group, stages) if s is not None], [s for s in stages if s is not None]
    if len(group) < 2:  # nothing to batch: a lone member trains alone later (obtain_model)
        return trained
    names = ", ".join(job.display for job in group)
    members, generators = [], []
    try:
        for job, upstream in zip(group, stages):
            members.append(build_model(job, data, device, upstream))
            generators.append(member_generator(device))  # the state training alone would draw from
        start = time.perf_counter()
        results = fit_ensemble(members, generators, data, group[0].budget, [job.seed for job in group], progress,
                               desc=group[0].label)
    except Exception as exc:  # noqa: BLE001 - every member fails with it; the rest of the suite goes on
        log(f"ensemble of {len(group)} ({names}) failed: {type(exc).__name__}: {exc}")
        return {**trained, **{job.key: exc for job in group}}
    seconds = (time.perf_counter() - start) / len(group)
    for job, model, result in zip(group, members, results):
        if isinstance(result, BaseException):
            trained[job.key] = result
        else:
            cache.save(job.key, model, job.spec, result,
                       trained_on=training_record(device, model.training_mode(ensemble=len(group))))
            trained[job.key] = (model, seconds)
    log(f"trained {sum(not isinstance(r, BaseException) for r in results)} of {len(group)} as one batched "
        f"ensemble in {seconds * len(group):.1f}s: {names}")
    return trained


def all_jobs(jobs) -> dict:
    """{key: job} of `jobs` and every upstream stage they build on."""
    found = {}
    for job in jobs:
        found.setdefault(job.key, job)  # a suite job that is also a stage keeps its own name
        for key, stage in all_jobs(stage for _, stage in job.upstream).items():
            found.setdefault(key, stage)
    return found


class CachedModels:
    """The trained models of a suite's jobs, for the figures that need a model, each built once
    per report (figures must not change the models they are handed). In a report (`train`
    False) a model is loaded from the artifact cache, and a missing or damaged artifact raises
    CorruptArtifact (the figure is skipped); in a run (`train` True) it is set aside and
    trained again, as any job's would be."""

    def __init__(self, jobs, cache: ArtifactCache, data, device: str = "cpu", train: bool = False,
                 progress: bool = False, log=print):
        self.jobs, self.cache, self.data, self.device = all_jobs(jobs), cache, data, device
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
