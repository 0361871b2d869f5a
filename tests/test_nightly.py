"""scripts/nightly: a fresh run, then regress against the baseline; its exit code is regress's
(2 without a baseline, 0 on a clean rerun, 1 with a planted regression, naming the cells)."""

import importlib.machinery
import importlib.util
from pathlib import Path

from bench.cli import main
from test_regress import write_suite

ROOT = Path(__file__).resolve().parent.parent


def nightly():
    loader = importlib.machinery.SourceFileLoader("nightly", str(ROOT / "scripts" / "nightly"))
    spec = importlib.util.spec_from_loader("nightly", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.main


def test_nightly_exit_codes(tmp_path, capsys):
    run = nightly()
    suite = write_suite(tmp_path, seeds=(0, 1, 2), steps=40)
    args = [suite, "--store", str(tmp_path / "n.sqlite"), "--cache", str(tmp_path / "cache"), "--out",
            str(tmp_path / "lb")]
    assert run(args) == 2  # no baseline yet: the comparison cannot be trusted
    verdict = (tmp_path / "lb/reg/regress.txt").read_text()
    assert "no baseline at" in verdict
    assert main(["baseline", suite, "--store", str(tmp_path / "n.sqlite"), "--out", str(tmp_path / "lb")]) == 0
    capsys.readouterr()
    assert run(args) == 0  # trained and scored afresh: bit-identical here, nothing regressed
    assert "fresh" in capsys.readouterr().err
    assert run([*args, "--degrade", "beta-TCVAE"]) == 1  # a tenth of the steps
    verdict = (tmp_path / "lb/reg/regress.txt").read_text()
    assert "regressed: beta-TCVAE" in verdict and "l1" in verdict
    assert (tmp_path / "lb/reg/index.html").read_text().count('class="regressed"') >= 1  # highlighted
