"""Trained artifacts, stored under the key of the job that produced them.

Each artifact is a folder `<root>/<key>/` with `weights.safetensors` (no pickle: loading
never runs code), `spec.json` (the full job spec) and `losses.json` (the loss log).
Folders are written under a temporary name and renamed into place, so a killed run never
leaves a half-written artifact that looks complete.
"""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

WEIGHTS, SPEC, LOSSES = "weights.safetensors", "spec.json", "losses.json"


class CorruptArtifact(RuntimeError):
    """A cached artifact exists but cannot be read back."""


class ArtifactCache:
    def __init__(self, root):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        return (self.path(key) / WEIGHTS).is_file()

    def save(self, key: str, model, spec: dict, losses: list) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.root))
        try:
            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS))
            (tmp / SPEC).write_text(json.dumps(spec, indent=2, sort_keys=True))
            (tmp / LOSSES).write_text(json.dumps(losses))
            target = self.path(key)
            if target.exists():  # a stale copy (e.g. set aside as corrupt and recreated)
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    def load_into(self, key: str, model) -> list:
        """Load weights into `model`; return the loss log. Raises CorruptArtifact naming the file."""
        folder = self.path(key)
        try:
            state = load_file(str(folder / WEIGHTS), device=str(model.device))
            model.load_state_dict(state, strict=True)
            return json.loads((folder / LOSSES).read_text())
        except (SafetensorError, OSError, RuntimeError, ValueError, KeyError) as exc:
            raise CorruptArtifact(f"cached artifact {folder} cannot be loaded: {exc}") from exc

    def set_aside(self, key: str) -> Path:
        """Move a corrupt artifact out of the way (kept for inspection) so it can be retrained."""
        target = self.path(key).with_name(f"{key}.corrupt-{int(time.time())}")
        os.replace(self.path(key), target)
        return target
