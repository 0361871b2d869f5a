"""How cells, sweep points and specs are written, everywhere: a leaf module, so that the suite,
the store readers, regress and the report all share it without importing one another."""

import json


def format_point(sweep: dict) -> str:
    """'beta=4,latent_dim=10': how a sweep point is named everywhere (benchopt style)."""
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sweep.items())


def format_cell(label: str, point: str) -> str:
    """'MS-VAE[beta=4]', or the label alone without a sweep point: how a leaderboard cell is named."""
    return f"{label}[{point}]" if point else label


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
