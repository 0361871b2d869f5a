import subprocess
import sys

import pytest

from bench.cli import main


@pytest.mark.parametrize("what,expected", [("models", "beta_tcvae_l"), ("datasets", "dsprites"),
                                           ("metrics", "mig"), ("suites", "quickstart")])
def test_ls(what, expected, capsys):
    assert main(["ls", what]) == 0
    out = capsys.readouterr().out
    assert expected in out and "INVALID" not in out


def test_python_dash_m_and_help():
    done = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for verb in ("run", "validate", "ls", "leaderboard", "show"):
        assert verb in done.stdout


def test_unknown_device_is_a_clear_error(workdir, capsys):
    from conftest import SUITES

    assert main(["run", str(SUITES / "smoke.yaml"), "--device", "tpu"]) == 2
    assert "expected auto, cpu, cuda or cuda:N" in capsys.readouterr().err


def test_ls_plots_lists_every_declared_figure_with_its_kinds_and_capability(capsys):
    from bench.cli import main
    from bench.report.registry import plots

    assert main(["ls", "plots"]) == 0
    out = capsys.readouterr().out
    for name in plots():
        assert name in out
    assert "models that can: stage_one" in out and "[tables]" in out
