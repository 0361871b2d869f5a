"""Metrics: pure functions on arrays, plus the facts the harness needs about each.

Every metric declares its direction and a version (bump it whenever the definition
changes, so that old stored scores are never compared with new ones), the typed
parameters a suite may set, and what the evaluator must hand it.
"""

from dataclasses import dataclass, field
from typing import Literal

from bench.config import require
from bench.metrics.conditioning import conditioning_mi
from bench.metrics.downstream import downstream_accuracy
from bench.metrics.elbo import elbo
from bench.metrics.frechet import frechet_distance, frechet_distance_of_features, gaussian_statistics, kid
from bench.metrics.mig import histogram_discretize, mig, mutual_info_matrix
from bench.metrics.reconstruction import l1, l2
from bench.metrics.tabular import CLASSIFIERS, JSD_BINS, c2st, correlation_difference, jsd_per_feature

__all__ = ["METRICS", "MetricInfo", "c2st", "conditioning_mi", "correlation_difference", "downstream_accuracy",
           "elbo", "frechet_distance", "frechet_distance_of_features", "gaussian_statistics", "histogram_discretize",
           "jsd_per_feature", "kid", "l1", "l2", "mig", "mutual_info_matrix"]


@dataclass(frozen=True)
class MigParams:
    num_points: int = 10_000  # disentanglement-lib's mig.num_train
    num_bins: int = 20  # disentanglement-lib's discretizer.num_bins; part of the definition
    representation: Literal["mean", "sampled"] = "mean"  # disentanglement-lib's "mean" postprocessing

    def __post_init__(self):
        require(self.num_points >= 2, "num_points", f"{self.num_points} is below 2")
        require(self.num_bins >= 2, "num_bins", f"{self.num_bins} is below 2")


# How reconstructions are made (l1, l2, and the "recon" side of fid, fd_domain and kid): "sample"
# decodes one c ~ q(c|x) per image, as the paper (appendix J) and disentanglement-lib do, MS-VAE's
# Y included; "mean" decodes E[c|x], which is sharper. MS-VAE's `y_from` is the same choice for the
# Y its stage two trains on: keep the two equal in a suite.
Protocol = Literal["sample", "mean"]
# "all": every image of a dataset held in memory, once each (the paper's FID: 17,568 Cars3D
# images, 48,600 SmallNORB); a number: that many drawn with replacement
Points = int | Literal["all"]


def _check_points(num_points, least: int) -> None:
    if num_points != "all":
        require(num_points >= least, "num_points", f"{num_points} is below {least}")


@dataclass(frozen=True)
class ReconstructionParams:
    num_points: Points = 2_000
    reconstruction: Protocol = "sample"

    def __post_init__(self):
        _check_points(self.num_points, 1)


@dataclass(frozen=True)
class ConditioningParams:
    # the plug-in MI is biased upwards by about (bins - 1)^2 / 2N: two independent codes score
    # 0.030 at 2,000 points, 0.006 at 10,000 (`independence_floor`), the level M4 cannot go below
    num_points: int = 10_000
    num_bins: int = 20  # appendix H: 20-bin histogram discretisation, as for MIG

    def __post_init__(self):
        require(self.num_points >= 2, "num_points", f"{self.num_points} is below 2")
        require(self.num_bins >= 2, "num_bins", f"{self.num_bins} is below 2")


@dataclass(frozen=True)
class DownstreamParams:
    num_points: int = 5_000

    def __post_init__(self):
        require(self.num_points >= 20, "num_points", f"{self.num_points} is below 20")


@dataclass(frozen=True)
class ElboParams:
    num_points: int = 2_000
    samples: int = 1  # posterior draws per image for E_q[log p(x|.)]: more lowers the variance, not the bound

    def __post_init__(self):
        require(self.num_points >= 1, "num_points", f"{self.num_points} is below 1")
        require(self.samples >= 1, "samples", f"{self.samples} is below 1")


DOMAIN_NET_STEPS = 1500  # training steps of the domain feature net: about a minute on 2 CPU cores at 32 px


@dataclass(frozen=True)
class FidParams:
    num_points: Points = 10_000  # the usual FID sample size; below 2048 the covariance is singular
    space: Literal["inception"] = "inception"
    reconstruction: Protocol = "sample"

    def __post_init__(self):
        _check_points(self.num_points, 2)


@dataclass(frozen=True)
class FdDomainParams:
    num_points: Points = 10_000
    space: Literal["domain"] = "domain"
    feature_seed: int = 0  # which domain feature net: one per dataset spec and seed, shared by all models
    feature_steps: int = DOMAIN_NET_STEPS  # its training steps
    reconstruction: Protocol = "sample"

    def __post_init__(self):
        _check_points(self.num_points, 2)
        require(self.feature_steps >= 1, "feature_steps", f"{self.feature_steps} is below 1")


@dataclass(frozen=True)
class KidParams:
    num_points: Points = 10_000
    space: Literal["domain", "inception"] = "domain"
    feature_seed: int = 0  # for space: domain, as in FdDomainParams
    feature_steps: int = DOMAIN_NET_STEPS
    num_subsets: int = 100  # Bińkowski et al. 2018: 100 subsets of 1000
    subset_size: int = 1000
    reconstruction: Protocol = "sample"

    def __post_init__(self):
        _check_points(self.num_points, 2)
        require(self.num_subsets >= 1, "num_subsets", f"{self.num_subsets} is below 1")
        require(self.subset_size >= 2, "subset_size", f"{self.subset_size} is below 2")
        require(self.feature_steps >= 1, "feature_steps", f"{self.feature_steps} is below 1")


# How a model's synthetic rows are made: "sample" draws each value from the model's likelihood
# (its learned per-feature scale) and clips it to [0, 1], as section 6.2's post-processing implies
# (values can leave [0, 1]); "mean" takes the decoder's mean, which no real table resembles.
Rows = Literal["sample", "mean"]


@dataclass(frozen=True)
class TableParams:
    rows: Rows = "sample"


@dataclass(frozen=True)
class JsdParams:
    bins: int = JSD_BINS  # histogram bins of continuous columns
    space: Literal["normalised", "raw"] = "normalised"  # section 6.3.1: JSD of the normalised tables
    rows: Rows = "sample"

    def __post_init__(self):
        require(self.bins >= 2, "bins", f"{self.bins} is below 2")


@dataclass(frozen=True)
class C2stParams:
    classifier: Literal[CLASSIFIERS] = "xgboost"  # section 6.4: XGBoost, logistic regression, random forest
    test_fraction: float = 0.3  # of the real + synthetic union held out for the AUC
    rows: Rows = "sample"

    def __post_init__(self):
        require(0 < self.test_fraction < 1, "test_fraction", f"{self.test_fraction} is not in (0, 1)")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    fn: object
    higher_is_better: bool
    version: str
    # what the evaluator produces; "features": the dataset's, the reconstructions' and the samples'
    # features in the metric's `space`, scored as {name}_recon and {name}_sample; "tables": a
    # synthetic table as large as D_test, compared with D_train and with D_test (section 6.3);
    # "detection": that table against D_test in a classifier two-sample test (section 6.3.2);
    # "elbo": the model's per-image ELBO terms (`Model.elbo`), posterior noise seeded by the job seed
    needs: Literal["codes", "reconstructions", "conditioning", "representations", "features", "tables", "detection",
                   "elbo"]
    Params: type
    description: str
    outputs: dict = field(default_factory=dict)  # several named scores: {name: higher_is_better}
    kind: Literal["images", "tables"] = "images"  # the kind of dataset it applies to
    # the smallest change of a mean that `msbench regress` may flag, in the metric's units: the largest
    # movement of a 3-seed mean between 1 and 2 threads on one host, over every output of the metric
    # (`python scripts/kernel_drift.py`, suites/drift.yaml, README "Determinism"); 0 where not measured
    floor: float = 0.0

    def directions(self) -> dict:
        """{stored score name: higher_is_better} for every score this metric stores."""
        return self.outputs or {self.name: self.higher_is_better}


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in [
        MetricInfo("mig", mig, True, "1", "codes", MigParams,
                   "Mutual Information Gap, disentanglement-lib's discrete_mig", floor=0.007),
        MetricInfo("l1", l1, False, "2", "reconstructions", ReconstructionParams,
                   "mean absolute per-pixel reconstruction error, images in [0, 1]", floor=0.0011),
        MetricInfo("l2", l2, False, "2", "reconstructions", ReconstructionParams,
                   "mean squared per-pixel reconstruction error, images in [0, 1]", floor=0.0007),
        MetricInfo("conditioning_mi", conditioning_mi, True, "1", "conditioning", ConditioningParams,
                   "M1-M4: normalised MI between stage one's codes of X and of Y, G(Y,Z), G(Y,eps), G(eps,Z); "
                   "M_shuffled_y: G(Y of another image, Z)",
                   # conditioning is kept when M1, M2, M3 are high and M4 (Y replaced by noise) and
                   # the shuffled-Y control are low: section 4's M2 > M1 > M3 >> M4
                   outputs={"M1": True, "M2": True, "M3": True, "M4": False, "M_shuffled_y": False}, floor=0.022),
        MetricInfo("downstream_accuracy", downstream_accuracy, True, "1", "representations", DownstreamParams,
                   "held-out MLP accuracy predicting each factor from C, Z and C+Z (mean over factors)",
                   outputs={"downstream_C": True, "downstream_Z": True, "downstream_CZ": True}, floor=0.024),
        MetricInfo("elbo", elbo, True, "1", "elbo", ElboParams,
                   "held-out ELBO per image in nats, E_q[log p(x|latents)] - KL(q || prior), Bernoulli likelihood, "
                   "`samples` posterior draws per image; for MS-VAE the bound of its whole generative model "
                   "(c ~ q(c|x), Y = stage one's decoding of c, z ~ q(z|x,Y); KL of c and of z), comparable with "
                   "the single-stage models'; its stage-two conditional ELBO given Y is log_likelihood - kl_z "
                   "in the details"),
        MetricInfo("fid", frechet_distance_of_features, False, "2", "features", FidParams,
                   "FID (pytorch-fid's Inception pool3): dataset vs reconstructions (the paper's) and vs samples; "
                   "missing unless the weights file is installed",
                   outputs={"fid_recon": False, "fid_sample": False}),
        MetricInfo("fd_domain", frechet_distance_of_features, False, "2", "features", FdDomainParams,
                   "Fréchet distance in the features of a small CNN trained on the dataset's factors "
                   "(not FID; offline): dataset vs reconstructions and vs samples",
                   outputs={"fd_domain_recon": False, "fd_domain_sample": False}, floor=10.0),
        MetricInfo("kid", kid, False, "2", "features", KidParams,
                   "unbiased kernel inception distance (cubic kernel) in the domain features, or in "
                   "Inception's with space: inception; dataset vs reconstructions and vs samples",
                   outputs={"kid_recon": False, "kid_sample": False}, floor=0.12),
        MetricInfo("jsd", jsd_per_feature, False, "2", "tables", JsdParams,
                   "mean per-feature Jensen-Shannon divergence (the divergence, base 2, not its square root) "
                   "of the normalised synthetic table against D_train and against D_test (section 6.3.1; "
                   "per-feature values kept in the details)",
                   outputs={"jsd_train": False, "jsd_test": False}, kind="tables"),
        MetricInfo("correlation_difference", correlation_difference, False, "2", "tables", TableParams,
                   "Frobenius norm of the difference of association matrices (Pearson / Theil's U / "
                   "correlation ratio), synthetic against D_train and against D_test",
                   outputs={"cd_train": False, "cd_test": False}, kind="tables"),
        # an AUC below 0.5 is as telling as one above, but a classifier that separates the sets learns
        # to rank real rows up: in practice AUC >= 0.5, and lower is better
        MetricInfo("c2st", c2st, False, "2", "detection", C2stParams,
                   "classifier two-sample test (section 6.3.2): raw held-out ROC AUC separating real rows (1) "
                   "from the synthetic table (0); Test: D_test as the real set, Train: a D_test-sized sample "
                   "of D_train; 0.5 means indistinguishable",
                   outputs={"c2st_train_auc": False, "c2st_test_auc": False}, kind="tables"),
    ]
}
