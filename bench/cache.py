"""Trained artifacts, stored under the key of the job that produced them.

Each artifact is a folder `<root>/<key>/` with `weights.safetensors` (no pickle: loading
never runs code), `spec.json` (the full job spec), `losses.json` (the loss log) and
`manifest.json` (the SHA-256 of each of them, checked on every load, so flipped bytes are
caught before they reach a metric). A folder is written under a unique temporary name and
renamed into place in one step: a killed run never leaves a half-written artifact that looks
complete, readers never see a partial one, and when two runs save the same artifact at once
the second keeps the first one's copy. Folders follow the umask, so a group can share a cache.
"""

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

WEIGHTS, SPEC, LOSSES, MANIFEST = "weights.safetensors", "spec.json", "losses.json", "manifest.json"
FORMAT = 1  # of the manifest


class CorruptArtifact(RuntimeError):
    """A cached artifact exists but cannot be read back, or does not match its manifest."""


class CacheError(RuntimeError):
    """The cache folder cannot be used (one line naming it)."""


def _umask() -> int:
    try:  # Linux reports it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def share(path: Path) -> None:
    """Give a file the mode the umask allows (safetensors and mkstemp write 0600 files)."""
    os.chmod(path, 0o666 & ~_umask())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ArtifactCache:
    def __init__(self, root, fresh: bool = False):
        """`fresh`: reuse only what this object saved (msbench run --fresh): older artifacts are
        invisible, and replaced when the same key is trained again."""
        self.root, self.fresh = Path(root), fresh
        self._saved = set()

    @property
    def saved(self) -> frozenset:
        """The keys this object saved (or adopted): all a fresh cache shows."""
        return frozenset(self._saved)

    def adopt(self, keys) -> None:
        """Count `keys` as saved by this run (another process of it saved them: a worker's artifacts)."""
        self._saved |= set(keys)

    def path(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        """An artifact folder exists (whole or damaged: `load_into` tells which)."""
        return self.path(key).is_dir() and (not self.fresh or key in self._saved)

    def check_writable(self) -> None:
        """Raise CacheError unless artifacts can be written here (checked before any training)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe.{uuid.uuid4().hex}"
            probe.mkdir()
            (probe / "x").write_bytes(b"x")
            shutil.rmtree(probe)
        except OSError as exc:
            raise CacheError(f"artifact cache {self.root} is not writable: {exc.strerror or exc}") from None

    def save(self, key: str, model, spec: dict, losses: list, trained_on: dict | None = None) -> Path:
        """Store a trained model; `trained_on` (the code version and kernel path it was trained
        with, see bench.provenance) is kept in the manifest for provenance."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{key}.{uuid.uuid4().hex}.tmp"
        tmp.mkdir()  # not tempfile.mkdtemp: that makes 0700 folders whatever the umask says
        target = self.path(key)
        try:
            state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS))
            share(tmp / WEIGHTS)
            (tmp / SPEC).write_text(json.dumps(spec, indent=2, sort_keys=True))
            (tmp / LOSSES).write_text(json.dumps(losses))
            files = {name: sha256_of(tmp / name) for name in (WEIGHTS, SPEC, LOSSES)}
            manifest = {"format": FORMAT, "sha256": files, "trained_on": trained_on}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
            if self.fresh and key not in self._saved and target.is_dir():
                self._replace(tmp, target)
            else:
                try:
                    os.rename(tmp, target)  # atomic; fails when the target exists (and is not empty)
                except OSError:
                    if not target.is_dir():
                        raise
                    shutil.rmtree(tmp, ignore_errors=True)  # another run saved it first: keep its copy
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._saved.add(key)
        return target

    def _replace(self, new: Path, target: Path) -> None:
        """Swap an older artifact for `new`: the old folder is renamed away first (a reader in
        between finds none and trains, never a half-written one), then removed."""
        old = target.with_name(f".{target.name}.replaced-{uuid.uuid4().hex}")
        try:
            os.rename(target, old)
        except FileNotFoundError:
            pass
        try:
            os.rename(new, target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(new, ignore_errors=True)  # another run saved it in between: keep its (as fresh) copy
        finally:
            shutil.rmtree(old, ignore_errors=True)

    def verify(self, key: str) -> None:
        """Raise CorruptArtifact unless every file matches the manifest."""
        folder = self.path(key)
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
            expected = manifest["sha256"]
            assert isinstance(expected, dict) and set(expected) == {WEIGHTS, SPEC, LOSSES}
        except FileNotFoundError:
            raise CorruptArtifact(f"cached artifact {folder} has no {MANIFEST} (incomplete, or written by an "
                                  "older msbench), so its weights cannot be checked") from None
        except (OSError, ValueError, KeyError, TypeError, AssertionError):
            raise CorruptArtifact(f"cached artifact {folder}: {MANIFEST} is unreadable") from None
        for name, digest in expected.items():
            try:
                actual = sha256_of(folder / name)
            except OSError as exc:
                raise CorruptArtifact(f"cached artifact {folder}: {name} cannot be read ({exc.strerror})") from None
            if actual != digest:
                raise CorruptArtifact(f"cached artifact {folder}: {name} does not match its SHA-256 in {MANIFEST} "
                                      "(the file was changed or damaged)")

    def load_into(self, key: str, model) -> list:
        """Load weights into `model`; return the loss log. Raises CorruptArtifact naming the file."""
        folder = self.path(key)
        if not folder.is_dir():
            raise CorruptArtifact(f"cached artifact {folder} is missing")
        self.verify(key)
        try:
            state = load_file(str(folder / WEIGHTS), device=str(model.device))
            model.load_state_dict(state, strict=True)
            return json.loads((folder / LOSSES).read_text())
        except (SafetensorError, OSError, RuntimeError, ValueError, KeyError) as exc:
            raise CorruptArtifact(f"cached artifact {folder} cannot be loaded: {exc}") from exc

    def loss_log(self, key: str) -> list:
        """The loss log of a verified artifact. Raises CorruptArtifact naming the file."""
        folder = self.path(key)
        if not folder.is_dir():
            raise CorruptArtifact(f"cached artifact {folder} is missing")
        self.verify(key)
        try:
            return json.loads((folder / LOSSES).read_text())
        except (OSError, ValueError) as exc:
            raise CorruptArtifact(f"cached artifact {folder}: {LOSSES} cannot be read: {exc}") from exc

    def training_mode(self, key: str) -> str | None:
        """How the artifact was trained, as its manifest records it: "alone" or "ensemble of N"
        ("alone" for artifacts from before ensembles); None without a readable manifest."""
        try:
            record = json.loads((self.path(key) / MANIFEST).read_text()).get("trained_on") or {}
        except (OSError, ValueError, AttributeError):
            return None
        return record.get("training", "alone")

    def set_aside(self, key: str) -> Path | None:
        """Move a corrupt artifact out of the way (kept for inspection) so it can be retrained;
        None when another run moved it first."""
        target = self.path(key).with_name(f"{key}.corrupt-{int(time.time())}-{uuid.uuid4().hex[:6]}")
        try:
            os.rename(self.path(key), target)
        except FileNotFoundError:
            return None
        return target
