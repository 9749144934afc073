"""Concurrent converts and checks (make -j, pytest-xdist, matrix jobs on one runner) must
all succeed: 8 `convert --to matlab` and 8 `check --to matlab` of one model under one
name, separate output folders, one shared working directory and TMPDIR, all at once."""
import os
import shutil
import subprocess
import sys

from conftest import ROOT, need_octave

N = 8


def test_concurrent_converts_and_checks_all_succeed(tmp_path):
    need_octave()
    exe = os.path.join(os.path.dirname(sys.executable), "mlpexport")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "mlpexport.cli"]
    model = tmp_path / "same.skops"
    shutil.copy(os.path.join(ROOT, "fixtures", "models", "classic.skops"), model)
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(shared_tmp))
    jobs = []
    for i in range(1, N + 1):
        jobs.append(cmd + ["convert", "same.skops", "--to", "matlab", "-o", f"out{i}", "--name", "same"])
        jobs.append(cmd + ["check", "same.skops", "--to", "matlab", "--name", "same"])
    procs = [subprocess.Popen(job, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for job in jobs]
    failed = []
    for job, proc in zip(jobs, procs):
        out, _ = proc.communicate(timeout=300)
        if proc.returncode != 0:
            failed.append(f"{' '.join(job[-7:])} -> exit {proc.returncode}:\n{out}")
    assert not failed, "\n\n".join(failed)
    for i in range(1, N + 1):
        assert sorted(os.listdir(tmp_path / f"out{i}")) == ["same.m", "same.mat"]
    assert os.listdir(shared_tmp) == []  # every run removed its temporary folders
