"""Import disentanglement-lib 1.5 on TensorFlow 2.

Its metrics import only with gin-config 0.4.0 and tensorflow-probability 0.25, and with a
stand-in `tf.estimator.SessionRunHook` set before import (TF 2 removed tf.estimator).
In the `reference` tox env MSBENCH_REQUIRE_REFERENCE=1 turns a failed import into an
error instead of a skip, so that env can never pass by checking nothing.
"""

import os

import pytest


def import_dlib_metrics(*names):
    """gin and disentanglement-lib's evaluation/metrics modules `names`, or (None, why not)."""
    try:
        import tensorflow as tf
    except ImportError as exc:
        return None, f"tensorflow is not installed ({exc})"
    if not hasattr(tf, "estimator"):
        tf.estimator = type("estimator", (), {})()
    if not hasattr(tf.estimator, "SessionRunHook"):
        tf.estimator.SessionRunHook = object
    try:
        import importlib

        import gin
        modules = [importlib.import_module(f"disentanglement_lib.evaluation.metrics.{n}") for n in names]
    except ImportError as exc:
        return None, f"disentanglement-lib cannot be imported ({exc})"
    return (gin, *modules), None


def import_dlib_mig():
    return import_dlib_metrics("mig", "utils")


def import_dlib_data():
    try:
        import tensorflow  # noqa: F401 - the loaders read through tf.gfile
    except ImportError as exc:
        return None, f"tensorflow is not installed ({exc})"
    try:
        from disentanglement_lib.data.ground_truth import cars3d, norb
    except ImportError as exc:
        return None, f"disentanglement-lib's data loaders cannot be imported ({exc})"
    return (cars3d, norb), None


def required(imported):
    modules, reason = imported
    if modules is None:
        if os.environ.get("MSBENCH_REQUIRE_REFERENCE") == "1":
            pytest.fail(f"reference env: {reason}")
        pytest.skip(reason)
    return modules


@pytest.fixture(scope="session")
def dlib():
    return required(import_dlib_mig())


@pytest.fixture(scope="session")
def dlib_data():
    """disentanglement-lib's cars3d and norb modules."""
    return required(import_dlib_data())


@pytest.fixture(scope="session")
def dlib_scores():
    """gin and disentanglement-lib's dci, sap_score, factor_vae, modularity_explicitness and utils."""
    return required(import_dlib_metrics("dci", "sap_score", "factor_vae", "modularity_explicitness", "utils"))
