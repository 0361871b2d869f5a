"""Run a suite: for each job, train or load its model, evaluate it, record the result.

Jobs whose scores are already stored are skipped; trained models come from the artifact
cache when present; one failing job is recorded with its phase and reason and never
stops the others.
"""

import datetime
import importlib.metadata
import json
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

import models as zoo
from bench import data as datasets
from bench.cache import ArtifactCache, CorruptArtifact
from bench.config import build
from bench.evaluate import evaluate
from bench.features import FeatureSpaces
from bench.store import Store


class DeviceError(ValueError):
    pass


class UpstreamFailed(RuntimeError):
    """A stage this job builds on could not be trained or loaded."""


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' when CUDA is present, else 'cpu'; 'cuda[:N]' is checked to exist."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: CUDA is not available on this machine (use cpu or auto)")
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise DeviceError(f"--device {name}: no such GPU (this machine has {torch.cuda.device_count()})")
        return name
    raise DeviceError(f"--device {name!r}: expected auto, cpu, cuda or cuda:N")


def code_version() -> dict:
    """Git sha of the msbench checkout (or, for an installed copy, of the working directory)."""
    def git(root, *args):
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else None

    sha = dirty = None
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        try:
            sha = git(root, "rev-parse", "--verify", "HEAD")
            dirty = bool(git(root, "status", "--porcelain", "--untracked-files=no")) if sha else None
        except (OSError, subprocess.SubprocessError):
            continue
        if sha:
            break
    versions = {}
    for package in ("msbench", "torch", "numpy", "scikit-learn", "scipy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"git_sha": sha, "git_dirty": dirty, "python": platform.python_version(), "packages": versions}


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def device_description(device: str) -> str:
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


PHASE_VERB = {"train": "training", "evaluate": "evaluating"}


@dataclass
class RunSummary:
    skipped: int = 0
    ok: int = 0
    failed: list = field(default_factory=list)  # (job display, phase, reason)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)  # seeds the CPU and every CUDA generator
    # cuDNN's autotuned convolution algorithms differ from run to run; fixed ones make GPU scores repeatable
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def obtain_model(job, data, cache: ArtifactCache, device: str, progress: bool, log) -> tuple:
    """The trained model for `job`: from the cache when present, else trained and cached.
    Upstream stages (e.g. MS-VAE's stage one) are obtained first, the same way, and attached.

    Returns (model, reused, train_seconds); train_seconds counts this job's own training only.
    """
    upstream = {}
    for slot, stage in job.upstream:
        stage_log = lambda message, slot=slot, stage=stage: log(f"{slot} {stage.model}: {message}")  # noqa: E731
        try:
            upstream[slot], reused, seconds = obtain_model(stage, data, cache, device, progress, stage_log)
        except Exception as exc:
            raise UpstreamFailed(f"{slot} {stage.display} failed: {type(exc).__name__}: {exc}") from exc
        if not reused:
            stage_log(f"trained in {seconds:.1f}s (cached for later jobs)")
    cls = zoo.get(job.model)
    config = build(cls.Config, job.params)

    def fresh():
        _seed_everything(job.seed)
        model = cls(config, data.data_shape).to(device)
        model.prepare(data)
        if upstream:
            model.attach(upstream)
        return model

    model = fresh()
    if cache.has(job.key):
        try:
            cache.load_into(job.key, model)
            log(f"reused cached artifact {cache.path(job.key)}")
            return model, True, 0.0
        except CorruptArtifact as exc:
            moved = cache.set_aside(job.key)
            log(f"warning: {exc}; moved it to {moved} and training again")
            model = fresh()
    start = time.perf_counter()
    losses = model.fit(data, job.budget, seed=job.seed, progress=progress, desc=job.display)
    seconds = time.perf_counter() - start
    cache.save(job.key, model, job.spec, losses)
    return model, False, seconds


class CachedModels:
    """Trained models rebuilt from the artifact cache alone (for figures that need a model):
    each artifact's spec.json names its model, config and upstream stages. Each is built once
    per report; figures must not change the models they are handed."""

    def __init__(self, cache: ArtifactCache, data, device: str = "cpu"):
        self.cache, self.data, self.device = cache, data, device
        self._loaded = {}

    def load(self, key: str):
        if key not in self._loaded:
            spec = json.loads((self.cache.path(key) / "spec.json").read_text())
            cls = zoo.get(spec["model"])
            model = cls(build(cls.Config, spec["params"]), self.data.data_shape).to(self.device)
            model.prepare(self.data)
            if spec["upstream"]:
                model.attach({slot: self.load(k) for slot, k in spec["upstream"].items()})
            self.cache.load_into(key, model)
            self._loaded[key] = model.eval()
        return self._loaded[key]


def run_suite(suite, store: Store, cache: ArtifactCache, device: str = "cpu", progress: bool = True,
              out=None, fid_weights=None, data=None) -> RunSummary:
    """`fid_weights`: the Inception weights file for FID (else $MSBENCH_FID_WEIGHTS, else torch's hub cache);
    `data`: the suite's dataset, already loaded (else loaded here, from the default data root)."""
    out = out or sys.stderr
    summary = RunSummary()
    metric_ids = suite.metric_ids
    version = code_version()
    device_info = device_description(device)
    data = data if data is not None else datasets.load(suite.dataset["name"], **suite.dataset["params"])
    width = len(str(len(suite.jobs)))
    suite_start, job_seconds = time.perf_counter(), []
    eval_samples = {}  # evaluation data, drawn once per (seed, size) and shared by all models
    spaces = FeatureSpaces(cache, device, fid_weights, progress, log=lambda m: tqdm.write(m, file=out))

    for index, job in enumerate(suite.jobs, 1):
        prefix = f"[{index:>{width}}/{len(suite.jobs)}] {job.display}"

        def log(message, prefix=prefix):
            tqdm.write(f"{prefix}: {message}", file=out)

        if store.done(suite.name, job.key, metric_ids):
            summary.skipped += 1
            log("already scored, skipped")
            continue
        store.start(suite.name, job, device_info, version, _now())
        phase = "train"
        try:
            model, reused, train_seconds = obtain_model(job, data, cache, device, progress, log)
            phase = "evaluate"
            start = time.perf_counter()
            scores = evaluate(model, data, suite.metrics, job.seed, eval_samples, spaces)
            eval_seconds = time.perf_counter() - start
        except KeyboardInterrupt:
            store.fail(suite.name, job.key, phase, "interrupted by the user", _now())
            raise
        except Exception as exc:  # noqa: BLE001 - one failed job must not stop the suite
            reason = f"{type(exc).__name__}: {exc}"
            store.fail(suite.name, job.key, phase, reason, _now())
            summary.failed.append((job.display, phase, reason))
            log(f"FAILED while {PHASE_VERB[phase]}: {reason}")
            if not isinstance(exc, (zoo.TrainingDiverged, UpstreamFailed)):
                tqdm.write("".join(traceback.format_exception(exc)[-3:]).rstrip(), file=out)
            continue
        store.finish(suite.name, job.key, scores, model.num_params(), reused, train_seconds, eval_seconds, _now())
        summary.ok += 1
        job_seconds.append(train_seconds + eval_seconds)
        shown = " ".join(f"{s['metric_id'].split('[')[0]}={s['value']:.4g}" for s in scores if s["value"] is not None)
        missing = sum(s["value"] is None for s in scores)
        shown += f" ({missing} not applicable, see the leaderboard)" if missing else ""
        how = "reused" if reused else f"trained in {train_seconds:.1f}s"
        eta = sum(job_seconds) / len(job_seconds) * (len(suite.jobs) - index)
        log(f"{how}, evaluated in {eval_seconds:.1f}s: {shown} "
            f"(suite {_clock(time.perf_counter() - suite_start)} elapsed, ~{_clock(eta)} left)")
    return summary
