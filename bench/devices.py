"""Which devices a run uses: `--device`, `--devices` (one worker process each) and the batched-ensemble
size that suits them. A leaf: the runner, the workers and the CLI read it."""

import torch


class DeviceError(ValueError):
    pass


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' when CUDA is present, else 'cpu'; 'cuda[:N]' is checked to exist."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: CUDA is not available on this machine (use cpu or auto)")
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise DeviceError(f"--device {name}: no such GPU (this machine has {torch.cuda.device_count()})")
        return name
    raise DeviceError(f"--device {name!r}: expected auto, cpu, cuda or cuda:N")


# `--ensemble-size auto`: on a GPU the target size; on the CPU none, where a batched ensemble trains
# slower than its members one after another (tests/benchmarks/test_bench_ensemble.py)
AUTO_ENSEMBLE = {"cuda": 64, "cpu": 1}


def resolve_ensemble_size(value, device: str) -> int:
    """`--ensemble-size`: 'auto' (AUTO_ENSEMBLE for the device's kind) or a whole number of at least 1."""
    if value == "auto":
        return AUTO_ENSEMBLE["cuda" if device.startswith("cuda") else "cpu"]
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise DeviceError(f"--ensemble-size {value!r}: expected auto or a whole number of at least 1")
    return size


class DevicesError(ValueError):
    pass


def resolve_devices(value: str) -> list[str]:
    """`--devices`: a comma-separated list of cpu, cuda or cuda:N (a device may repeat: two workers on
    the CPU), or `all` (every GPU of this machine)."""
    if value == "all":
        if not torch.cuda.is_available():
            raise DevicesError("--devices all: CUDA is not available on this machine (name devices, e.g. cpu,cpu)")
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    names = [name.strip() for name in value.split(",")]
    if not all(names) or "auto" in names:
        raise DevicesError(f"--devices {value!r}: expected a comma-separated list of cpu, cuda:N, or all")
    try:
        return [resolve_device(name).replace("cuda", "cuda:0") if name == "cuda" else resolve_device(name)
                for name in names]
    except DeviceError as exc:
        raise DevicesError(str(exc).replace("--device ", "--devices: ")) from None


def compile_problem(devices) -> str | None:
    """Why `--compile` cannot work on `devices` here, or None: on the CPU, torch.compile builds its kernels
    with the C++ compiler in $CXX, else g++ (torch._inductor.config.cpp.cxx), which must be on PATH."""
    import os
    import shutil

    compiler = os.environ.get("CXX") or "g++"
    if any(str(d).startswith("cpu") for d in devices) and not shutil.which(compiler):
        return (f"--compile on the CPU needs the C++ compiler torch.compile builds with ({compiler}, from $CXX or "
                "else g++) on PATH; install it, or leave --compile out")
    return None
