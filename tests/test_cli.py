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
