"""Turn a trained model and its dataset into the arrays the metrics need, and score them.

Evaluation data come from their own random stream (seeded by the job seed), separate
from the training batches. A metric the model cannot support is recorded as missing
with the reason; a metric's warnings are kept with its score.
"""

import inspect
import warnings

import numpy as np
import pandas as pd
import torch

from bench.features import FeaturesUnavailable, FeatureSpaces
from bench.metrics import METRICS

EVAL_BATCH = 256
SAMPLE_CACHE_BYTES = 512 * 2**20  # evaluation images kept across jobs; beyond this, drawn again


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


def _reconstructed(model, images, params, seed, memo) -> np.ndarray:
    """The reconstructions of the evaluation images under the metric's protocol, made once per job."""
    key = ("reconstructions", params["reconstruction"], params["num_points"])  # num_points names the image set
    if key not in memo:
        memo[key] = reconstructions(model, images, params["reconstruction"], seed)
    return memo[key]


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


class Missing(str):
    """An output a metric cannot give for this model; the text is the reason."""


@torch.no_grad()
def generated(model, n: int, seed: int, **options) -> np.ndarray:
    """n random samples from the model (`options` go to its `sample`), reproducible per seed,
    leaving the global RNG as it was."""
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        parts = [model.sample(min(EVAL_BATCH, n - start), **options).float().cpu().numpy()
                 for start in range(0, n, EVAL_BATCH)]
    return np.concatenate(parts)


def _extractor(spaces, params, data):
    if params["space"] == "inception":
        return spaces.extractor("inception", data)
    return spaces.extractor("domain", data, params["feature_seed"], params["feature_steps"])


FID_MIN_POINTS = 2048  # below the 2048 Inception features the covariance is singular


def _feature_scores(info, params, model, data, images, seed, spaces, memo) -> dict:
    """{name}_recon and {name}_sample: the dataset's evaluation images against the model's
    reconstructions of them, and against as many random samples."""
    extractor = _extractor(spaces, params, data)
    if params["space"] == "inception" and len(images) < FID_MIN_POINTS:
        warnings.warn(f"{len(images)} images for 2048 Inception features: the covariance is singular and "
                      f"the score biased upwards; use num_points >= {FID_MIN_POINTS}", RuntimeWarning)
    real = spaces.reference(extractor, data, images)
    extra = {k: v for k, v in params.items()
             if k not in ("num_points", "space", "feature_seed", "feature_steps", "reconstruction")}
    if "seed" in inspect.signature(info.fn).parameters:  # KID's random subsets
        extra["seed"] = seed
    values = {}
    for variant, make in (("recon", lambda: _reconstructed(model, images, params, seed, memo)),
                          ("sample", lambda: generated(model, len(images), seed))):
        protocol = params["reconstruction"] if variant == "recon" else None
        key = (extractor.space, id(extractor), variant, protocol, params["num_points"])
        if key not in memo:
            try:
                memo[key] = extractor(make())
            except NotImplementedError as exc:
                memo[key] = Missing(str(exc) or f"{model.name} cannot {variant}")
        fake = memo[key]
        values[f"{info.name}_{variant}"] = fake if isinstance(fake, Missing) else info.fn(real, fake, **extra)
    return values


# M_k = MI[C_R; C_view] (section 4); M_shuffled_y is the authors' control with Y from another image
CONDITIONING_VIEWS = {"M1": "C_Y", "M2": "C_X", "M3": "C_z_eps", "M4": "C_Y_eps", "M_shuffled_y": "C_Y_shuffled"}


def synthetic_table(model, data, seed: int, rows: str = "sample"):
    """As many generated rows as D_test has (section 6.3.2), in the table's own units: `rows`
    "sample" draws them from the model's likelihood, "mean" takes decoder means; either way
    section 6.2's post-processing clips them to [0, 1] before inverting the transform."""
    return data.transform.inverse(generated(model, len(data.test), seed, rows=rows))


def _normalised(data, frame):
    """A table in section 6.2's normalised space (the transform fitted on D_train, clipped to [0, 1])."""
    return pd.DataFrame(data.transform(frame, clip=True), columns=frame.columns)


def _table_scores(info, params, model, data, seed, memo) -> dict:
    """Section 6.3's comparisons of one synthetic table: {name}_train and {name}_test against
    D_train and D_test (the classifier two-sample test: a D_test-sized sample of D_train, and D_test)."""
    params = dict(params)
    rows = params.pop("rows")
    if ("table", rows) not in memo:
        memo["table", rows] = synthetic_table(model, data, seed, rows)
    synthetic = memo["table", rows]
    if info.needs == "detection":
        result = info.fn(data.test, synthetic, categorical=data.categorical, seed=seed, real_train=data.train, **params)
        # the AUC on the classifier's own training part is a diagnostic only, kept in the details
        return {f"{info.name}_{part}_auc": {"mean": result[f"{part}_auc"], "own_split_auc": result[f"{part}_fit_auc"]}
                for part in ("train", "test")}
    tables = (data.train, data.test, synthetic)
    if params.pop("space", "raw") == "normalised":
        tables = tuple(_normalised(data, frame) for frame in tables)
    values = {}
    for output, real in zip(info.outputs, tables[:2]):
        value = info.fn(real, tables[2], data.categorical, **params)
        values[output] = {"mean": float(value.mean()), **value.to_dict()} if hasattr(value, "to_dict") else value
    return values


def _compute(info, params, model, data, images, factors, seed, spaces, memo) -> dict:
    """{output name: value or Missing(reason)} for one metric; raises NotImplementedError where the
    model lacks what the whole metric needs, FeaturesUnavailable where its feature space is."""
    if info.kind == "tables":
        return _table_scores(info, params, model, data, seed, memo)
    if info.needs == "features":
        return _feature_scores(info, params, model, data, images, seed, spaces, memo)
    if info.needs == "codes":  # disentanglement scores: on the factors the dataset declares for them
        scored = factors[:, list(data.disentanglement_factors)] if data.disentanglement_factors else factors
        return {info.name: info.fn(codes(model, images, params["representation"], seed), scored,
                                   num_bins=params["num_bins"])}
    if info.needs == "reconstructions":
        return {info.name: info.fn(images, _reconstructed(model, images, params, seed, memo))}
    if info.needs == "elbo":
        return {info.name: info.fn(**elbo_terms(model, images, seed, params["samples"]))}
    if info.needs == "conditioning":
        views = conditioning_codes(model, images, seed)
        return {out: info.fn(views["C_R"], views[CONDITIONING_VIEWS[out]], params["num_bins"]) for out in info.outputs}
    # representations: C, Z and C+Z, each predicting every factor
    enc = encodings(model, images)
    values = {"downstream_C": info.fn(enc["c"], factors, seed=seed)}
    if "z" not in enc:
        return {**values, "downstream_Z": Missing("single-stage models have no Z"),
                "downstream_CZ": Missing("single-stage models have no Z")}
    values["downstream_Z"] = info.fn(enc["z"], factors, seed=seed)
    values["downstream_CZ"] = info.fn(np.concatenate([enc["c"], enc["z"]], axis=1), factors, seed=seed)
    return values


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
    memo = {}  # reconstructions' and samples' features, shared by the metrics of one feature space

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
        images, factors = sample(spec.params["num_points"]) if info.kind == "images" else (data.test, None)
        values, missing = {}, None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                values = _compute(info, spec.params, model, data, images, factors, seed, spaces, memo)
            except (NotImplementedError, FeaturesUnavailable) as exc:
                missing = str(exc)
        details = {"num_points": len(images), "warnings": sorted({str(w.message) for w in caught})}
        if info.needs == "features" and not missing:
            details["features"] = _extractor(spaces, spec.params, data).record
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
