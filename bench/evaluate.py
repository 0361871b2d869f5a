"""Turn a trained model and its dataset into the inputs the metrics consume, and score them.

Each metric declares the input it consumes (`bench.metrics.registry.INPUTS`); this module has
one collector per input, and nothing that knows any metric by name. Evaluation data come from
their own random stream (seeded by the job seed), separate from the training batches. A metric
the model cannot support is recorded as missing with the reason; a metric's warnings are kept
with its score.
"""

import dataclasses
import warnings

import numpy as np
import pandas as pd
import torch

from bench.features import FeaturesUnavailable, FeatureSpaces
from bench.generate import EVAL_BATCH, generated, synthetic_table
from bench.metrics import INPUTS, METRICS, Missing

SAMPLE_CACHE_BYTES = 512 * 2**20  # evaluation images kept across jobs; beyond this, drawn again
FID_MIN_POINTS = 2048  # below the 2048 Inception features the covariance is singular


def _batches(images: np.ndarray, device):
    for start in range(0, len(images), EVAL_BATCH):
        # a copy, so no model can alter the evaluation images shared across jobs
        yield torch.tensor(images[start:start + EVAL_BATCH], device=device)


@torch.no_grad()
def encodings(model, images: np.ndarray) -> dict:
    """Everything `model.encode` returns (c, and z for multi-stage models), for all images."""
    parts = {}
    for x in _batches(images, model.device):
        for key, value in model.encode(x).items():
            parts.setdefault(key, []).append(value.float().cpu().numpy())
    return {key: np.concatenate(values) for key, values in parts.items()}


def codes(model, images: np.ndarray, representation: str = "mean", seed: int = 0) -> np.ndarray:
    """The representation for disentanglement metrics: encoder mean, or one posterior sample."""
    enc = encodings(model, images)
    if representation == "mean":
        return enc["c"]
    noise = torch.randn(enc["c"].shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return enc["c"] + np.exp(0.5 * enc["c_logvar"]) * noise.numpy()


@torch.no_grad()
def reconstructions(model, images: np.ndarray, protocol: str = "sample", seed: int = 0) -> np.ndarray:
    """Each image decoded from its code: "sample" draws one c ~ q(c|x) per image (appendix J, and
    disentanglement-lib's reconstructions; MS-VAE's Y is decoded from that c), from a stream
    seeded by `seed`, so an image keeps its c across metrics and runs; "mean" decodes E[c|x]."""
    if protocol not in ("sample", "mean"):
        raise ValueError(f"reconstruction must be 'sample' or 'mean', got {protocol!r}")
    noise = torch.Generator().manual_seed(seed) if protocol == "sample" else None  # CPU: same draws on any device
    return np.concatenate([model.reconstruct(x, c_noise=noise).float().cpu().numpy()
                           for x in _batches(images, model.device)])


@torch.no_grad()
def conditioning_codes(model, images: np.ndarray, seed: int) -> dict:
    """Batched `model.conditioning_codes`: stage one's codes of X and of each compared image set."""
    if not hasattr(model, "conditioning_codes"):
        raise NotImplementedError("the conditioning check is defined for multi-stage models only")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    parts = [model.conditioning_codes(x, generator) for x in _batches(images, model.device)]
    return {k: np.concatenate([p[k].float().cpu().numpy() for p in parts]) for k in parts[0]}


@torch.no_grad()
def elbo_terms(model, images: np.ndarray, seed: int, samples: int = 1) -> dict:
    """Batched `model.elbo`: per-image ELBO terms, the posterior noise from one CPU stream seeded by `seed`."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    parts = [model.elbo(x, generator, samples) for x in _batches(images, model.device)]
    return {k: np.concatenate([p[k].double().cpu().numpy() for p in parts]) for k in parts[0]}


@torch.no_grad()
def log_densities(model, images: np.ndarray) -> dict:
    """Batched `model.log_density`: per-image log-densities (nats) of the whole model and of its parts."""
    parts = [model.log_density(x) for x in _batches(images, model.device)]
    return {k: np.concatenate([p[k].double().cpu().numpy() for p in parts]) for k in parts[0]}


@dataclasses.dataclass
class _Context:
    """What every collector of one job may use. `images`/`factors`: the evaluation images of the
    metric at hand (None for a metric without num_points); `memo`: what metrics of one job share."""

    model: object
    data: object
    seed: int
    spaces: FeatureSpaces
    memo: dict
    images: np.ndarray | None = None
    factors: np.ndarray | None = None


COLLECTORS = {}


def collects(name: str):
    """Register the collector of input `name` (one of bench.metrics.registry.INPUTS)."""
    if name not in INPUTS:
        raise ValueError(f"no input {name!r} is declared in bench.metrics.registry.INPUTS")

    def register(fn):
        COLLECTORS[name] = fn
        return fn

    return register


def _reconstructed(job: _Context, params) -> np.ndarray:
    """The reconstructions of the evaluation images under the metric's protocol, made once per job."""
    key = ("reconstructions", params.reconstruction, params.num_points)  # num_points names the image set
    if key not in job.memo:
        job.memo[key] = reconstructions(job.model, job.images, params.reconstruction, job.seed)
    return job.memo[key]


def _scored_factors(data, factors: np.ndarray) -> np.ndarray:
    """The factors the dataset declares for disentanglement scores (all when it declares none)."""
    return factors[:, list(data.disentanglement_factors)] if data.disentanglement_factors else factors


@collects("codes")
def _codes(job: _Context, params) -> dict:
    representation = getattr(params, "representation", "mean")
    return {"codes": codes(job.model, job.images, representation, job.seed),
            "factors": _scored_factors(job.data, job.factors)}


@collects("images")
def _images(job: _Context, params) -> dict:
    return {"images": job.images, "reconstructions": _reconstructed(job, params)}


@collects("conditioning")
def _conditioning(job: _Context, params) -> dict:
    return {"views": conditioning_codes(job.model, job.images, job.seed)}


@collects("representations")
def _representations(job: _Context, params) -> dict:
    enc = encodings(job.model, job.images)
    return {"C": enc["c"], "factors": job.factors, **({"Z": enc["z"]} if "z" in enc else {})}


@collects("elbo")
def _elbo(job: _Context, params) -> dict:
    return {"terms": elbo_terms(job.model, job.images, job.seed, params.samples)}


def _extractor(spaces, params, data):
    if params.space == "inception":
        return spaces.extractor("inception", data)
    return spaces.extractor("domain", data, params.feature_seed, params.feature_steps)


@collects("features")
def _features(job: _Context, params) -> dict:
    """The evaluation images' features, and those of their reconstructions and of as many random
    samples; the model's are computed once per job and feature space, shared by its metrics."""
    extractor = _extractor(job.spaces, params, job.data)
    if params.space == "inception" and len(job.images) < FID_MIN_POINTS:
        warnings.warn(f"{len(job.images)} images for 2048 Inception features: the covariance is singular and "
                      f"the score biased upwards; use num_points >= {FID_MIN_POINTS}", RuntimeWarning)
    found = {"real": job.spaces.reference(extractor, job.data, job.images), "_details": {"features": extractor.record}}
    for variant, make in (("recon", lambda: _reconstructed(job, params)),
                          ("sample", lambda: generated(job.model, len(job.images), job.seed))):
        protocol = params.reconstruction if variant == "recon" else None
        key = (extractor.space, id(extractor), variant, protocol, params.num_points)
        if key not in job.memo:
            try:
                job.memo[key] = extractor(make())
            except NotImplementedError as exc:
                job.memo[key] = Missing(str(exc) or f"{job.model.name} cannot {variant}")
        found[variant] = job.memo[key]
    return found


GROUP_CHUNK = 16  # groups rendered and encoded together: 16 x 64 images per pass


def _groups(job: _Context, count: int, size: int, factors: list, rng) -> dict:
    """`count` groups of `size` images, each sharing the value of one factor drawn uniformly from
    `factors` (dataset indices); their codes (count, size, K) and that factor's position in `factors`."""
    chosen = rng.integers(0, len(factors), size=count)
    parts = []
    for start in range(0, count, GROUP_CHUNK):
        images = np.concatenate([job.data.sample_with_fixed_factor(size, factors[k], rng)[0]
                                 for k in chosen[start:start + GROUP_CHUNK]])
        parts.append(codes(job.model, images))
    flat = np.concatenate(parts)
    return {"codes": flat.reshape(count, size, flat.shape[1]), "factor": chosen}


@collects("log_density")
def _log_density(job: _Context, params) -> dict:
    """The model's log-densities of the dataset's held-out images, each dequantised once into the unit
    cube, (v + u) / levels with u ~ U[0, 1) from a stream of its own ([seed, 6])."""
    if not hasattr(job.data, "held_out_set"):
        raise NotImplementedError(f"dataset {job.data.name} holds no rows out of training")
    images, _ = job.data.held_out_set()
    levels = job.data.pixel_max + 1
    values = np.round(images.astype(np.float64) * job.data.pixel_max)
    noise = np.random.default_rng([job.seed, 6]).random(values.shape)
    density = log_densities(job.model, ((values + noise) / levels).astype(np.float32))
    return {"log_density": density.pop("log_density"), "parts": density, "dims": int(np.prod(images.shape[1:])),
            "levels": int(levels), "_details": {"num_points": len(images)}}


@collects("generated_factors")
def _generated_factors(job: _Context, params) -> dict:
    """Images generated from the evaluation images' factor values, one noise draw per pass from a
    stream of its own ([seed, 8]), read back by the domain net's factor heads; or the model's reading
    of its own code."""
    model, generator = job.model, torch.Generator().manual_seed(job.seed * 1000 + 8)
    if not model.can("conditional"):
        if model.can("own_code"):
            own = model.recover_code(len(job.images), generator)
            return {"own": {k: v.float().cpu().numpy() if v.is_floating_point() else v.cpu().numpy()
                            for k, v in own.items()}}
        raise NotImplementedError(f"{model.name} generates from no given factor values and reads no code of its own")
    factors = torch.from_numpy(job.factors)
    model.generate(factors[:1].to(model.device), torch.Generator())  # a setting that cannot says so before the reader is built
    reader = job.spaces.extractor("domain", job.data, params.feature_seed, params.feature_steps)
    predicted = []
    with torch.no_grad():
        for _ in range(params.draws):
            images = torch.cat([model.generate(part.to(model.device), generator).float().cpu()
                                for part in factors.split(EVAL_BATCH)])
            predicted.append(reader.factors(images))
    real = reader.factors(job.images)
    return {"factors": job.factors, "predicted": np.stack(predicted),
            "reader": float((real == job.factors).mean()), "_details": {"features": reader.record}}


@collects("factor_groups")
def _factor_groups(job: _Context, params) -> dict:
    """Codes (encoder means) of random images, for the global variances, and of groups of images
    that share one factor's value (the FactorVAE score's training and evaluation votes), drawn
    from a stream of their own ([seed, 5]) through the dataset's `sample_with_fixed_factor`."""
    data = job.data
    if not hasattr(data, "sample_with_fixed_factor"):
        raise NotImplementedError(f"dataset {data.name} cannot fix one factor and sample the others")
    factors = list(data.disentanglement_factors or range(len(data.factor_sizes)))
    rng = np.random.default_rng([job.seed, 5])
    variance_images, _ = data.sample(params.num_variance_estimate, rng)
    return {"variance_codes": codes(job.model, variance_images),
            "train": _groups(job, params.num_train, params.batch_size, factors, rng),
            "eval": _groups(job, params.num_eval, params.batch_size, factors, rng),
            "num_factors": len(factors), "_details": {"num_points": params.num_variance_estimate}}


@collects("series")
def _series(job: _Context, params) -> dict:
    """The dataset's held-out rows, their factor values, and the model's posterior means of z and
    reconstructions of them (decoded from those means: c is observed, so there is nothing to draw);
    collected once per job, for every series metric."""
    if "series" not in job.memo:
        job.memo["series"] = _collect_series(job)
    collected = job.memo["series"]
    return {**collected, "_details": dict(collected["_details"])}  # copies: evaluate pops from both


def _collect_series(job: _Context) -> dict:
    data, model = job.data, job.model
    if not hasattr(data, "held_out_set"):
        raise NotImplementedError(f"dataset {data.name} holds no rows out of training")
    rows, values = data.held_out_set()
    try:
        encoded = encodings(model, rows)
    except NotImplementedError as exc:
        z = recon = Missing(f"{model.name} cannot encode a row: {exc}")
    else:
        z = encoded["z"] if "z" in encoded else Missing(f"{model.name} has no latent z beside c")
        recon = reconstructions(model, rows, protocol="mean")
    return {"rows": rows, "values": values, "factor_names": data.factor_names, "observed": data.observed_factors,
            "hidden": data.hidden_factors, "z": z, "reconstructions": recon,
            "trajectory_start": len(data.observed_factors), "_details": {"num_points": len(rows)}}


def _normalised(data, frame):
    """A table in section 6.2's normalised space (the transform fitted on D_train, clipped to [0, 1])."""
    return pd.DataFrame(data.transform(frame, clip=True), columns=frame.columns)


@collects("tables")
def _tables(job: _Context, params) -> dict:
    """Section 6.3's inputs: the real tables and one synthetic table as large as D_test, made once
    per job and `rows` protocol."""
    data = job.data
    if ("table", params.rows) not in job.memo:
        job.memo["table", params.rows] = synthetic_table(job.model, data, job.seed, params.rows)
    return {"train": data.train, "test": data.test, "synthetic": job.memo["table", params.rows],
            "categorical": data.categorical, "normalise": lambda frame: _normalised(data, frame)}


_undone = set(INPUTS) - set(COLLECTORS)
if _undone:  # a declared input without a collector would fail at run time, in the middle of a suite
    raise RuntimeError(f"inputs declared in bench.metrics.registry but not collected here: {sorted(_undone)}")


def evaluate(model, data, metric_specs, seed: int, samples: dict | None = None,
             spaces: FeatureSpaces | None = None) -> list[dict]:
    """Score `model` on every metric spec; return one score record per stored score.

    `samples` caches evaluation data by (seed, size) across calls: models evaluated with the
    same seed see the same images, drawn once. `spaces` builds the feature spaces of the
    distribution metrics (a default one keeps nothing on disk). A score the model or this
    machine cannot support is recorded as missing, with the reason.
    """
    model.eval()
    samples = {} if samples is None else samples
    spaces = FeatureSpaces(device=str(model.device)) if spaces is None else spaces
    memo = {}  # reconstructions', samples' and features' arrays, shared by the metrics of one job

    def sample(n):
        if (seed, n) not in samples:  # a stream of its own ([seed, 1]): never the training batches
            drawn = data.every_image() if n == "all" else data.sample(n, np.random.default_rng([seed, 1]))
            if sum(images.nbytes for images, _ in samples.values()) + drawn[0].nbytes > SAMPLE_CACHE_BYTES:
                samples.clear()
            samples[seed, n] = drawn
        return samples[seed, n]

    records = []
    for spec in metric_specs:
        info = METRICS[spec.name]
        params = info.Params(**spec.params)
        job = _Context(model, data, seed, spaces, memo)
        if INPUTS[info.consumes].needs_points:
            job.images, job.factors = sample(params.num_points)
        values, missing, details = {}, None, {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                inputs = COLLECTORS[info.consumes](job, params)
                details = inputs.pop("_details", {})
                values = info.score(inputs, params, seed)
            except (NotImplementedError, FeaturesUnavailable) as exc:
                missing = str(exc)
        if job.images is not None:
            points = len(job.images)
        elif info.kind == "tables":  # compared with D_test, whether or not the table could be made
            points = len(data.test)
        else:  # an input drawn otherwise (factor_groups) says how many points it used
            points = details.pop("num_points", None)
        details = {"num_points": points, "warnings": sorted({str(w.message) for w in caught}), **details}
        for output, higher_is_better in info.directions().items():
            value, reason = (None, missing) if missing else (values[output], None)
            if isinstance(value, Missing):
                value, reason = None, str(value)
            elif isinstance(value, dict):  # per-factor detail behind a mean
                details = {**details, output: value}
                value = value["mean"]
            records.append({"metric_id": spec.output_id(output), "metric": spec.name, "version": info.version,
                            "higher_is_better": higher_is_better, "params": spec.params,
                            "value": None if value is None else float(value), "missing_reason": reason,
                            "details": details})
    return records
