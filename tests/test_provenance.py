"""The code version a run records: a changed leaderboard (which runs rewrite) does not make the
code dirty; a changed source file does."""

import subprocess

import bench.provenance as provenance


def test_dirty_means_code_changed_not_leaderboards(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    (tmp_path / "leaderboards").mkdir()
    (tmp_path / "leaderboards" / "board.md").write_text("scores\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "start")
    monkeypatch.setattr(provenance, "ROOT", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert provenance.code_version()["git_dirty"] is False
    (tmp_path / "leaderboards" / "board.md").write_text("new scores\n")
    assert provenance.code_version()["git_dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    version = provenance.code_version()
    assert version["git_dirty"] is True and len(version["git_sha"]) == 40
