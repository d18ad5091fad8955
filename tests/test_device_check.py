"""The device check (``make device-check``): its runner writes as it goes and survives failing,
stuck and skipped steps; its plan fits ten minutes on a GPU; and the whole command runs at smoke
size on a CPU, as the GPU session will run it at full size."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import sccnb.perf.device_check
import sccnb.study.common  # noqa: F401 -- imported before a test patches runs.run_id: a
import sccnb.study.real300w  # first import under the patch keeps the fake
import sccnb.training.runs
import sccnb.training.train
from sccnb.perf.device_check import (LIMIT_FACTOR, STEPS, Step, StepRun, plan, reduced_schedule,
                                     render_summary, run_steps)
from sccnb.study.real300w import train_scc_vs_fc

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


def test_reduced_schedule_keeps_the_drops_at_the_same_fractions():
    assert reduced_schedule(20) == {"epochs": 20, "lr_milestones": [10, 17]}  # 150, 250 of 300
    assert reduced_schedule(30) == {"epochs": 30, "lr_milestones": [15, 25]}
    assert reduced_schedule(40) == {"epochs": 40, "lr_milestones": [20, 33]}
    assert reduced_schedule(300) == {"epochs": 300, "lr_milestones": [150, 250]}
    assert reduced_schedule(1)["lr_milestones"] == [1]  # no drop inside a one-epoch run
    with pytest.raises(ValueError, match="epochs"):
        reduced_schedule(0)


def test_the_full_plan_fits_ten_minutes_and_runs_the_gpu_work(tmp_path):
    data = tmp_path / "300w_mini"
    data.mkdir()
    runs = plan(tmp_path / "results", "full", data, epochs=30)
    assert [r.step.name for r in runs] == list(STEPS) == [
        "environment", "cuda-tests", "bench", "real300w-train", "real300w-table"]
    assert sum(s.budget_s for s in STEPS.values()) <= 600
    assert all(r.limit_s == LIMIT_FACTOR * r.step.budget_s for r in runs)
    by = {r.step.name: r for r in runs}
    tests = by["cuda-tests"].command
    assert tests[tests.index("-m", 3) + 1] == "cuda" and "tests/test_device_paths.py" in tests
    bench = by["bench"].command
    assert "--quick" not in bench and str(tmp_path / "results" / "bench" / "gpu") in bench
    assert [bench[i + 1] for i, a in enumerate(bench) if a == "--only"] == [
        "training", "pipeline", "inference"]
    train = by["real300w-train"].command  # the paper recipe at 256², reduced, on a budget
    assert json.loads(train[-2]) == {"epochs": 30, "lr_milestones": [15, 25]}
    assert float(train[-1]) == STEPS["real300w-train"].budget_s
    table = by["real300w-table"].command
    assert table[table.index("profile") + 1] == "real300w"
    assert json.loads(table[table.index("-y") + 1].split(": ", 1)[1]) == json.loads(train[-2])
    assert by["real300w-train"].env["SCCNB_RUNS"] == str(tmp_path / "results" / "runs")
    # the table waits for the runs: skipped, saying so, until the training step recorded them
    assert "no record" in by["real300w-table"].ready()
    missing = plan(tmp_path / "results", "full", tmp_path / "nowhere")[-1]
    assert missing.command is None and "DEVICE_DATA" in missing.skip_reason
    with pytest.raises(ValueError, match="unknown step"):
        plan(tmp_path, "full", data, only=("nope",))


def test_training_step_starts_runs_only_while_the_budget_allows(tmp_path, monkeypatch):
    """Runs of 100 s on a 250 s budget: the first two start (0 + 0, 100 + 100 <= 250), the third
    would end past it. The record lists every run, in priority order, with its status."""
    clock = [0.0]
    monkeypatch.setattr(sccnb.study.real300w, "time", type("Clock", (), {
        "time": staticmethod(lambda: clock[0])}))

    class FakeRun:
        metrics = {"splits": {"heldout": {"summary": {"full": {"nme": 0.05}}}}}

    def ensure_run(cfg, *args, **kwargs):
        clock[0] += 100.0
        return FakeRun()

    monkeypatch.setattr(sccnb.training.train, "ensure_run", ensure_run)
    monkeypatch.setattr(sccnb.training.runs, "run_id", lambda cfg: f"{cfg.head}-{cfg.seed}")
    # (modules that bind run_id by name are imported at the top, so the fake cannot outlive
    # this test in them: CI failed on that, the real-face study later looking runs up as "fc-0")
    rec = train_scc_vs_fc(tmp_path / "runs.json", tmp_path, {"epochs": 2}, budget_s=250)
    assert [(r["head"], r["seed"]) for r in rec["runs"]] == [  # SCC: the power plan's 5 seeds
        ("scc", 0), ("fc", 0), ("scc", 1), ("fc", 1), ("scc", 2), ("fc", 2), ("scc", 3),
        ("scc", 4)]
    assert [r["status"] for r in rec["runs"]][:2] == ["done", "done"]
    assert all(r["status"].startswith("not started") for r in rec["runs"][2:])
    assert json.loads((tmp_path / "runs.json").read_text()) == rec and rec["epochs"] == 2
    # a run of each head is enough for the table (it lists the missing runs); one is not
    assert sccnb.perf.device_check._train_ready(tmp_path / "runs.json") == ""
    rec["runs"][1]["status"] = "not started"
    (tmp_path / "runs.json").write_text(json.dumps(rec))
    assert "no finished fc run" in sccnb.perf.device_check._train_ready(tmp_path / "runs.json")


def _gone_within(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` has ended within ``seconds``: no such process, or a zombie
    waiting to be reaped (the SIGTERM is delivered asynchronously, and an orphan's reaper -- PID 1
    of a container may be none -- decides when it disappears)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_runner_writes_as_it_goes_and_survives_failing_and_stuck_steps(tmp_path):
    out = tmp_path / "check"
    pidfile = tmp_path / "grandchild.pid"
    summary_path = out / "summary.json"
    # the fourth step reads the summary while it runs: the first three are recorded already
    reader = ("import json, sys; s = json.load(open(sys.argv[1]))['steps']; "
              "assert [r['status'] for r in s] == ['ok', 'failed', 'timed out', 'running', "
              "'pending', 'pending'], s")

    def step(name: str, command, limit=None, skip="") -> StepRun:
        return StepRun(Step(name, 1.0, f"the {name} step"), command, out / f"{name}.log",
                       lambda: f"{name} done", limit_s=limit, skip_reason=skip)

    waiting = step("waiting", [PY, "-c", "raise SystemExit(1)"])
    waiting.ready = lambda: "its input is missing"
    runs = [step("fine", [PY, "-c", "print('hello')"]),
            step("broken", [PY, "-c", "raise SystemExit(3)"]),
            # a stuck step with a grandchild: the whole process group is stopped
            step("stuck", ["bash", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], limit=2.0),
            step("reader", [PY, "-c", reader, str(summary_path)]),
            step("absent", None, skip="no data here"), waiting]
    lines = []
    summary = run_steps(runs, out, "smoke", echo=lines.append)
    status = {r["name"]: r["status"] for r in summary["steps"]}
    assert status == {"fine": "ok", "broken": "failed", "stuck": "timed out", "reader": "ok",
                      "absent": "skipped", "waiting": "skipped"}
    rows = {r["name"]: r for r in summary["steps"]}
    assert rows["broken"]["returncode"] == 3 and rows["fine"]["result"] == "fine done"
    assert rows["stuck"]["elapsed_s"] < 30 and rows["absent"]["result"] == "no data here"
    assert rows["waiting"]["result"] == "its input is missing"  # decided when its turn came
    assert summary["ok"] is False
    assert _gone_within(int(pidfile.read_text()), 10.0)  # the grandchild went with its group
    assert "hello" in (out / "fine.log").read_text()
    assert json.loads(summary_path.read_text())["steps"] == summary["steps"]
    text = (out / "summary.txt").read_text()
    assert all(name in text for name in status) and "total" in text
    assert len(lines) == 4  # one line per step started


def test_summary_fits_one_screen():
    summary = {"size": "full", "started": "now", "elapsed_s": 500.0,
               "steps": [{"name": s.name, "status": "ok", "elapsed_s": s.budget_s,
                          "budget_s": s.budget_s, "result": "x" * 60} for s in STEPS.values()]}
    lines = render_summary(summary).splitlines()
    assert len(lines) <= 24 and all(len(line) <= 120 for line in lines)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_full_size_without_a_gpu_is_refused_with_a_hint(tmp_path):
    proc = subprocess.run([PY, "-m", "sccnb", "device-check", "--size", "full"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--size smoke" in proc.stderr
    # rendering the table from returned runs needs no GPU: allowed (here: nothing to render)
    proc = subprocess.run([PY, "-m", "sccnb", "device-check", "--size", "full", "--only",
                           "real300w-table", "--results", str(tmp_path), "--data-root",
                           str(tmp_path / "nowhere")], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "real300w-table  skipped" in proc.stdout


@pytest.mark.slow
def test_make_device_check_runs_every_step_at_smoke_size(tmp_path):
    """``make device-check`` on this CPU: the same four steps, at toy size (under 3 minutes on
    2 loaded cores), everything written under DEVICE_RESULTS."""
    data = REPO.parent / "shared" / "data" / "300w_mini"
    out = tmp_path / "results"
    env = {**os.environ, "SCCNB_CACHE": str(tmp_path / "cache")}
    archive = tmp_path / "back" / "device_check.tar.gz"
    proc = subprocess.run(["make", "device-check", "DEVICE_SIZE=smoke", f"DEVICE_RESULTS={out}",
                           f"DEVICE_DATA={data}", f"DEVICE_ARCHIVE={archive}"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "device_check" / "summary.json").read_text())
    status = {r["name"]: r["status"] for r in summary["steps"]}
    real_ok = "ok" if data.is_dir() else "skipped"
    assert status == {"environment": "ok", "cuda-tests": "ok", "bench": "ok",
                      "real300w-train": real_ok, "real300w-table": real_ok}
    assert all(r["elapsed_s"] >= 0 and r["budget_s"] > 0 for r in summary["steps"])
    for name in status:  # the one-screen summary, printed with each step's time
        assert any(line.startswith(name) and " s " in line for line in proc.stdout.splitlines())

    env_rec = json.loads((out / "device_check" / "environment.json").read_text())
    if not torch.cuda.is_available():
        assert env_rec["cuda"]["available"] is False
        assert env_rec["all_reduce"]["available"] is False  # NCCL: not available, no crash
        assert "skipped" in summary["steps"][1]["result"]  # the cuda tests ran, and skipped

    kind = "gpu" if torch.cuda.is_available() else "cpu-smoke"
    for name in ("training", "pipeline", "inference", "summary"):
        rec = json.loads((out / "bench" / kind / f"{name}.json").read_text())
        assert name == "summary" or rec["quick"] is True

    if data.is_dir():
        df = pd.read_csv(out / "real300w" / "tables" / "table3_real300w.csv")
        assert len(df) == 3 and all(math.isfinite(v) for v in df["NME_ours"])
        meta = json.loads((out / "real300w" / "tables" / "table3_real300w.json").read_text())
        assert meta["provenance"]["epochs"] == [1]  # the smoke override, recorded
        assert (out / "real300w" / "notebooks" / "table3_real300w.ipynb").exists()
        runs = sorted(p.name for p in (out / "runs").iterdir() if p.is_dir())
        assert [r.split("-")[2] for r in runs] == ["fc"] * 3 + ["scc"] * 5  # the plan's seeds
        assert all(r.startswith("real300w-real300w-") for r in runs)

    # one archive of it all, as a device machine returns it: unpacked, the same files
    import tarfile

    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"results/device_check/summary.json", "results/device_check/environment.json",
            "results/bench/cpu-smoke/training.json"} <= names or kind == "gpu"
    assert not any(n.endswith(".pt") for n in names)  # no checkpoints
    if data.is_dir():
        assert "results/real300w/tables/table3_real300w.csv" in names
        # the plan's seeds: SCC 5, FC 3
        assert sum(n.endswith("/metrics.json") and "/runs/real300w-" in n for n in names) == 8
