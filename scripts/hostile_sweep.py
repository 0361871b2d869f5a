#!/usr/bin/env python3
"""Hostile-input sweep for msbench (issue 11): bad inputs and injected faults, each classified
CLEAN or NOT CLEAN.

What it measures
----------------
About 120 small cases, grouped by the 14 classes of issue 11 (stale leaderboards, the same
job twice, duplicate YAML keys, scientific-notation numbers, damaged cache, flipped weight bytes,
damaged store, unwritable output locations, unbounded validation, values that validate then crash,
concurrent cache saves, two runs on one store, umask, output hygiene), plus a few extra hostile
inputs per class. Each case runs `python -m bench ...` (or a small Python script against
`bench.cache`) in a fresh temporary folder and checks the outcome against the case's expected
clean outcome.

A case is NOT CLEAN when it shows a traceback, a wrong exit code, a silent wrong result, data loss,
a timeout (120 s per command, 300 s per `run`, 20 s where the case says so) or runaway memory (the
process tree is polled every 0.2 s and killed above 2 GiB of resident memory).

A clean refusal is: exit code 2, no "Traceback", at most 3 lines on stderr (Python warning lines
are not counted), no output line over 600 characters, and, when the problem is detectable before
training, no "trained in" on stderr. Each case states its own expected clean outcome (`--list`).

How to run
----------
    .venv/bin/python scripts/hostile_sweep.py                      # this checkout
    .venv/bin/python scripts/hostile_sweep.py --repo /tmp/before   # another checkout, same venv
    .venv/bin/python scripts/hostile_sweep.py --only 5,7           # some classes (also 1-4)
    .venv/bin/python scripts/hostile_sweep.py --list               # the cases and their expectations

`--repo` is put first on PYTHONPATH of every subprocess; the sweep checks that `bench` and `models`
import from there (so one virtualenv can test an older checkout, e.g. a `git worktree`). `--jobs N`
runs N cases at a time (default 2; the timing-, umask- and concurrency-sensitive classes 9, 11, 12
and 13 always run alone, at the end). `--keep` keeps the temporary folders. When run as root,
"read-only" is made with `chattr +i` (root ignores permission bits).
The exit code is 0 (this is a measurement) unless `--strict` is given: then 1 if any case is not
clean.

How long it takes
-----------------
Most of the time is Python start-up: each `python -m bench` imports torch and scikit-learn
(about 6 s of CPU). On 2 CPU cores with the default `--jobs 2`: about 12 minutes on a quiet
machine, 18 minutes measured on a shared, loaded one; `--jobs 1` takes about half as long again.
One tiny suite (3 jobs of 5 steps on 16x16 dSprites) is trained once into a template folder
(store, cache, leaderboards), and each damage case works on a copy of it.
"""

import argparse
import concurrent.futures
import csv
import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable

MEMORY_LIMIT = 2 * 1024**3  # bytes of resident memory, whole process tree
POLL_SECONDS = 0.2
CLI_TIMEOUT = 120  # validate, leaderboard, show, store, ls
RUN_TIMEOUT = 300  # msbench run
QUICK_TIMEOUT = 20  # class 9: refusals that must come quickly
MAX_LINE = 600  # characters in one output line
MAX_ERROR_LINES = 3  # stderr lines of a clean refusal
READ_CAP = 2 * 1024**2  # bytes kept from each end of a huge output

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
RUN_ARGS = ("--store", "s.sqlite", "--cache", "cache", "--out", "out", "--no-progress", "--device", "cpu")
REPORT_ARGS = ("--store", "s.sqlite", "--cache", "cache", "--out", "out")

CLASS_TITLES = {
    1: "stale leaderboard",
    2: "same job twice in a suite",
    3: "duplicate YAML keys",
    4: "scientific-notation numbers",
    5: "corrupt or missing cached model",
    6: "flipped bytes in weights",
    7: "damaged store",
    8: "unwritable output locations",
    9: "unbounded memory and time",
    10: "values that validate then crash",
    11: "concurrent cache saves",
    12: "two runs on one store",
    13: "umask",
    14: "output hygiene",
}
ALONE = {9, 11, 12, 13}  # timing-sensitive, concurrent, or using preexec_fn: never beside another case

# The one suite every training case uses (3 jobs; MS-VAE's stage one is A[beta=4], shared).
TINY_YAML = """\
name: tiny
description: tiny
dataset: {name: dsprites, params: {image_size: 16}}
budget: {steps: 5, batch_size: 16, learning_rate: 1.0e-3}
seeds: [0]
models:
  - {model: beta_tcvae, label: A, params: {beta: [1, 4], latent_dim: 3}}
  - {model: ms_vae, label: M, params: {beta: 4, latent_dim: 3, z_dim: 2, width: 8}}
metrics:
  - {name: l1, params: {num_points: 50}}
  - {name: mig, params: {num_points: 200}}
plots: [score_vs_beta, reconstructions]
"""
TINY_LINE_M = "  - {model: ms_vae, label: M, params: {beta: 4, latent_dim: 3, z_dim: 2, width: 8}}\n"


def tiny(*edits: tuple[str, str], append: str = "") -> str:
    """TINY_YAML with each (old, new) replacement applied (old must occur) and `append` added."""
    text = TINY_YAML
    for old, new in edits:
        if old not in text:
            raise ValueError(f"sweep bug: {old!r} is not in the tiny suite")
        text = text.replace(old, new, 1)
    return text + append


# ----------------------------------------------------------------------------------------------
# Verdicts
# ----------------------------------------------------------------------------------------------

class NotClean(Exception):
    """Raised by a case (or a check) with the reason it is not clean."""


def require(condition, reason: str) -> None:
    if not condition:
        raise NotClean(reason)


@dataclasses.dataclass
class Result:
    """What one subprocess did."""

    argv: list
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    peak_rss: int
    killed: str | None = None  # "timeout", "runaway memory" or "killed on purpose"

    @property
    def output(self) -> str:
        return self.stdout + "\n" + self.stderr

    def count(self, text: str) -> int:
        """Lines of stderr that contain `text`."""
        return sum(text in line for line in self.stderr.splitlines())


_WARNING = re.compile(r"^\S.*:\d+: \w*Warning: ")


def error_lines(stderr: str) -> list[str]:
    """Non-blank stderr lines, without Python warnings (a 'file:line: XWarning: ...' line and the
    indented source line the warnings module prints after it)."""
    lines, after_warning = [], False
    for line in stderr.splitlines():
        if after_warning and line.startswith((" ", "\t")):
            after_warning = False
            continue
        after_warning = bool(_WARNING.match(line))
        if not after_warning and line.strip():
            lines.append(line)
    return lines


def gist(res: Result, width: int = 110) -> str:
    """The most telling line of an output: a traceback's last line, else the first error line."""
    lines = [line for line in res.output.splitlines() if line.strip()]
    if "Traceback" in res.output:
        tail = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt|Exit)\b", line)]
        lines = tail[-1:] or lines[-1:]
    else:
        lines = error_lines(res.stderr)[:1] or lines[:1]
    text = lines[0].strip() if lines else "(no output)"
    return text if len(text) <= width else text[: width - 3] + "..."


def crash(res: Result) -> str | None:
    """The never-clean outcomes: timeout, runaway memory, a traceback."""
    if res.killed == "timeout":
        return f"timeout after {res.seconds:.0f}s"
    if res.killed == "runaway memory":
        return f"runaway memory: killed at {res.peak_rss / 1024**3:.1f} GiB after {res.seconds:.0f}s"
    if "Traceback" in res.output:
        return f"traceback: {gist(res)}"
    return None


def long_line(res: Result) -> str | None:
    longest = max((len(line) for line in res.output.splitlines()), default=0)
    return f"an output line of {longest:,} characters" if longest > MAX_LINE else None


def require_no_crash(res: Result) -> None:
    problem = crash(res)
    require(problem is None, problem)


def require_refusal(res: Result, mention: str | None = None, trained_ok: bool = False,
                    max_lines: int = MAX_ERROR_LINES) -> None:
    """A clean refusal: exit 2, no traceback, a short error, nothing trained; `mention` is a
    regular expression one stderr line must match (case-insensitive)."""
    require_no_crash(res)
    require(res.rc == 2, f"wrong exit code {res.rc} (expected 2): {gist(res)}")
    require(long_line(res) is None, long_line(res))
    errors = error_lines(res.stderr)
    require(len(errors) <= max_lines, f"noisy refusal: {len(errors)} stderr lines (at most {max_lines}): {gist(res)}")
    require(trained_ok or res.count("trained in") == 0, "trained before refusing")
    if mention:
        require(any(re.search(mention, line, re.I) for line in errors),
                f"the error does not say /{mention}/: {gist(res)}")


def require_success(res: Result, codes=(0,)) -> None:
    require_no_crash(res)
    require(res.rc in codes, f"wrong exit code {res.rc} (expected {' or '.join(map(str, codes))}): {gist(res)}")


# ----------------------------------------------------------------------------------------------
# Running subprocesses under a timeout and a memory watchdog
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Command:
    argv: list
    cwd: Path
    timeout: float
    umask: int | None = None
    kill_when: Callable[[str], bool] | None = None  # given stderr so far; True -> SIGKILL


def _tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def _read_capped(path: Path) -> str:
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= 2 * READ_CAP:
            data = f.read()
        else:  # keep both ends: the start shows what was echoed, the end shows any traceback
            head = f.read(READ_CAP)
            f.seek(size - READ_CAP)
            data = head + f"\n[... {size - 2 * READ_CAP:,} bytes not read ...]\n".encode() + f.read()
    return data.decode("utf-8", errors="replace")


_LIVE: set = set()  # running Popen objects, killed on Ctrl-C
_LIVE_LOCK = threading.Lock()


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def subprocess_env(repo: Path) -> dict:
    """This process's environment with `repo` first on PYTHONPATH (threads etc. left as they are)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), *filter(None, [os.environ.get("PYTHONPATH")])])}


class Runner:
    def __init__(self, repo: Path, log_dir: Path):
        self.log_dir = log_dir  # stdout and stderr go to files here (a pipe could fill up and block)
        self.env = subprocess_env(repo)

    def run_together(self, commands: list[Command]) -> list[Result]:
        """Start every command at once; watch them all until each exits or is killed."""
        started = []
        for cmd in commands:
            out_path = Path(tempfile.mkdtemp(dir=self.log_dir)) / "log"
            out, err = open(f"{out_path}.out", "wb"), open(f"{out_path}.err", "wb")
            umask = cmd.umask
            proc = subprocess.Popen(
                cmd.argv, cwd=cmd.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True, preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
            with _LIVE_LOCK:
                _LIVE.add(proc)
            started.append({"cmd": cmd, "proc": proc, "files": (out, err), "path": out_path,
                            "start": time.monotonic(), "peak": 0, "killed": None, "end": None})
        try:
            while any(s["end"] is None for s in started):
                for s in started:
                    if s["end"] is not None:
                        continue
                    proc, cmd = s["proc"], s["cmd"]
                    if proc.poll() is not None:
                        s["end"] = time.monotonic()
                        continue
                    s["peak"] = max(s["peak"], _tree_rss(proc.pid))
                    elapsed = time.monotonic() - s["start"]
                    if s["peak"] > MEMORY_LIMIT:
                        s["killed"] = "runaway memory"
                    elif elapsed > cmd.timeout:
                        s["killed"] = "timeout"
                    elif cmd.kill_when and cmd.kill_when(Path(f"{s['path']}.err").read_text(errors="replace")):
                        s["killed"] = "killed on purpose"
                    if s["killed"]:
                        _kill_group(proc)
                        proc.wait()
                        s["end"] = time.monotonic()
                time.sleep(POLL_SECONDS)
        finally:
            for s in started:
                _kill_group(s["proc"])  # also any leftover children of a finished command
                s["proc"].wait()
                with _LIVE_LOCK:
                    _LIVE.discard(s["proc"])
                for f in s["files"]:
                    f.close()
        results = []
        for s in started:
            out, err = Path(f"{s['path']}.out"), Path(f"{s['path']}.err")
            results.append(Result([str(a) for a in s["cmd"].argv], s["proc"].returncode, _read_capped(out),
                                  _read_capped(err), s["end"] - s["start"], s["peak"], s["killed"]))
            shutil.rmtree(out.parent)
        return results

    def run(self, cmd: Command) -> Result:
        return self.run_together([cmd])[0]


def msbench_command(cwd: Path, *args, timeout: float | None = None, **kw) -> Command:
    args = [str(a) for a in args]
    if timeout is None:
        timeout = RUN_TIMEOUT if args[:1] == ["run"] else CLI_TIMEOUT
    return Command([sys.executable, "-m", "bench", *args], Path(cwd), timeout, **kw)


# ----------------------------------------------------------------------------------------------
# Files: the store, the cache, the leaderboard
# ----------------------------------------------------------------------------------------------

def sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def query(db_path: Path, sql: str, args=()) -> list:
    con = sqlite3.connect(str(db_path))
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def execute(db_path: Path, sql: str, args=()) -> None:
    con = sqlite3.connect(str(db_path))
    try:
        with con:
            con.execute(sql, args)
    finally:
        con.close()


def stored_scores(db_path: Path) -> dict:
    """{(job_key, metric_id): value} from the store's scores table."""
    return {(k, m): v for k, m, v in query(db_path, "SELECT job_key, metric_id, value FROM scores")}


def lost_scores(before: dict, db_path: Path) -> str | None:
    """A description of any score in `before` that the store no longer holds unchanged."""
    try:
        after = stored_scores(db_path)
    except sqlite3.Error as exc:
        return f"data loss: the store cannot be read any more ({exc})"
    lost = [k for k in before if k not in after]
    changed = [k for k in before if k in after and after[k] != before[k]
               and not (after[k] != after[k] and before[k] != before[k])]  # NaN == NaN here
    if lost or changed:
        return f"data loss: {len(lost)} stored scores gone, {len(changed)} changed (of {len(before)})"
    return None


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    require(path.is_file(), f"silent wrong result: no {path.name} was written")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def row_names(rows) -> list[str]:
    return [f"{r.get('label')}[{r.get('sweep_point')}]" if r.get("sweep_point") else str(r.get("label"))
            for r in rows]


def tree_modes(root: Path) -> tuple[dict, dict]:
    """({folder: mode}, {file: mode}) of everything under and including `root`."""
    if root.is_file():
        return {}, {root: stat.S_IMODE(root.stat().st_mode)}
    folders, files = {root: stat.S_IMODE(root.stat().st_mode)}, {}
    for path in root.rglob("*"):
        (folders if path.is_dir() else files)[path] = stat.S_IMODE(path.stat().st_mode)
    return folders, files


def safetensors_data_offset(path: Path) -> int:
    """Where the tensor bytes start: 8 bytes of little-endian header length, then the header."""
    return 8 + int.from_bytes(path.read_bytes()[:8], "little")


# ----------------------------------------------------------------------------------------------
# The sweep: shared state, fixtures (built once, then copied), per-case folders
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Case:
    cls: int
    name: str
    expect: str
    fn: Callable
    id: str = ""


CASES: list[Case] = []


def case(cls: int, name: str, expect: str):
    """Register a case function `fn(ctx)`; it raises NotClean(reason) or returns (clean)."""
    def register(fn):
        CASES.append(Case(cls, name, expect, fn))
        return fn
    return register


def add_case(cls: int, name: str, expect: str, fn: Callable) -> None:
    CASES.append(Case(cls, name, expect, fn))


@dataclasses.dataclass
class Template:
    """The tiny suite, trained and scored once: folder holds tiny.yaml, s.sqlite, cache/, out/."""

    folder: Path
    keys: dict  # artifact key (= job key) of "A1" (A[beta=1]), "A4" (A[beta=4], MS-VAE's stage one), "M"
    scores: dict  # {(job_key, metric_id): value}


class Sweep:
    def __init__(self, repo: Path, root: Path, keep: bool):
        self.repo, self.root, self.keep = repo, root, keep
        (root / "logs").mkdir()
        self.runner = Runner(repo, root / "logs")
        self._fixtures: dict = {}
        self._lock = threading.Lock()

    def msbench(self, cwd: Path, *args, **kw) -> Result:
        return self.runner.run(msbench_command(cwd, *args, **kw))

    def fixture(self, name: str, build: Callable[[Path], object]):
        """(folder, value) of a state built once by `build(folder)` and shared by several cases
        (which copy the folder before changing anything). A failed build fails those cases."""
        with self._lock:
            entry = self._fixtures.setdefault(name, {"lock": threading.Lock()})
        with entry["lock"]:
            if "value" not in entry and "error" not in entry:
                folder = self.root / "fixtures" / name
                folder.mkdir(parents=True)
                try:
                    entry["value"] = (folder, build(folder))
                except NotClean as exc:
                    entry["error"] = str(exc)
                except Exception as exc:  # noqa: BLE001 - reported by every case that needs it
                    entry["error"] = f"sweep error: {type(exc).__name__}: {exc}"
            if "error" in entry:
                raise NotClean(f"setup failed ({name}): {entry['error']}")
            return entry["value"]

    def template(self) -> Template:
        return self.fixture("template", self._build_template)[1]

    def _build_template(self, folder: Path) -> Template:
        (folder / "tiny.yaml").write_text(TINY_YAML)
        res = self.msbench(folder, "run", "tiny.yaml", *RUN_ARGS)
        require(res.rc == 0 and crash(res) is None, f"the tiny suite did not run: exit {res.rc}: {gist(res)}")
        keys = {}
        for spec_path in (folder / "cache").glob("*/spec.json"):
            spec = json.loads(spec_path.read_text())
            model, beta = spec.get("model"), spec.get("params", {}).get("beta")
            name = "M" if model == "ms_vae" else f"A{beta:g}" if model == "beta_tcvae" else spec_path.parent.name
            keys[name] = spec_path.parent.name
        require({"A1", "A4", "M"} <= set(keys), f"unexpected artifacts in the template cache: {sorted(keys)}")
        return Template(folder, keys, stored_scores(folder / "s.sqlite"))


class Ctx:
    """One case's fresh folder and helpers."""

    def __init__(self, sweep: Sweep, folder: Path):
        self.sweep, self.dir = sweep, folder
        self._immutable: list[Path] = []

    def path(self, *parts) -> Path:
        return self.dir.joinpath(*parts)

    def write(self, name: str, content) -> Path:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def msbench(self, *args, **kw) -> Result:
        return self.sweep.msbench(self.dir, *args, **kw)

    def run(self, suite: str = "tiny.yaml", *extra, **kw) -> Result:
        return self.msbench("run", suite, *RUN_ARGS, *extra, **kw)

    def validate(self, text, timeout: float | None = None) -> Result:
        self.write("suite.yaml", text)
        return self.msbench("validate", "suite.yaml", timeout=timeout)

    def copy_from(self, folder: Path) -> None:
        shutil.copytree(folder, self.dir, dirs_exist_ok=True, symlinks=True)

    def from_template(self) -> Template:
        template = self.sweep.template()
        self.copy_from(template.folder)
        return template

    def read_only(self, path: Path) -> None:
        """Make a file or folder unwritable: chmod for a normal user; for root, which ignores
        permissions, the immutable attribute (chattr +i, undone at cleanup)."""
        if not IS_ROOT:
            path.chmod(0o555 if path.is_dir() else 0o444)
            return
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        require(done.returncode == 0, f"setup failed: chattr +i {path}: {done.stderr.strip()} "
                                      "(running as root, so chmod cannot make it read-only)")
        self._immutable.append(path)

    def cleanup(self) -> None:
        for path in self._immutable:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        for path in [self.dir, *self.dir.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        if not self.sweep.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# Class 1: the leaderboard shows exactly the current suite
# ----------------------------------------------------------------------------------------------

def _only_one_result_per_row(header, rows) -> None:
    require(rows, "silent wrong result: the leaderboard has no rows")
    for name, row in zip(row_names(rows), rows):
        require(row.get("seeds") in ("1", "1.0"), f"silent wrong result: row {name} says seeds={row.get('seeds')}")
        for col in header:
            if col.endswith("_n") and row[col] not in ("", "1", "1.0"):
                raise NotClean(f"silent wrong result: row {name} averages {row[col]} results in {col} "
                               "(an older run is mixed in)")


def _labels_are(present: set, absent: set):
    def check(header, rows):
        labels = {r.get("label") for r in rows}
        require(not labels & absent, f"silent wrong result: stale label(s) {sorted(labels & absent)} still shown")
        require(present <= labels, f"silent wrong result: label(s) {sorted(present - labels)} missing")
    return check


def _columns_are(present: str, absent_prefix: str):
    def check(header, rows):
        stale = [c for c in header if c.startswith(absent_prefix)]
        if stale:
            raise NotClean(f"silent wrong result: stale column {stale[0]} still shown")
        require(present in header, f"silent wrong result: no column {present}")
    return check


def _no_row(label: str, sweep_point: str):
    def check(header, rows):
        names = row_names(rows)
        require(f"{label}[{sweep_point}]" not in names, f"silent wrong result: stale row {label}[{sweep_point}]")
        require(any(n.startswith(f"{label}[") for n in names), f"silent wrong result: no row of {label} left")
    return check


# (slug, what changes, edits to the tiny suite, the check of the CSV after the change)
SUITE_CHANGES = [
    ("steps", "budget steps 5 -> 6", [("steps: 5,", "steps: 6,")], _only_one_result_per_row),
    ("label", "label A renamed B", [("label: A,", "label: B,")], _labels_are({"B"}, {"A"})),
    ("metric", "l1 num_points 50 -> 60", [("{name: l1, params: {num_points: 50}}", "{name: l1, params: {num_points: 60}}")],
     _columns_are("l1[num_points=60]_mean", "l1[num_points=50]")),
    ("model", "model M removed", [(TINY_LINE_M, "")], _labels_are({"A"}, {"M"})),
    ("sweep", "sweep beta [1, 4] -> [1]", [("beta: [1, 4]", "beta: [1]")], _no_row("A", "beta=4")),
]


def _changed_state(sweep: Sweep, slug: str, edits):
    """The template, then the changed suite run on it: (folder, result of that run)."""
    def build(folder: Path):
        shutil.copytree(sweep.template().folder, folder, dirs_exist_ok=True)
        (folder / "tiny.yaml").write_text(tiny(*edits))
        return sweep.msbench(folder, "run", "tiny.yaml", *RUN_ARGS)
    return sweep.fixture(f"changed-{slug}", build)


def _stale_run_case(slug, edits, check):
    def fn(ctx: Ctx):
        folder, res = _changed_state(ctx.sweep, slug, edits)
        require_success(res)
        check(*read_csv(folder / "out" / "tiny" / "leaderboard.csv"))
    return fn


def _stale_leaderboard_case(slug, edits, check):
    def fn(ctx: Ctx):
        folder, _ = _changed_state(ctx.sweep, slug, edits)
        ctx.copy_from(folder)
        shutil.rmtree(ctx.path("out"), ignore_errors=True)
        res = ctx.msbench("leaderboard", "tiny.yaml", *REPORT_ARGS)
        require_success(res)
        check(*read_csv(ctx.path("out", "tiny", "leaderboard.csv")))
    return fn


for _slug, _what, _edits, _check in SUITE_CHANGES:
    add_case(1, f"{_what}, then run", "exit 0; leaderboard.csv shows exactly the changed suite",
             _stale_run_case(_slug, _edits, _check))
    add_case(1, f"{_what}, run, then `leaderboard`", "exit 0; leaderboard.csv shows exactly the changed suite",
             _stale_leaderboard_case(_slug, _edits, _check))


# ----------------------------------------------------------------------------------------------
# Class 2: the same job twice in one suite
# ----------------------------------------------------------------------------------------------

SAME_JOB = r"same job|twice|duplicate"


@case(2, "sweep beta: [1, 1.0]", "validate exits 2, one line saying the job is listed twice")
def same_job_in_a_sweep(ctx):
    require_refusal(ctx.validate(tiny(("beta: [1, 4]", "beta: [1, 1.0]"))), mention=SAME_JOB)


def _same_job_two_labels(entry: str, labels: set):
    def fn(ctx: Ctx):
        text = tiny((TINY_LINE_M, TINY_LINE_M + f"  - {entry}\n"))
        res = ctx.validate(text)
        require_no_crash(res)
        if res.rc == 2:
            require_refusal(res, mention=SAME_JOB)
            return
        require(res.rc == 0, f"wrong exit code {res.rc}: {gist(res)}")
        ctx.from_template()
        ctx.write("tiny.yaml", text)
        run = ctx.run()
        require_success(run)
        header, rows = read_csv(ctx.path("out", "tiny", "leaderboard.csv"))
        shown = {r.get("label") for r in rows}
        require(labels <= shown, f"silent wrong result: validate accepted it, and label(s) "
                                 f"{sorted(labels - shown)} are missing from the leaderboard")
    return fn


add_case(2, "same spec under labels A and B", "validate exits 2 naming it, or both labels on the leaderboard",
         _same_job_two_labels("{model: beta_tcvae, label: B, params: {beta: 1, latent_dim: 3}}", {"A", "B"}))
add_case(2, "same spec as A[beta=4] written beta: 4.0", "validate exits 2 naming it, or both labels on the leaderboard",
         _same_job_two_labels("{model: beta_tcvae, label: C, params: {beta: 4.0, latent_dim: 3}}", {"A", "C"}))
add_case(2, "label D omits beta (default 1.0): the same job as A[beta=1]",
         "validate exits 2 naming it, or both labels on the leaderboard",
         _same_job_two_labels("{model: beta_tcvae, label: D, params: {latent_dim: 3}}", {"A", "D"}))


@case(2, "MS-VAE's stage one equals a listed model (sharing, not a duplicate)", "validate exits 0")
def shared_stage_one_is_fine(ctx):
    require_success(ctx.validate(TINY_YAML))


# ----------------------------------------------------------------------------------------------
# Class 3: duplicate keys in the YAML
# ----------------------------------------------------------------------------------------------

DUPLICATE_KEYS = [  # (what, suite text, the duplicated key)
    ("`name:` twice", tiny(append="name: other\n"), "name"),
    ("a key twice in a model's params", tiny(("width: 8}", "width: 8, width: 16}")), "width"),
    ("a key twice in budget", tiny(("learning_rate: 1.0e-3}", "learning_rate: 1.0e-3, steps: 50}")), "steps"),
    ("a key twice in dataset.params", tiny(("{image_size: 16}", "{image_size: 16, image_size: 32}")), "image_size"),
    ("`models:` twice", tiny(append="models:\n  - {model: beta_tcvae, label: Z}\n"), "models"),
    ("`label:` twice in a block-style model entry",
     tiny((TINY_LINE_M, "  - model: ms_vae\n    label: M\n    params: {beta: 4, latent_dim: 3, z_dim: 2, width: 8}\n"
                        "    label: N\n")), "label"),
]


def _duplicate_key_case(text, key):
    def fn(ctx: Ctx):
        require_refusal(ctx.validate(text), mention=rf"\b{re.escape(key)}\b")
    return fn


for _what, _text, _key in DUPLICATE_KEYS:
    add_case(3, _what, f"validate exits 2 with a line naming {_key!r}", _duplicate_key_case(_text, _key))


# ----------------------------------------------------------------------------------------------
# Class 4: numbers in scientific notation
# ----------------------------------------------------------------------------------------------

SCIENTIFIC = [
    ("learning_rate: 1e-3", [("learning_rate: 1.0e-3", "learning_rate: 1e-3")]),
    ("learning_rate: 1E-3", [("learning_rate: 1.0e-3", "learning_rate: 1E-3")]),
    ("learning_rate: 5e-4", [("learning_rate: 1.0e-3", "learning_rate: 5e-4")]),
    ("beta: 1e1 in params", [("{beta: 4, latent_dim: 3, z_dim", "{beta: 1e1, latent_dim: 3, z_dim")]),
    ("sweep beta: [1e0, 4e0]", [("beta: [1, 4]", "beta: [1e0, 4e0]")]),
]


def _scientific_case(edits):
    def fn(ctx: Ctx):
        require_success(ctx.validate(tiny(*edits)))
    return fn


for _what, _edits in SCIENTIFIC:
    add_case(4, _what, "validate exits 0", _scientific_case(_edits))


@case(4, "learning_rate: 1e-3x (not a number)", "validate exits 2, one line")
def not_a_number(ctx):
    require_refusal(ctx.validate(tiny(("learning_rate: 1.0e-3", "learning_rate: 1e-3x"))), mention="learning_rate")


@case(4, "learning_rate: 1e-3 is the same job as 1.0e-3", "run on the stored state exits 0 and trains nothing")
def scientific_same_key(ctx):
    ctx.from_template()
    ctx.write("tiny.yaml", tiny(("learning_rate: 1.0e-3", "learning_rate: 1e-3")))
    res = ctx.run()
    require_success(res)
    require(res.count("trained in") == 0, f"silent wrong result: {res.count('trained in')} jobs retrained "
                                          "(1e-3 gave a different job key from 1.0e-3)")


# ----------------------------------------------------------------------------------------------
# Class 5: a corrupt or missing cached model
# ----------------------------------------------------------------------------------------------

def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _artifact(ctx: Ctx, t: Template, which: str, *name) -> Path:
    return ctx.path("cache", t.keys[which], *name)


# Every job of the template is scored, so `run` loads no model; the report's reconstructions figure
# loads M and its stage one A[beta=4]: the damage goes to those two (A[beta=1] is never read).
CACHE_DAMAGE = [  # (what, damage(ctx, template))
    ("weights.safetensors truncated (beta_tcvae A[beta=4], MS-VAE's stage one)",
     lambda c, t: _truncate(_artifact(c, t, "A4", "weights.safetensors"))),
    ("weights.safetensors truncated (ms_vae M)",
     lambda c, t: _truncate(_artifact(c, t, "M", "weights.safetensors"))),
    ("artifact folder deleted (ms_vae M)",
     lambda c, t: shutil.rmtree(_artifact(c, t, "M"))),
    ("spec.json garbled (ms_vae M)",
     lambda c, t: _artifact(c, t, "M", "spec.json").write_text('{"model": "ms_v')),
    ("losses.json deleted (A[beta=4])",
     lambda c, t: _artifact(c, t, "A4", "losses.json").unlink()),
]


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _cache_damage_run_case(damage):
    def fn(ctx: Ctx):
        t = ctx.from_template()
        damage(ctx, t)
        shutil.rmtree(ctx.path("out"))
        res = ctx.run()
        require_success(res, codes=(0, 1))
        lost = lost_scores(t.scores, ctx.path("s.sqlite"))
        require(lost is None, lost)
        for name in ("leaderboard.md", "leaderboard.csv"):
            require(ctx.path("out", "tiny", name).is_file(), f"no {name} written after the run")
    return fn


def _cache_damage_leaderboard_case(damage):
    def fn(ctx: Ctx):
        t = ctx.from_template()
        damage(ctx, t)
        shutil.rmtree(ctx.path("out"))
        res = ctx.msbench("leaderboard", "tiny.yaml", *REPORT_ARGS)
        require_no_crash(res)
        if res.rc == 2:
            require_refusal(res, max_lines=1)
        else:
            require(res.rc == 0, f"wrong exit code {res.rc}: {gist(res)}")
            warnings = error_lines(res.stderr)
            require(len(warnings) <= 2, f"noisy: {len(warnings)} stderr lines for 2 figures: {gist(res)}")
            require(ctx.path("out", "tiny", "leaderboard.md").is_file(), "exit 0 but no leaderboard.md")
        lost = lost_scores(t.scores, ctx.path("s.sqlite"))
        require(lost is None, lost)
    return fn


for _what, _damage in CACHE_DAMAGE:
    add_case(5, f"{_what}: run", "exit 0/1, no traceback, no stored score lost, leaderboard written",
             _cache_damage_run_case(_damage))
    add_case(5, f"{_what}: leaderboard", "exit 0 with a one-line warning per skipped figure, or exit 2 with one line",
             _cache_damage_leaderboard_case(_damage))


# ----------------------------------------------------------------------------------------------
# Class 6: bytes flipped inside the tensor data of an artifact whose scores are not stored
# ----------------------------------------------------------------------------------------------

DETECTED = r"corrupt|checksum|sha-?256|set aside|\bmoved\b|digest|\bhash\b"


def _flip_case(which: str, spots: int, mask: int):
    def fn(ctx: Ctx):
        t = ctx.from_template()
        key = t.keys[which]
        execute(ctx.path("s.sqlite"), "DELETE FROM scores WHERE job_key=?", (key,))
        execute(ctx.path("s.sqlite"), "DELETE FROM runs WHERE job_key=?", (key,))
        weights = _artifact(ctx, t, which, "weights.safetensors")
        start, size = safetensors_data_offset(weights), weights.stat().st_size
        data = bytearray(weights.read_bytes())
        for i in range(spots):  # spread over the tensor bytes, header untouched
            data[start + (size - start) * (2 * i + 1) // (2 * spots)] ^= mask
        weights.write_bytes(bytes(data))
        res = ctx.run()
        require_no_crash(res)
        detected = any(re.search(DETECTED, line, re.I) for line in res.stderr.splitlines())
        if not detected:
            raise NotClean("silent wrong result: the corrupted weights were loaded and scored"
                           if res.rc == 0 else f"evaluation error instead of detection: {gist(res)}")
        require(res.rc == 0, f"wrong exit code {res.rc}: {gist(res)}")
        require(res.count("trained in") >= 1, "the corruption was reported but the model was not retrained")
        ok = query(ctx.path("s.sqlite"), "SELECT COUNT(*) FROM runs WHERE job_key=? AND status='ok'", (key,))
        require(ok[0][0] == 1, "the retrained job has no ok row in the store")
    return fn


add_case(6, "64 bytes flipped in beta_tcvae A[beta=1]", "run detects it (checksum), retrains, exits 0",
         _flip_case("A1", 64, 0xFF))
add_case(6, "64 bytes flipped in ms_vae M", "run detects it (checksum), retrains, exits 0", _flip_case("M", 64, 0xFF))
add_case(6, "a single low mantissa bit flipped in A[beta=1]", "run detects it (checksum), retrains, exits 0",
         _flip_case("A1", 1, 0x01))


# ----------------------------------------------------------------------------------------------
# Class 7: a damaged store
# ----------------------------------------------------------------------------------------------

def _garbage(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _garble_middle(path: Path) -> None:
    size = path.stat().st_size
    _overwrite(path, size // 3, _garbage(size // 3, 1))


STORE_DAMAGE = [  # (what, damage(path))
    ("store truncated to 0 bytes", lambda p: os.truncate(p, 0)),
    ("store truncated to half", lambda p: os.truncate(p, p.stat().st_size // 2)),
    ("garbage over the middle third of the store", _garble_middle),
    ("first 100 bytes of the store overwritten", lambda p: _overwrite(p, 0, _garbage(100, 2))),
    ("store is a text file", lambda p: p.write_text("my notes\n" * 200)),
]
STORE_COMMANDS = {  # name -> arguments
    "run": ("run", "tiny.yaml", *RUN_ARGS),
    "leaderboard": ("leaderboard", "tiny.yaml", *REPORT_ARGS),
    "show": ("show", "tiny", "--store", "s.sqlite"),
    "store check": ("store", "check", "--store", "s.sqlite"),
}


def _missing_command(res: Result) -> str | None:
    if "invalid choice" in res.stderr or "unrecognized arguments" in res.stderr:
        return f"command missing: {gist(res)}"
    return None


def _store_damage_case(damage, args):
    def fn(ctx: Ctx):
        ctx.from_template()
        store = ctx.path("s.sqlite")
        damage(store)
        before = sha256(store)
        res = ctx.msbench(*args)
        problems = [_missing_command(res), crash(res)]
        if sha256(store) != before:
            problems.append("data loss: the damaged store was rewritten (not refused)")
        problems = [p for p in problems if p]
        require(not problems, "; ".join(problems[:2]))
        require_refusal(res, mention=r"s\.sqlite")
    return fn


for _what, _damage in STORE_DAMAGE:
    for _name, _args in STORE_COMMANDS.items():
        add_case(7, f"{_what}: {_name}", "exit 2, one line naming the store, the file left byte for byte",
                 _store_damage_case(_damage, _args))


@case(7, "`store check` on a good store", "exit 0")
def store_check_good(ctx):
    ctx.from_template()
    res = ctx.msbench("store", "check", "--store", "s.sqlite")
    require(_missing_command(res) is None, _missing_command(res))
    require_success(res)


@case(7, "`store backup DEST` of a good store", "exit 0; DEST is a valid SQLite file with every score")
def store_backup(ctx):
    t = ctx.from_template()
    res = ctx.msbench("store", "backup", "backup.sqlite", "--store", "s.sqlite")
    require(_missing_command(res) is None, _missing_command(res))
    require_success(res)
    require(ctx.path("backup.sqlite").is_file(), "no backup file written")
    try:
        ok = query(ctx.path("backup.sqlite"), "PRAGMA quick_check")[0][0]
        count = query(ctx.path("backup.sqlite"), "SELECT COUNT(*) FROM scores")[0][0]
    except sqlite3.Error as exc:
        raise NotClean(f"the backup is not a valid store: {exc}") from None
    require(ok == "ok", f"the backup fails quick_check: {ok}")
    require(count == len(t.scores), f"data loss: the backup has {count} scores of {len(t.scores)}")


@case(7, "run on an SQLite database of another program", "exit 2, one line; the database left byte for byte")
def foreign_database(ctx):
    ctx.write("tiny.yaml", TINY_YAML)
    execute(ctx.path("s.sqlite"), "CREATE TABLE contacts (name TEXT, phone TEXT)")
    execute(ctx.path("s.sqlite"), "INSERT INTO contacts VALUES ('Ada', '555')")
    before = sha256(ctx.path("s.sqlite"))
    res = ctx.run()
    require_no_crash(res)
    require(sha256(ctx.path("s.sqlite")) == before, "data loss: msbench wrote into another program's database")
    require_refusal(res)


# ----------------------------------------------------------------------------------------------
# Class 8: output locations that cannot be written (a fresh store: the old code trains first)
# ----------------------------------------------------------------------------------------------

def _empty_store(ctx: Ctx, path: Path) -> None:
    """A valid store of the code under test that holds no runs."""
    t = ctx.sweep.template()
    shutil.copyfile(t.folder / "s.sqlite", path)
    execute(path, "DELETE FROM scores")
    execute(path, "DELETE FROM runs")


def _location_case(setup: Callable[[Ctx], dict]):
    """setup(ctx) prepares the folder and returns the options that replace RUN_ARGS' defaults."""
    def fn(ctx: Ctx):
        ctx.write("tiny.yaml", TINY_YAML)
        options = {"--store": "s.sqlite", "--cache": "cache", "--out": "out", "--device": "cpu", **setup(ctx)}
        args = [x for kv in options.items() for x in kv]
        require_refusal(ctx.msbench("run", "tiny.yaml", "--no-progress", *args))
    return fn


def _read_only_dir(name):
    def setup(ctx):
        ctx.path(name).mkdir()
        ctx.read_only(ctx.path(name))
        return {f"--{name}": name}
    return setup


def _read_only_store(ctx):
    _empty_store(ctx, ctx.path("ro.sqlite"))
    ctx.read_only(ctx.path("ro.sqlite"))
    return {"--store": "ro.sqlite"}


def _under_a_file(option, leaf):
    def setup(ctx):
        ctx.write("file.txt", "a regular file\n")
        return {option: f"file.txt/{leaf}"}
    return setup


def _store_dir(ctx):
    ctx.path("store-dir").mkdir()
    return {"--store": "store-dir"}


def _not_sqlite(ctx):
    ctx.write("results.json", json.dumps({"runs": []}) + "\n")
    return {"--store": "results.json"}


LOCATIONS = [
    ("--out a read-only directory", _read_only_dir("out")),
    ("--out under a regular file (file.txt/out)", _under_a_file("--out", "out")),
    ("--out under /proc", lambda ctx: {"--out": "/proc/msbench-sweep/out"}),
    ("--store a read-only file", _read_only_store),
    ("--store not SQLite (a JSON file)", _not_sqlite),
    ("--store a directory", _store_dir),
    ("--store under a regular file", _under_a_file("--store", "s.sqlite")),
    ("--cache a read-only directory", _read_only_dir("cache")),
    ("--cache under a regular file", _under_a_file("--cache", "cache")),
    ("--device tpu", lambda ctx: {"--device": "tpu"}),
]
for _what, _setup in LOCATIONS:
    add_case(8, _what, "run exits 2 with one line, before training anything", _location_case(_setup))


# ----------------------------------------------------------------------------------------------
# Class 9: unbounded memory and time at validation (these run alone, for honest timings)
# ----------------------------------------------------------------------------------------------

def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A flow sequence whose last element expands to width**levels leaves (billion laughs);
    the anchors are defined inside it, so the suite needs no extra top-level key."""
    parts = [f"&l0 [{', '.join(['x'] * width)}]"]
    parts += [f"&l{k} [{', '.join([f'*l{k - 1}'] * width)}]" for k in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


def _big_sweep() -> str:
    axes = {"beta": [float(i) for i in range(100)], "latent_dim": list(range(1, 101)),
            "z_dim": list(range(1, 101)), "kl_weight": [float(i) for i in range(100)], "width": list(range(4, 104))}
    return tiny((TINY_LINE_M, f"  - {{model: ms_vae, label: M, params: {json.dumps(axes)}}}\n"))


def _many_entries() -> str:
    grid = json.dumps({"beta": [float(i) for i in range(40)], "latent_dim": list(range(1, 41)),
                       "z_dim": list(range(1, 41))})
    entries = "".join(f"  - {{model: ms_vae, label: M{i}, params: {grid}}}\n" for i in range(4))
    return tiny((TINY_LINE_M, entries))


def _quick_refusal_case(text_fn, mention=None):
    def fn(ctx: Ctx):
        require_refusal(ctx.validate(text_fn(), timeout=QUICK_TIMEOUT), mention=mention)
    return fn


JOB_LIMIT = r"jobs?\b|limit"
add_case(9, "5 params x 100 values (10^10 jobs)", f"validate exits 2 within {QUICK_TIMEOUT}s, one line about the job count",
         _quick_refusal_case(_big_sweep, JOB_LIMIT))
add_case(9, "4 entries x 64,000 jobs (256,000 in all)", f"validate exits 2 within {QUICK_TIMEOUT}s, one line about the job count",
         _quick_refusal_case(_many_entries, JOB_LIMIT))

BOMB_SPOTS = [  # (where, edits placing the bomb)
    ("name", [("name: tiny", f"name: {alias_bomb()}")]),
    ("description", [("description: tiny", f"description: {alias_bomb()}")]),
    ("a model param (beta)", [("{beta: 4, latent_dim: 3, z_dim", f"{{beta: {alias_bomb()}, latent_dim: 3, z_dim")]),
    ("seeds", [("seeds: [0]", f"seeds: {alias_bomb()}")]),
    ("a label", [("label: A,", f"label: {alias_bomb()},")]),
]
for _where, _edits in BOMB_SPOTS:
    add_case(9, f"YAML alias bomb (9^9) as {_where}",
             f"validate exits 2 within {QUICK_TIMEOUT}s, under 2 GiB, no line over {MAX_LINE} chars",
             _quick_refusal_case(lambda e=_edits: tiny(*e)))

add_case(9, "flow sequence nested 5,000 deep as a param", f"validate exits 2 within {QUICK_TIMEOUT}s, one line",
         _quick_refusal_case(lambda: tiny(("{beta: 4, latent_dim: 3, z_dim", "{beta: " + "[" * 5000 + "]" * 5000
                                                                           + ", latent_dim: 3, z_dim"))))


def _huge_text_case(edits_fn):
    def fn(ctx: Ctx):
        res = ctx.validate(edits_fn(), timeout=60)
        require_no_crash(res)
        require(res.rc in (0, 2), f"wrong exit code {res.rc}: {gist(res)}")
        require(long_line(res) is None, long_line(res))
        if res.rc == 2:
            require_refusal(res)
    return fn


add_case(9, "a 10 MB label", f"validate exits 0 or 2 within 60s, no line over {MAX_LINE} chars",
         _huge_text_case(lambda: tiny(("label: A,", f"label: {'x' * 10_000_000},"))))


@case(9, "`ls suites` beside an alias-bomb suite", f"exit 0 within {QUICK_TIMEOUT}s, the good suite listed, short lines")
def ls_with_bomb(ctx):
    ctx.write("d/good.yaml", TINY_YAML)
    ctx.write("d/bomb.yaml", tiny(("name: tiny", f"name: {alias_bomb()}")))
    res = ctx.msbench("ls", "suites", "--dir", "d", timeout=QUICK_TIMEOUT)
    require_success(res)
    require(long_line(res) is None, long_line(res))
    require(re.search(r"^good\b", res.stdout, re.M), "the good suite is not listed")


# ----------------------------------------------------------------------------------------------
# Class 10: values that validate, then crash
# ----------------------------------------------------------------------------------------------

def _refused(text, mention=None, not_saying=None):
    def fn(ctx: Ctx):
        res = ctx.validate(text)
        require_refusal(res, mention=mention)
        if not_saying:
            bad = [line for line in error_lines(res.stderr) if re.search(not_saying, line, re.I)]
            if bad:
                raise NotClean(f"misleading message: {bad[0][:110]}")
    return fn


VALIDATE_THEN_CRASH = [  # (what, suite text, a regex a stderr line must match, a regex none may match)
    ("seeds: [2^63]", tiny(("seeds: [0]", "seeds: [9223372036854775808]")), "seed", None),
    ("seeds: [2^64]", tiny(("seeds: [0]", "seeds: [18446744073709551616]")), "seed", None),
    ("name: '..'", tiny(("name: tiny", "name: '..'")), "name", None),
    ("name: '.'", tiny(("name: tiny", "name: '.'")), "name", None),
    ("a 300-character name", tiny(("name: tiny", f"name: {'n' * 300}")), "name", None),
    ("a 200-character name of 400 bytes (é)", tiny(("name: tiny", f"name: {'é' * 200}")), "name", None),
    ("a name with a newline", tiny(("name: tiny", 'name: "a\\nb"')), "name", None),
    ("a name with a NUL", tiny(("name: tiny", 'name: "a\\0b"')), "name", None),
    ("ms_vae with stage_one: ms_vae", tiny(("{beta: 4, latent_dim", "{stage_one: ms_vae, beta: 4, latent_dim")),
     "stage_one", None),
    ("learning_rate: .inf", tiny(("learning_rate: 1.0e-3", "learning_rate: .inf")), "learning_rate", None),
    ("beta: .inf", tiny(("{beta: 4, latent_dim: 3, z_dim", "{beta: .inf, latent_dim: 3, z_dim")), "beta", None),
    ("beta: .nan", tiny(("{beta: 4, latent_dim: 3, z_dim", "{beta: .nan, latent_dim: 3, z_dim")), "beta", "negative"),
    ("learning_rate: .nan", tiny(("learning_rate: 1.0e-3", "learning_rate: .nan")), "learning_rate", None),
    ("the suite is a YAML list", "- name: tiny\n- dataset: dsprites\n", None, None),
    ("a tab-indented line", tiny(("  - {model: ms_vae", "\t- {model: ms_vae")), None, None),
    ("a binary file (random bytes)", _garbage(4096, 3), None, None),
    ("a Latin-1 file with é in the description", tiny(("description: tiny", "description: café")).encode("latin-1"),
     None, None),
]
for _what, _text, _mention, _not_saying in VALIDATE_THEN_CRASH:
    add_case(10, _what, "validate exits 2 with one line", _refused(_text, _mention, _not_saying))


@case(10, "a UTF-16 file (with BOM)", "validate exits 2 with one line, or 0 if it decodes it correctly")
def utf16_suite(ctx):
    res = ctx.validate(tiny(("description: tiny", "description: café")).encode("utf-16"))
    require_no_crash(res)
    if res.rc != 0:
        require_refusal(res)


@case(10, "a suite path that does not exist", "validate exits 2 with one line")
def missing_suite(ctx):
    require_refusal(ctx.msbench("validate", "nowhere.yaml"))


@case(10, "`ls suites` with a good and a binary suite", "exit 0 and the good suite listed")
def ls_with_binary(ctx):
    ctx.write("d/good.yaml", TINY_YAML)
    ctx.write("d/binary.yaml", _garbage(4096, 4))
    res = ctx.msbench("ls", "suites", "--dir", "d")
    require_success(res)
    require(re.search(r"^good\b", res.stdout, re.M), "the good suite is not listed")


# ----------------------------------------------------------------------------------------------
# Class 11: concurrent ArtifactCache.save calls (a script run with the checkout on PYTHONPATH)
# ----------------------------------------------------------------------------------------------

RACE_SCRIPT = textwrap.dedent('''\
    """Concurrent ArtifactCache saves on one key, with watchers (written by hostile_sweep.py).
    argv: MODE ROOT, MODE in threads | processes | loaders | keys. Prints one JSON line."""
    import json, multiprocessing, os, sys, threading
    import torch
    from bench.cache import ArtifactCache

    MODE, ROOT, KEY, SAVES = sys.argv[1], sys.argv[2], "race0000000000000000", 20


    class Tiny(torch.nn.Linear):
        device = torch.device("cpu")  # load_into reads model.device

        def __init__(self):
            super().__init__(4, 4)


    def save_many(keys, errors):
        cache, model = ArtifactCache(ROOT), Tiny()
        for i, key in enumerate(keys):
            try:
                cache.save(key, model, {"model": "linear", "save": i}, [float(i)])
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])


    def in_process(start, queue):
        start.wait()
        errors = []
        save_many([KEY] * SAVES, errors)
        queue.put(errors)


    def watch(expected, stop, seen):
        cache = ArtifactCache(ROOT)
        path, model = cache.path(KEY), Tiny()
        while not stop.is_set():
            if MODE == "loaders":
                if cache.has(KEY):
                    try:
                        cache.load_into(KEY, model)
                    except Exception as exc:
                        seen.append(f"load failed: {type(exc).__name__}: {exc}"[:200])
                continue
            try:
                names = set(os.listdir(path))
            except (FileNotFoundError, NotADirectoryError):
                continue
            if not expected <= names:
                seen.append(f"partial folder: {sorted(names)}")


    def main():
        errors, seen, stop = [], [], threading.Event()
        save_many(["probe0000000000000000"], errors)  # what one complete artifact holds
        expected = set(os.listdir(ArtifactCache(ROOT).path("probe0000000000000000")))
        if MODE == "keys":
            threads = [threading.Thread(target=save_many, args=([f"k{t}-{i}" for i in range(SAVES)], errors))
                       for t in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            cache = ArtifactCache(ROOT)
            seen = [f"incomplete {t}-{i}" for t in range(8) for i in range(SAVES)
                    if not expected <= set(os.listdir(cache.path(f"k{t}-{i}")))]
        else:
            watchers = [threading.Thread(target=watch, args=(expected, stop, seen)) for _ in range(2)]
            if MODE == "processes":
                mp = multiprocessing.get_context("fork")  # forked before any thread starts
                start, queue = mp.Event(), mp.Queue()
                procs = [mp.Process(target=in_process, args=(start, queue)) for _ in range(4)]
                for p in procs:
                    p.start()
                for w in watchers:
                    w.start()
                start.set()
                for _ in procs:
                    errors += queue.get()
                for p in procs:
                    p.join()
            else:
                savers = [threading.Thread(target=save_many, args=([KEY] * SAVES, errors)) for _ in range(8)]
                for w in watchers:
                    w.start()
                for s in savers:
                    s.start()
                for s in savers:
                    s.join()
            stop.set()
            for w in watchers:
                w.join()
        print(json.dumps({"expected": sorted(expected), "errors": errors, "seen": seen}))


    if __name__ == "__main__":
        main()
''')


def _race_case(mode: str):
    def fn(ctx: Ctx):
        script = ctx.write("race.py", RACE_SCRIPT)
        res = ctx.sweep.runner.run(Command([sys.executable, str(script), mode, "cache"], ctx.dir, CLI_TIMEOUT))
        require_success(res)
        try:
            report = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise NotClean(f"the race script printed no report: {gist(res)}") from None
        errors, seen = report["errors"], report["seen"]
        problems = [f"{len(errors)} saves raised, e.g. {errors[0]}"] if errors else []
        problems += [f"{len(seen)} times a reader saw a bad artifact, e.g. {seen[0]}"] if seen else []
        require(not problems, "; ".join(problems))
    return fn


add_case(11, "8 threads x 20 saves of one key, 2 reader threads",
         "no save raises; the folder is always absent or complete", _race_case("threads"))
add_case(11, "4 processes x 20 saves of one key, 2 reader threads",
         "no save raises; the folder is always absent or complete", _race_case("processes"))
add_case(11, "8 threads x 20 saves of one key, 2 threads loading it whenever has() says so",
         "no save raises; every load after has() succeeds", _race_case("loaders"))
add_case(11, "8 threads x 20 saves of distinct keys", "no save raises; all 160 folders complete", _race_case("keys"))


# ----------------------------------------------------------------------------------------------
# Class 12: two runs on one store
# ----------------------------------------------------------------------------------------------

PAIR_YAML = """\
name: pair
description: four jobs of a few seconds each
dataset: {name: dsprites, params: {image_size: 16}}
budget: {steps: 50, batch_size: 16, learning_rate: 1.0e-3}
seeds: [0]
models:
  - {model: beta_tcvae, label: A, params: {beta: [1, 2, 4, 8], latent_dim: 3}}
metrics:
  - {name: l1, params: {num_points: 50}}
plots: []
"""
PAIR_JOBS = 4


def _ok_rows(store: Path) -> int:
    return query(store, "SELECT COUNT(*) FROM runs WHERE suite='pair' AND status='ok'")[0][0]


@case(12, "two `run`s started together on one store and cache",
      "both exit 0; each job trained once in all; one ok row per job")
def two_runs(ctx):
    ctx.write("pair.yaml", PAIR_YAML)
    commands = [msbench_command(ctx.dir, "run", "pair.yaml", *RUN_ARGS) for _ in range(2)]
    results = ctx.sweep.runner.run_together(commands)
    for res in results:
        require_success(res)
    trained = sum(res.count("trained in") for res in results)
    require(trained == PAIR_JOBS, f"wasted work: {trained} trainings for {PAIR_JOBS} jobs "
                                  f"({' + '.join(str(r.count('trained in')) for r in results)})")
    rows = query(ctx.path("s.sqlite"), "SELECT status, COUNT(*) FROM runs WHERE suite='pair' GROUP BY status")
    require(dict(rows) == {"ok": PAIR_JOBS}, f"the store holds {dict(rows)}, expected {PAIR_JOBS} ok rows")


@case(12, "a run killed (SIGKILL) after its first job, then run again",
      "the rerun exits 0 within 300s, every job ok, finished jobs not retrained")
def killed_then_resumed(ctx):
    ctx.write("pair.yaml", PAIR_YAML)
    first = ctx.sweep.runner.run(msbench_command(ctx.dir, "run", "pair.yaml", *RUN_ARGS,
                                                 kill_when=lambda err: "trained in" in err))
    require(first.killed == "killed on purpose", f"setup: the first run was not killed mid-way ({gist(first)})")
    done_before = _ok_rows(ctx.path("s.sqlite"))
    res = ctx.run("pair.yaml")
    require_success(res)
    require(_ok_rows(ctx.path("s.sqlite")) == PAIR_JOBS, "not every job is ok after the rerun")
    retrained = res.count("trained in")
    require(retrained <= PAIR_JOBS - done_before,
            f"wasted work: {retrained} trainings, {done_before} of {PAIR_JOBS} jobs were already done")


# ----------------------------------------------------------------------------------------------
# Class 13: the umask is respected
# ----------------------------------------------------------------------------------------------

def _umask_state(sweep: Sweep, umask: int):
    def build(folder: Path):
        (folder / "tiny.yaml").write_text(TINY_YAML)
        return sweep.msbench(folder, "run", "tiny.yaml", *RUN_ARGS, umask=umask)
    return sweep.fixture(f"umask-{umask:03o}", build)


def _modes_case(umask: int, where: str, folder_mode: int | None, file_mode: int | None):
    def fn(ctx: Ctx):
        folder, res = _umask_state(ctx.sweep, umask)
        require_success(res)
        folders, files = tree_modes(folder / where)
        wrong = [(p, m, folder_mode) for p, m in folders.items() if folder_mode is not None and m != folder_mode]
        wrong += [(p, m, file_mode) for p, m in files.items() if file_mode is not None and m != file_mode]
        if wrong:
            path, mode, expected = wrong[0]
            raise NotClean(f"{len(wrong)} paths with the wrong mode, e.g. {path.relative_to(folder)} "
                           f"is {mode:o}, expected {expected:o}")
    return fn


add_case(13, "umask 022: the cache", "artifact folders 755, files 644", _modes_case(0o022, "cache", 0o755, 0o644))
add_case(13, "umask 002: the cache", "artifact folders 775", _modes_case(0o002, "cache", 0o775, None))
add_case(13, "umask 022: the leaderboard folder", "folders 755, files 644", _modes_case(0o022, "out", 0o755, 0o644))


# ----------------------------------------------------------------------------------------------
# Class 14: labels and descriptions in the reports
# ----------------------------------------------------------------------------------------------

HOSTILE_LABELS = ["a|b", "<script>alert(1)</script>", '=HYPERLINK("x")', "+1", "-x", "@x"]
HOSTILE_DESCRIPTION = "<b>desc</b> | with pipe"


def _hygiene_state(sweep: Sweep):
    def build(folder: Path):
        entries = "".join(f"  - {{model: beta_tcvae, label: {json.dumps(label)}, params: {{beta: {i + 1}, latent_dim: 3}}}}\n"
                          for i, label in enumerate(HOSTILE_LABELS))  # JSON strings are YAML double-quoted strings
        text = tiny(("name: tiny", "name: hygiene"),
                    ("description: tiny", f"description: {json.dumps(HOSTILE_DESCRIPTION)}"),
                    ("  - {model: beta_tcvae, label: A, params: {beta: [1, 4], latent_dim: 3}}\n" + TINY_LINE_M, entries),
                    ("  - {name: mig, params: {num_points: 200}}\n", ""),
                    ("plots: [score_vs_beta, reconstructions]", "plots: []"))
        (folder / "hygiene.yaml").write_text(text)
        return sweep.msbench(folder, "run", "hygiene.yaml", *RUN_ARGS)
    folder, res = sweep.fixture("hygiene", build)
    require_success(res)
    return folder / "out" / "hygiene"


def _markdown(ctx) -> str:
    path = _hygiene_state(ctx.sweep) / "leaderboard.md"
    require(path.is_file(), "no leaderboard.md")
    return path.read_text()


@case(14, "label <script>alert(1)</script>", "no raw <script> in leaderboard.md")
def no_raw_script(ctx):
    require("<script" not in _markdown(ctx).lower(), "raw <script> in leaderboard.md")


@case(14, "label a|b", "every Markdown table row has as many unescaped | as its header")
def table_pipes(ctx):
    blocks, current = [], []
    for line in _markdown(ctx).splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    require(blocks, "no table in leaderboard.md")
    for block in blocks:
        counts = [len(re.findall(r"(?<!\\)\|", line)) for line in block]
        bad = [(line, n) for line, n in zip(block, counts) if n != counts[0]]
        if bad:
            raise NotClean(f"silent wrong result: a table row with {bad[0][1]} separators, header "
                           f"{counts[0]}: {bad[0][0][:80]}")


def _formula_case(prefix: str, label: str):
    def fn(ctx: Ctx):
        header, rows = read_csv(_hygiene_state(ctx.sweep) / "leaderboard.csv")
        text_columns = [c for c in ("label", "model", "sweep_point") if c in header]
        bad = [row[c] for row in rows for c in text_columns if row[c].startswith(prefix)]
        if bad:
            raise NotClean(f"CSV cell {bad[0][:40]!r} would run as a spreadsheet formula")
        shown = {row.get("label", "").lstrip("'") for row in rows}
        require(label in shown, f"the row of label {label!r} is missing from leaderboard.csv")
    return fn


for _label in HOSTILE_LABELS[2:]:
    add_case(14, f"label {_label} in leaderboard.csv", f"no text cell starts with {_label[0]!r} (e.g. a leading ')",
             _formula_case(_label[0], _label))


@case(14, f"description {HOSTILE_DESCRIPTION!r}", "the description appears in leaderboard.md")
def description_shown(ctx):
    md = _markdown(ctx)
    require("desc" in md and "with pipe" in md, "the suite's description is not in leaderboard.md")


@case(14, "description's <b> in leaderboard.md", "the description shown, its <b> escaped like any HTML")
def description_escaped(ctx):
    md = _markdown(ctx)
    require("with pipe" in md, "cannot tell: the suite's description is not in leaderboard.md")
    require("<b>" not in md, "raw <b> from the description in leaderboard.md")


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------

def parse_classes(text: str) -> set:
    classes = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        classes.update(range(int(low), int(high or low) + 1))
    unknown = classes - set(CLASS_TITLES)
    if unknown:
        raise argparse.ArgumentTypeError(f"no class {sorted(unknown)}; classes are 1-14")
    return classes


def check_imports(repo: Path) -> None:
    code = "import bench, models; print(bench.__file__); print(models.__file__)"
    done = subprocess.run([sys.executable, "-c", code], env=subprocess_env(repo), capture_output=True, text=True,
                          cwd=tempfile.gettempdir(), timeout=CLI_TIMEOUT)
    if done.returncode != 0:
        sys.exit(f"cannot import bench with --repo {repo}:\n{done.stderr.strip()}")
    for name, file in zip(("bench", "models"), done.stdout.split()):
        print(f"{name} imported from {file}")
        if not Path(file).resolve().is_relative_to(repo):
            sys.exit(f"{name} does not come from --repo {repo}; is another copy installed first on sys.path?")


def run_case(sweep: Sweep, c: Case) -> tuple[bool, str, float]:
    folder = Path(tempfile.mkdtemp(prefix=f"case-{c.id}-", dir=sweep.root))
    ctx, start = Ctx(sweep, folder), time.monotonic()
    try:
        c.fn(ctx)
        verdict = (True, "")
    except NotClean as exc:
        verdict = (False, str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug in the sweep itself is reported, not raised
        verdict = (False, f"sweep error: {type(exc).__name__}: {exc}")
    finally:
        ctx.cleanup()
    return (*verdict, time.monotonic() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the msbench checkout to test (default: the one holding this script)")
    parser.add_argument("--only", type=parse_classes, default=set(CLASS_TITLES),
                        help="class numbers, e.g. 5,7 or 1-4 (default: all)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="cases run at a time (default 2, or 1 on a single CPU)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any case is not clean")
    parser.add_argument("--list", action="store_true", help="list the cases and their expected outcomes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args(argv)

    chosen = [c for c in CASES if c.cls in args.only]
    numbering = {}
    for c in CASES:
        numbering[c.cls] = numbering.get(c.cls, 0) + 1
        c.id = f"{c.cls}.{numbering[c.cls]:02d}"
    if args.list:
        for c in chosen:
            print(f"{c.id:>5}  {c.name}\n       expect: {c.expect}")
        return 0

    repo = args.repo.resolve()
    check_imports(repo)
    root = Path(tempfile.mkdtemp(prefix="hostile_sweep_"))
    sweep = Sweep(repo, root, args.keep)
    print(f"python {sys.executable}; {len(chosen)} cases; work folder {root}; running as "
          f"{'root (read-only = chattr +i)' if IS_ROOT else 'a normal user'}\n", flush=True)

    outcomes, lock, started = {}, threading.Lock(), time.monotonic()
    width = max(len(c.name) for c in chosen) if chosen else 0

    def one(c: Case) -> None:
        clean, reason, seconds = run_case(sweep, c)
        with lock:
            outcomes[c.id] = (clean, reason)
            status = "CLEAN" if clean else "NOT CLEAN"
            print(f"{c.id:>5}  {c.name:<{min(width, 64)}}  {status:<9} {seconds:5.0f}s  {reason}".rstrip(), flush=True)

    pool = concurrent.futures.ThreadPoolExecutor(max(1, args.jobs))
    try:
        list(pool.map(one, [c for c in chosen if c.cls not in ALONE]))
        pool.shutdown()
        for c in chosen:
            if c.cls in ALONE:
                one(c)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        with _LIVE_LOCK:
            for proc in list(_LIVE):
                _kill_group(proc)
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print(f"\n{'class':>5}  {'':<36} clean")
    total = clean_total = 0
    for cls, title in CLASS_TITLES.items():
        mine = [outcomes[c.id][0] for c in chosen if c.cls == cls]
        if mine:
            print(f"{cls:>5}  {title:<36} {sum(mine)}/{len(mine)}")
            total, clean_total = total + len(mine), clean_total + sum(mine)
    print(f"{'':>5}  {'total':<36} {clean_total}/{total} clean")
    not_clean = [c for c in chosen if not outcomes[c.id][0]]
    if not_clean:
        print("\nNot clean:")
        for c in not_clean:
            print(f"{c.id:>5}  {c.name}: {outcomes[c.id][1]}")
    print(f"\nsweep took {(time.monotonic() - started) / 60:.1f} min; tested {repo}")
    return 1 if args.strict and not_clean else 0


if __name__ == "__main__":
    sys.exit(main())
