"""scripts/gpu_ensemble.py is prepared for a GPU that is lent rarely: run it on the CPU at toy sizes, so that
it still works the day it is needed."""

import subprocess
import sys

from conftest import SUITES, ROOT


def test_the_gpu_script_runs_on_the_cpu():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_ensemble.py"), "--device", "cpu", "--sizes", "1,2",
                          "--steps", "2", "--suite", str(SUITES / "smoke.yaml"), "--cap", "4"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    assert "dsprites painted on cpu: largest difference" in out  # how near is tests/test_data.py's to say
    assert "textured_objects painted on cpu: largest difference" in out
    rows = [line for line in out.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(rows) == 2 and all(float(row.split("|")[2]) > 0 for row in rows)  # images/s measured
    assert "training, one device:" in out and "evaluation: missing" in out
