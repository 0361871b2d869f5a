"""Where each metric declares itself, and the inputs the evaluator can collect for it.

A metric module defines its pure array function(s), a frozen Params dataclass (what a suite
may set) and one `@metric(...)`-decorated scorer beside them:

    @metric(name="mig", outputs={"mig": True}, version="1", consumes="codes", Params=MigParams,
            description="Mutual Information Gap")
    def score(inputs, params, seed):
        return {"mig": mig(inputs["codes"], inputs["factors"], params.num_bins)}

The scorer gets the collected `inputs` (a dict, see INPUTS), its typed `params` and the job seed,
and returns {output: value | Missing(reason)}: the output names live in the metric only. A value
may be a dict with a "mean" (per-factor or per-feature detail kept beside the score). Every
module of this package is imported on first use, so a new metric is one new file.

Torch-free: the reference env checks the metrics against disentanglement-lib without torch.
"""

from dataclasses import dataclass
from typing import Callable, Literal

from bench.config import require


class Missing(str):
    """An output a metric cannot give for this model; the text is the reason."""


def _always(params) -> bool:
    return True


def _never(params) -> bool:
    return False


@dataclass(frozen=True)
class Input:
    """One kind of input the evaluator collects (`bench.evaluate` implements each by name)."""

    name: str
    kind: Literal["images", "tables", "series"]  # the kind of dataset it is collected from
    needs_factors: Callable  # params -> whether it needs the dataset's ground-truth factors
    description: str
    needs_points: bool = True  # drawn from `num_points` evaluation images: the metric's Params must have it


INPUTS = {i.name: i for i in [
    Input("codes", "images", _always,
          "codes: (N, K) the representation of `num_points` evaluation images (`representation`: encoder mean or "
          "one posterior sample); factors: (N, F) the factors the dataset declares for disentanglement scores"),
    Input("images", "images", _never,
          "images: (N, C, H, W) evaluation images; reconstructions: the same decoded under `reconstruction`"),
    Input("conditioning", "images", _never,
          "views: a multi-stage model's `conditioning_codes` of the evaluation images (C_R and the compared sets)"),
    Input("representations", "images", _always,
          "C: (N, |C|), Z: (N, |Z|) or absent for single-stage models, factors: (N, F) all factors"),
    Input("features", "images", lambda params: params.space == "domain",
          "real, recon, sample: features in `space` of the evaluation images, of their reconstructions and of "
          "as many samples (recon or sample is a Missing where the model cannot make them)"),
    Input("elbo", "images", _never,
          "terms: the model's per-image ELBO terms (`Model.elbo`, `samples` posterior draws)"),
    Input("log_density", "images", _never,
          "log_density: (N,) the model's exact log-density (`Model.log_density`, nats) of the dataset's held-out "
          "images, uniformly dequantised into the unit cube; parts: {name: (N,)} the same of the model's parts "
          "(MS-FLOW: its mixture alone); dims: D, levels: the data's values per dimension",
          needs_points=False),
    Input("generated_factors", "images", _always,
          "factors: (N, F) the factor values of `num_points` evaluation images; predicted: (draws, N, F) the domain "
          "net's reading of the model's images generated from them, one noise draw each (`Model.generate`); or, "
          "for a model that reads its own code (InfoGAN), own: its `recover_code` of N draws; reader: the domain "
          "net's accuracy on the real images"),
    Input("factor_groups", "images", _always,
          "variance_codes: (num_variance_estimate, K) codes of random images; train and eval: {codes: (P, B, K) "
          "codes of P groups of `batch_size` images sharing the value of one factor, factor: (P,) that factor} "
          "(the dataset's `sample_with_fixed_factor`); num_factors", needs_points=False),
    Input("series", "series", _always,
          "rows: (N, D) the dataset's held-out rows (drawn apart from the training rows), values: (N, F) their factor values, "
          "factor_names, observed and hidden: the indices of the factors a row carries and of those it does "
          "not; z: (N, |Z|) the posterior means of z and reconstructions: (N, D) the rows decoded from them "
          "(each a Missing with the reason where the model has none); trajectory_start: where a row's "
          "observed factors end", needs_points=False),
    Input("tables", "tables", _never,
          "train, test: the real tables; synthetic: a D_test-sized generated table (`rows`); categorical; "
          "normalise: frame -> section 6.2's normalised frame", needs_points=False),
]}


@dataclass(frozen=True)
class MetricInfo:
    name: str
    score: Callable  # (inputs, params, seed) -> {output: value | Missing}
    outputs: dict  # {stored score name: higher_is_better}
    version: str  # bump whenever the definition changes: old stored scores are then never compared with new
    consumes: str  # a key of INPUTS
    Params: type
    description: str
    # the smallest change of a mean that `msbench regress` may flag, in the metric's units: the largest
    # movement of a 3-seed mean between 1 and 2 threads on one host, over every output of the metric
    # (`python scripts/kernel_drift.py`, suites/drift.yaml, README "Determinism"); 0 where not measured
    floor: float = 0.0

    @property
    def kind(self) -> str:
        """The kind of dataset the metric applies to."""
        return INPUTS[self.consumes].kind

    def directions(self) -> dict:
        """{stored score name: higher_is_better} for every score this metric stores."""
        return dict(self.outputs)

    def needs_factors(self, params) -> bool:
        return INPUTS[self.consumes].needs_factors(params)


METRICS: dict[str, MetricInfo] = {}


def metric(*, name: str, outputs: dict, version: str, consumes: str, Params: type, description: str,
           floor: float = 0.0):
    """Declare the decorated scorer as metric `name` (keyword-only, so a declaration reads as one)."""
    if consumes not in INPUTS:
        raise ValueError(f"metric {name!r}: consumes {consumes!r} is not an input the evaluator collects "
                         f"({', '.join(INPUTS)})")
    if not outputs or not all(isinstance(up, bool) for up in outputs.values()):
        raise ValueError(f"metric {name!r}: outputs must map each stored score name to higher_is_better")

    if INPUTS[consumes].needs_points and "num_points" not in getattr(Params, "__dataclass_fields__", {}):
        raise ValueError(f"metric {name!r}: input {consumes!r} is drawn from `num_points` evaluation images, and "
                         f"{Params.__name__} has no num_points field")

    def register(score):
        other = METRICS.get(name)
        if other is not None and other.score.__module__ != score.__module__:
            raise RuntimeError(f"metric name {name!r} is declared twice: {other.score.__module__} and "
                               f"{score.__module__}")
        METRICS[name] = MetricInfo(name, score, dict(outputs), version, consumes, Params, description, floor)
        return score

    return register


# --- parameter types several metrics share --------------------------------------------------

# How reconstructions are made (l1, l2, and the "recon" side of fid, fd_domain and kid): "sample"
# decodes one c ~ q(c|x) per image, as the paper (appendix J) and disentanglement-lib do, MS-VAE's
# Y included; "mean" decodes E[c|x], which is sharper. MS-VAE's `y_from` is the same choice for the
# Y its stage two trains on: keep the two equal in a suite.
Protocol = Literal["sample", "mean"]
# "all": every image of a dataset held in memory, once each (the paper's FID: 17,568 Cars3D
# images, 48,600 SmallNORB); a number: that many drawn with replacement
Points = int | Literal["all"]
# How a model's synthetic rows are made: "sample" draws each value from the model's likelihood
# (its learned per-feature scale) and clips it to [0, 1], as section 6.2's post-processing implies
# (values can leave [0, 1]); "mean" takes the decoder's mean, which no real table resembles.
Rows = Literal["sample", "mean"]


def check_points(num_points, least: int) -> None:
    if num_points != "all":
        require(num_points >= least, "num_points", f"{num_points} is below {least}")


def check_split(num_points: int, num_test: int) -> None:
    """For metrics that fit on the first num_points - num_test codes and test on the rest."""
    require(num_test >= 1, "num_test", f"{num_test} is below 1")
    require(num_points - num_test >= 2, "num_points", f"{num_points} leaves fewer than 2 training points after "
                                                      f"num_test {num_test}")
