"""Import disentanglement-lib 1.5 on TensorFlow 2.

Its metrics import only with gin-config 0.4.0 and tensorflow-probability 0.25, and with a
stand-in `tf.estimator.SessionRunHook` set before import (TF 2 removed tf.estimator).
In the `reference` tox env MSBENCH_REQUIRE_REFERENCE=1 turns a failed import into an
error instead of a skip, so that env can never pass by checking nothing.
"""

import os

import pytest


def import_dlib_mig():
    try:
        import tensorflow as tf
    except ImportError as exc:
        return None, f"tensorflow is not installed ({exc})"
    if not hasattr(tf, "estimator"):
        tf.estimator = type("estimator", (), {})()
    if not hasattr(tf.estimator, "SessionRunHook"):
        tf.estimator.SessionRunHook = object
    try:
        import gin
        from disentanglement_lib.evaluation.metrics import mig, utils
    except ImportError as exc:
        return None, f"disentanglement-lib cannot be imported ({exc})"
    return (gin, mig, utils), None


@pytest.fixture(scope="session")
def dlib():
    modules, reason = import_dlib_mig()
    if modules is None:
        if os.environ.get("MSBENCH_REQUIRE_REFERENCE") == "1":
            pytest.fail(f"reference env: {reason}")
        pytest.skip(reason)
    return modules
