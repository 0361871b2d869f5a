"""msbench: a benchmark harness for disentangled representation learners.

Kept import-light on purpose: `bench.metrics` must import without torch (the
`reference` tox env checks it against disentanglement-lib with numpy only).
"""

__version__ = "0.1.0"
