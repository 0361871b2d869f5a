"""The artifact cache: every load is checked against the manifest's SHA-256s, saves are atomic
under concurrency (no delete window, the loser keeps the winner's copy), and folders and files
follow the umask."""

import json
import multiprocessing
import os
import struct
import threading

import pytest
import torch

from bench.cache import LOSSES, MANIFEST, SPEC, WEIGHTS, ArtifactCache, CorruptArtifact


class Tiny(torch.nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.layer = torch.nn.Linear(16, 16)

    @property
    def device(self):
        return torch.device("cpu")


def saved(tmp_path, key="k"):
    cache = ArtifactCache(tmp_path / "cache")
    cache.save(key, Tiny(), {"model": "tiny"}, [{"step": 1, "loss": 1.0}])
    return cache


def test_round_trip_with_manifest(tmp_path):
    cache = saved(tmp_path)
    folder = cache.path("k")
    assert sorted(p.name for p in folder.iterdir()) == sorted([WEIGHTS, SPEC, LOSSES, MANIFEST])
    manifest = json.loads((folder / MANIFEST).read_text())
    assert set(manifest["sha256"]) == {WEIGHTS, SPEC, LOSSES}
    clone = Tiny(seed=1)
    assert cache.load_into("k", clone) == [{"step": 1, "loss": 1.0}]
    assert torch.equal(clone.layer.weight, Tiny().layer.weight)


def flip_tensor_bytes(path):
    data = bytearray(path.read_bytes())
    header = 8 + struct.unpack("<Q", data[:8])[0]  # safetensors: u64 header length, JSON header, then tensors
    for i in range(header + 10, header + 20):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage,message", [
    (lambda f: flip_tensor_bytes(f / WEIGHTS), "weights.safetensors does not match its SHA-256"),
    (lambda f: (f / WEIGHTS).write_bytes((f / WEIGHTS).read_bytes()[:100]), "weights.safetensors does not match"),
    (lambda f: (f / SPEC).write_text("{garbled"), "spec.json does not match its SHA-256"),
    (lambda f: (f / LOSSES).unlink(), "losses.json cannot be read"),
    (lambda f: (f / MANIFEST).unlink(), "has no manifest.json"),
    (lambda f: (f / MANIFEST).write_text("[]"), "manifest.json is unreadable"),
    (lambda f: [p.unlink() for p in f.iterdir()] and f.rmdir(), "is missing"),
])
def test_damage_is_caught_on_load(tmp_path, damage, message):
    """Flipped bytes inside the tensor data used to load silently and surface as LinAlgError or NaN codes."""
    cache = saved(tmp_path)
    damage(cache.path("k"))
    with pytest.raises(CorruptArtifact, match=message):
        cache.load_into("k", Tiny())
    if cache.has("k"):
        moved = cache.set_aside("k")
        assert moved.is_dir() and not cache.has("k")
        assert cache.set_aside("k") is None  # already moved (by another run): not an error


def _save_many(root, key, rounds):
    cache = ArtifactCache(root)
    for i in range(rounds):
        cache.save(key, Tiny(), {"model": "tiny"}, [{"step": i}])


def test_concurrent_saves_of_one_key_never_fail_or_show_a_partial_folder(tmp_path):
    """exists -> rmtree -> replace used to fail ~10% of concurrent saves ("Directory not empty")."""
    root, errors, partial, stop = tmp_path / "cache", [], [], threading.Event()

    def writer():
        try:
            _save_many(root, "k", 15)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def reader():
        while not stop.is_set():
            folder = root / "k"
            if folder.is_dir():  # once renamed into place, a folder is never removed
                names = {p.name for p in folder.iterdir()}
                if names != {WEIGHTS, SPEC, LOSSES, MANIFEST}:
                    partial.append(names)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer) for _ in range(8)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors and not partial
    ArtifactCache(root).load_into("k", Tiny())  # the copy that won is whole
    assert not [p for p in root.iterdir() if p.name != "k"]  # no temporary folders left behind

    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_save_many, args=(root, "p", 10)) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    assert [p.exitcode for p in processes] == [0] * 4
    ArtifactCache(root).load_into("p", Tiny())


@pytest.mark.parametrize("umask,dirs,files", [(0o022, 0o755, 0o644), (0o002, 0o775, 0o664), (0o077, 0o700, 0o600)])
def test_folders_and_files_follow_the_umask(tmp_path, umask, dirs, files):
    """A cache shared by a group used to be unreadable to the others (0700 folders, 0600 weights)."""
    old = os.umask(umask)
    try:
        cache = saved(tmp_path)
    finally:
        os.umask(old)
    folder = cache.path("k")
    assert folder.stat().st_mode & 0o777 == dirs
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == dict.fromkeys(
        [WEIGHTS, SPEC, LOSSES, MANIFEST], files)


def test_a_models_source_is_part_of_its_job_key(monkeypatch):
    """Editing a model's file, or any file of the zoo it imports, changes its jobs' keys."""
    import models as zoo
    from pathlib import Path

    from bench.suite import parse_suite

    raw = {"name": "s", "dataset": {"name": "dsprites", "params": {"image_size": 32}}, "metrics": ["l1"],
           "models": [{"model": "ms_vae", "params": {"latent_dim": 4}}, {"model": "beta_tcvae", "params": {"latent_dim": 4}}]}
    before = {job.label: job for job in parse_suite(raw).jobs}
    ms_vae = before["ms_vae"]
    assert ms_vae.spec["source"] == zoo.source_hash(zoo.get("ms_vae"))
    assert dict(ms_vae.upstream)["stage_one"].spec["source"] == zoo.source_hash(zoo.get("beta_tcvae"))
    nets = Path(zoo.__file__).parent / "_nets.py"
    original = Path.read_bytes

    def edited(path):
        data = original(path)
        return data + b"\n# edited\n" if Path(path) == nets else data

    monkeypatch.setattr(Path, "read_bytes", edited)  # ms_vae and beta_tcvae both import _nets
    zoo.source_hash.cache_clear()  # computed once per class and process: a new process sees the edit
    try:
        after = {job.label: job for job in parse_suite(raw).jobs}
    finally:
        monkeypatch.undo()
        zoo.source_hash.cache_clear()
    assert after["ms_vae"].key != ms_vae.key and after["beta_tcvae"].key != before["beta_tcvae"].key
    assert dict(after["ms_vae"].upstream)["stage_one"].key == after["beta_tcvae"].key  # still shared


def test_the_zoo_import_graph_behind_a_source_hash():
    import models as zoo

    assert zoo._zoo_imports("models.ms_vae") == {"models._base", "models._nets", "models.beta_tcvae"}
    assert zoo._zoo_imports("models.tvae") == {"models._base", "models.tabular"}
    assert zoo.source_hash(zoo.get("beta_tcvae")) == zoo.source_hash(zoo.get("beta_tcvae_l"))  # one file
    assert zoo.source_hash(zoo.get("ms_vae")) != zoo.source_hash(zoo.get("beta_tcvae"))


def test_the_domain_nets_source_is_part_of_its_key(monkeypatch):
    from bench.data import load
    from bench.features import domain

    data = load("dsprites", image_size=32)
    spec = domain.spec(data, 0, 10)
    assert spec["source"] == domain.source_hash()
    monkeypatch.setattr(domain, "source_hash", lambda: "edited")
    assert domain.spec(data, 0, 10) != spec
