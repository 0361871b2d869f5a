"""Where a result came from: the code, the packages, and the machine's kernel path.

Scores at a fixed seed are bit-identical on one host with the same settings, but training
amplifies the last-bit differences between kernel paths (the CPU's vector instruction set, the
thread count), so these are recorded with every run (`environment`), next to the code version.
No API reports which instruction set oneDNN dispatched to, so the CPU's flags and the variables
that cap it are recorded instead.
"""

import functools
import hashlib
import importlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"  # the pinned versions the README's install uses

# Variables that change the kernel path or the thread count (oneDNN, ATen's dispatch, OpenMP, MKL).
KERNEL_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_DEFAULT_FPMATH_MODE")
# The x86 flags that decide which vector kernels run (AVX-512 and AMX variants included).
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


@functools.cache  # the CPU does not change while msbench runs
def _cpuinfo() -> dict:
    """'model name' and 'flags' of the first processor in /proc/cpuinfo ({} elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key in ("model name", "flags", "Features") and key not in info:
            info[key] = value.strip()
    return info


def cpu_model() -> str:
    """The CPU's marketing name (platform.processor() is empty on Linux, hence /proc/cpuinfo)."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The vector-instruction flags this CPU reports, of those in VECTOR_FLAGS."""
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return [flag for flag in VECTOR_FLAGS if flag in flags]


def lock_hash() -> str | None:
    """SHA-256 (first 16 hex digits) of constraints.txt, or None without one."""
    try:
        return hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def package_versions() -> dict:
    """{distribution: version} of every installed Python package."""
    versions = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions[name.lower().replace("_", "-")] = dist.version
    return dict(sorted(versions.items()))


def code_version() -> dict:
    """Git sha of the msbench checkout (or, for an installed copy, of the working directory),
    whether it had uncommitted changes, the lock file's hash and the key packages' versions."""
    def git(root, *args):
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else None

    sha = dirty = None
    for root in (ROOT, Path.cwd()):
        try:
            sha = git(root, "rev-parse", "--verify", "HEAD")
            # dirty: a tracked file changed, outside leaderboards/ (which runs themselves rewrite)
            dirty = bool(git(root, "status", "--porcelain", "--untracked-files=no", "--", ".",
                             ":(exclude)leaderboards")) if sha else None
        except (OSError, subprocess.SubprocessError):
            continue
        if sha:
            break
    versions = {}
    for package in ("msbench", "torch", "numpy", "scikit-learn", "scipy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"git_sha": sha, "git_dirty": dirty, "python": platform.python_version(), "lock": lock_hash(),
            "packages": versions}


def device_description(device: str) -> str:
    """One line: the GPU's name, or the CPU's model, kernel capability and thread count."""
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({cpu_model()}, {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads)"


def machine(device: str) -> dict:
    """The device and the kernel path: everything about the machine that can move a score."""
    record = {
        "device": device_description(device),
        "device_kind": "cuda" if device.startswith("cuda") else "cpu",
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # ATen's vector kernels in effect
        "cpu_flags": cpu_flags(),
        "kernel_variables": {name: os.environ[name] for name in KERNEL_VARIABLES if name in os.environ},
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.startswith("cuda") else None,
        "platform": platform.platform(),
        "lock": lock_hash(),
    }
    if device.startswith("cuda"):
        record["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return record


def environment(device: str) -> dict:
    """The machine and every installed package: what each run row records."""
    return {**machine(device), "packages": package_versions()}


def set_threads(threads: int) -> None:
    """Use exactly `threads` CPU threads for ATen's intra-op work and for the BLAS and OpenMP pools numpy
    and scipy use (the Fréchet distance's matrix square root), whatever the core count or what a
    scheduler put in OMP_NUM_THREADS (Ray sets it to a task's CPUs): both move scores in the last digits."""
    if threads < 1:
        raise ValueError(f"--threads {threads}: must be at least 1")
    torch.set_num_threads(threads)
    from threadpoolctl import threadpool_limits

    importlib.import_module("scipy.linalg")  # loads numpy's and scipy's BLAS now, so that the limit reaches them
    threadpool_limits(limits=threads)  # lasts for the process


def training_record(device: str, training: str = "alone") -> dict:
    """What a trained artifact keeps about its training: the code version, the kernel path (not the
    full package list, which the run rows keep) and whether it trained `alone` or in a batched
    ensemble (`ensemble of N`), which moves float32 results as another kernel path does."""
    return {**machine(device), "code": code_version(), "training": training}
