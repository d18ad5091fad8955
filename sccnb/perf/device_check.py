"""The device check (``make device-check``): what a session with a GPU should run, in about ten
minutes on one H100/H200, writing everything as it goes.

GPU time is rare here (a session is sometimes lent one for 15 minutes) and CPU time is plenty, so
everything that can run on a CPU is tested there (``tests/test_device_paths.py``: bf16 autocast,
channels_last, ``torch.compile``, DDP on gloo), and this check runs what only the GPU can. It
writes everything under ``RESULTS`` (default ``results``), in five steps (:data:`STEPS`):
``environment``, ``cuda-tests``, ``bench``, ``real300w-train`` (the ``real300w`` profile
reduced to ``--epochs``) and ``real300w-table``. Each step's budget, what it runs and what it
writes, and how a step that fails or runs out of time is handled: ``docs/device-check.md``.

``--archive FILE`` also keeps everything written, checkpoints left out, in one ``.tar.gz``
rewritten after every step, for a borrowed machine that returns only a few files
(docs/device-check.md; there, ``make device-check PY=python3
DEVICE_ARCHIVE=$OUT/device_check.tar.gz``). Where papermill is
missing, the table step is skipped and ``--size full --only real300w-table`` renders it later,
anywhere, from the returned run records.

``--size smoke`` runs the same steps at toy size -- ``bench --quick``, the ``real300w`` profile
with a 64² ResNet18 of width 8 for one epoch on 24 faces, no time budget -- in about two minutes
on a loaded 2-core CPU: the test suite runs it, so the command cannot rot while no GPU is
around. ``--size auto`` (the default) is ``full`` where CUDA is available, else ``smoke``; smoke
results go to ``results/smoke`` (git-ignored) unless ``--results`` says otherwise.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..provenance import REPO_ROOT, atomic_write_text, provenance, write_json

__all__ = ["Step", "STEPS", "SIZES", "plan", "run_steps", "reduced_schedule", "render_summary",
           "write_environment", "write_archive", "default_data_root"]

SIZES = ("auto", "full", "smoke")
LIMIT_FACTOR = 2.0  # a step is stopped after this many times its budget (full size)
DEFAULT_EPOCHS = 20  # the real300w profile's 300 epochs, reduced so that its 6 runs fit
# smoke size: the real300w profile with the smoke network, one epoch on a few faces, one thread
# (two threads fighting other jobs for two cores can be many times slower)
SMOKE_OVERRIDES = dict(input_size=64, depth=18, width=8, epochs=1, batch_size=8, max_train=24,
                       lr_milestones=[1], progress=False, threads=1)
BENCHMARKS = ("training", "pipeline", "inference")  # the GPU benchmarks of sccnb.perf.bench


@dataclass(frozen=True)
class Step:
    """One step of the check: its name, its budget on one H100/H200 at full size, and what it
    does in words."""

    name: str
    budget_s: float
    what: str


STEPS: dict[str, Step] = {s.name: s for s in [
    Step("environment", 15, "device, versions, NCCL all-reduce"),
    Step("cuda-tests", 120, "pytest -m cuda"),
    Step("bench", 100, "GPU benchmarks: training, pipeline/projection, inference"),
    Step("real300w-train", 240, "real300w profile at 256²: SCC and FC, seeds 0-2"),
    Step("real300w-table", 30, "the real-faces notebook on those runs"),
]}


@dataclass
class StepRun:
    """A step made concrete: the command (``None``: skipped, for ``skip_reason``), its
    environment and log, and ``result()`` -- one line read from the files it wrote."""

    step: Step
    command: list[str] | None
    log: Path
    result: Callable[[], str] = lambda: ""
    env: dict[str, str] = field(default_factory=dict)
    skip_reason: str = ""
    limit_s: float | None = None
    dirs: tuple[Path, ...] = ()  # folders the command expects to exist
    ready: Callable[[], str] = lambda: ""  # just before it runs: "" or why it is skipped


def reduced_schedule(epochs: int, profile: str = "real300w") -> dict[str, Any]:
    """The profile's schedule shortened to ``epochs``, its learning-rate drops kept at the same
    fractions of training (real300w: 150 and 250 of 300 epochs -> 10 and 17 of 20)."""
    from ..training.config import PROFILES, TrainConfig

    settings = PROFILES[profile]
    full = settings.get("epochs", TrainConfig.epochs)
    milestones = settings.get("lr_milestones", TrainConfig.lr_milestones)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    scaled = sorted({max(1, round(m * epochs / full)) for m in milestones if m < full})
    return {"epochs": epochs, "lr_milestones": [m for m in scaled if m < epochs] or [epochs]}


# --- reading what a step wrote ---------------------------------------------------------------
def _environment_result(path: Path) -> str:
    rep = json.loads(path.read_text())
    cuda, nccl = rep["cuda"], rep.get("all_reduce", {})
    if not cuda.get("available", True):
        return f"{rep['device_name']}; CUDA not available ({cuda['reason']})"
    reduce_ok = nccl.get("value") == nccl.get("expected") if "value" in nccl else False
    return (f"{cuda['name']} (sm {cuda['capability']}, {cuda['memory_gib']:.0f} GiB), "
            f"bf16 {'yes' if cuda['bf16_supported'] else 'no'}, NCCL "
            f"{'all-reduce ok' if reduce_ok else nccl.get('reason', 'all-reduce FAILED')}")


def _tests_result(path: Path) -> str:
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    n, fail, err, skip = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors",
                                                          "skipped"))
    return f"{n - fail - err - skip} passed, {fail + err} failed, {skip} skipped"


def _bench_result(folder: Path) -> str:
    def load(name: str) -> dict:
        path = folder / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else {}

    parts = []
    tr, pl, inf = load("training"), load("pipeline"), load("inference")
    if tr:
        parts.append(f"train SCC/FC {tr['results']['throughput_ratio_scc_over_fc']:.2f}x")
    if inf:
        scc = inf["results"]["scc"]
        graph = scc.get("latency_ms_bf16_graph", scc.get("latency_ms_graph"))
        parts.append(f"b1 {scc.get('latency_ms_bf16', scc['latency_ms']):.2f} ms, graph "
                     + (f"{graph:.2f} ms" if graph else "n/a"))
        parts.append(f"b{inf['params']['batch']} "
                     f"{scc.get('throughput_bf16', scc['throughput']):,.0f} img/s")
    if pl:
        parts.append(f"recipe {pl['results']['projection']['end_to_end']['total_min']:.0f} min")
    summary = load("summary")
    if summary:
        parts.append(f"goals {summary['goals_met']}/{summary['goals_applicable']} met")
    return "; ".join(parts)


def _train_result(path: Path) -> str:
    rec = json.loads(path.read_text())
    done = [r for r in rec["runs"] if r["status"] == "done"]
    seconds = [r["seconds"] for r in done]
    spread = f", {min(seconds):.0f}-{max(seconds):.0f} s each" if seconds else ""
    return (f"{len(done)} of {len(rec['runs'])} runs ({rec['epochs']} epochs{spread}): "
            + ", ".join(f"{r['head']} s{r['seed']}" for r in done))


def _train_ready(path: Path) -> str:
    """"" when the training step finished at least one run of each head (the notebook renders
    the runs in the store and lists the missing ones) and papermill is there to run it; else
    why not."""
    import importlib.util

    if importlib.util.find_spec("papermill") is None:
        return ("papermill is not installed here: the runs are in the run store (and the "
                "archive); `python -m sccnb device-check --size full --only real300w-table` "
                "renders the table where it is")
    if not path.exists():
        return "the training step wrote no record"
    runs = json.loads(path.read_text())["runs"]
    done = {r["head"] for r in runs if r["status"] == "done"}
    missing = sorted({r["head"] for r in runs} - done)
    return "" if not missing else (
        f"no finished {' or '.join(missing)} run: running the check again trains the rest")


def _table_result(folder: Path) -> str:
    import pandas as pd

    df = pd.read_csv(folder / "tables" / "table3_real300w.csv")
    rows = [f"{m.split()[0]} {nme:.2f} %" + (f" ({int(n)} seeds)" if "seeds" in df else "")
            for m, nme, n in zip(df["method"], df["NME_ours"], df.get("seeds", df["NME_ours"]))
            if not m.startswith("mean")]
    return "held-out NME " + ", ".join(rows)


# --- the plan --------------------------------------------------------------------------------
def cuda_test_files(tests: Path = REPO_ROOT / "tests") -> list[str]:
    """The test files that hold tests marked ``cuda`` (``pytest -m cuda`` then collects only
    those: importing every test module costs tens of seconds on a loaded CPU)."""
    return [str(f.relative_to(REPO_ROOT)) for f in sorted(tests.glob("test_*.py"))
            if "mark.cuda" in f.read_text()] or [str(tests.relative_to(REPO_ROOT))]


def plan(results: Path, size: str, data_root: Path, epochs: int = DEFAULT_EPOCHS,
         only: tuple[str, ...] = ()) -> list[StepRun]:
    """The steps for ``size`` ("full" or "smoke"), writing under ``results``."""
    if size not in ("full", "smoke"):
        raise ValueError(f"size {size!r}; supported: full, smoke (auto is resolved by run)")
    unknown = sorted(set(only) - set(STEPS))
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}; supported: {list(STEPS)}")
    smoke = size == "smoke"
    check, py = results / "device_check", sys.executable
    env = {"SCCNB_RUNS": str(results / "runs")}
    limit = (lambda s: None) if smoke else (lambda s: LIMIT_FACTOR * s.budget_s)
    runs: list[StepRun] = []

    step = STEPS["environment"]
    out = check / "environment.json"
    runs.append(StepRun(step, [py, "-m", "sccnb.cli.device_check", "--environment", str(out)],
                        check / "environment.log", lambda: _environment_result(out),
                        limit_s=limit(step)))

    step = STEPS["cuda-tests"]
    xml = check / "cuda_tests.xml"
    runs.append(StepRun(step, [py, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider",
                               f"--junitxml={xml}", *cuda_test_files()],
                        check / "cuda_tests.log", lambda: _tests_result(xml), env,
                        limit_s=limit(step)))

    step = STEPS["bench"]
    bench_dir = results / "bench" / ("cpu-smoke" if smoke else "gpu")
    cmd = [py, "-m", "sccnb", "bench", "--out", str(bench_dir)]
    cmd += [arg for name in BENCHMARKS for arg in ("--only", name)]
    cmd += ["--quick", "--threads", "1"] if smoke else []
    runs.append(StepRun(step, cmd, check / "bench.log", lambda: _bench_result(bench_dir), env,
                        limit_s=limit(step)))

    overrides = dict(SMOKE_OVERRIDES) if smoke else reduced_schedule(epochs)
    skip = "" if data_root.is_dir() else (
        f"no data at {data_root}: copy shared/data/300w_mini to .data/300w_mini or set "
        "DEVICE_DATA")
    step = STEPS["real300w-train"]
    record = check / "real300w_runs.json"
    cmd = [py, "-m", "sccnb.cli.device_check", "--train-real300w", str(record),
           str(data_root.resolve()), json.dumps(overrides),
           "0" if smoke else str(step.budget_s)]
    runs.append(StepRun(step, None if skip else cmd, check / "real300w_train.log",
                        lambda: _train_result(record), env, skip, limit(step)))

    step = STEPS["real300w-table"]
    real = results / "real300w"
    cmd = [py, "-m", "papermill", "notebooks/table3_real300w.ipynb",
           str(real / "notebooks" / "table3_real300w.ipynb"), "--cwd", "notebooks",
           "-k", "python3", "--no-progress-bar", "--log-output",
           "-p", "profile", "real300w", "-p", "data_root", str(data_root.resolve()),
           "-p", "out_dir", str(real.resolve()), "-y", f"overrides: {json.dumps(overrides)}",
           "-p", "missing", "skip", "-p", "interactive", "False"]
    runs.append(StepRun(step, None if skip else cmd, check / "real300w_table.log",
                        lambda: _table_result(real), env, skip, limit(step),
                        dirs=(real / "notebooks",), ready=lambda: _train_ready(record)))
    return [r for r in runs if not only or r.step.name in only]


# --- running ---------------------------------------------------------------------------------
def _run_command(run: StepRun) -> tuple[str, int | None]:
    """Run one step's command in its own process group, output to its log; ``(status, rc)``.
    A step past its limit is stopped (SIGTERM to its group, SIGKILL 10 s later)."""
    for folder in (run.log.parent, *run.dirs):
        folder.mkdir(parents=True, exist_ok=True)
    with open(run.log, "w") as log:
        proc = subprocess.Popen(run.command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **run.env}, start_new_session=True)
        try:
            rc = proc.wait(timeout=run.limit_s)
        except subprocess.TimeoutExpired:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 30)):
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
                except ProcessLookupError:
                    break
            return "timed out", None
    return ("ok" if rc == 0 else "failed"), rc


def run_steps(runs: list[StepRun], out: Path, size: str,
              echo: Callable[[str], None] = print,
              after_save: Callable[[], object] | None = None) -> dict[str, Any]:
    """Run ``runs`` in order; ``out/summary.json`` (and ``summary.txt``) rewritten before and
    after each step, then ``after_save()`` (the archive). Returns the summary."""
    started = time.time()
    summary: dict[str, Any] = {
        "size": size, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "steps": [{"name": r.step.name, "what": r.step.what, "budget_s": r.step.budget_s,
                   "limit_s": r.limit_s, "status": "pending", "elapsed_s": None,
                   "result": "", "log": str(r.log)} for r in runs],
        "provenance": provenance()}

    def save() -> None:
        summary["elapsed_s"] = time.time() - started
        write_json(out / "summary.json", summary)
        atomic_write_text(out / "summary.txt", render_summary(summary) + "\n")
        if after_save is not None:
            after_save()

    save()
    for run, row in zip(runs, summary["steps"]):
        reason = run.skip_reason if run.command is None else run.ready()
        if reason:
            row.update(status="skipped", result=reason, elapsed_s=0.0)
            save()
            continue
        echo(f"[device-check] {run.step.name}: {run.step.what} (budget "
             f"{run.step.budget_s:.0f} s on one H100/H200) ...")
        row["status"] = "running"
        save()
        t0 = time.time()
        status, rc = _run_command(run)
        row.update(status=status, returncode=rc, elapsed_s=time.time() - t0)
        try:
            row["result"] = run.result()
        except Exception as err:  # noqa: BLE001 -- a step that wrote nothing readable
            row["result"] = f"no result ({type(err).__name__}: {err}); see {run.log}"
        save()
    summary["ok"] = all(r["status"] in ("ok", "skipped") for r in summary["steps"])
    save()
    return summary


def render_summary(summary: dict[str, Any]) -> str:
    """The one-screen table: each step's status, time against its budget, and result."""
    def secs(v: float | None) -> str:
        return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.0f} s"

    lines = [f"device check ({summary['size']}), started {summary['started']}",
             f"{'step':15s} {'status':10s} {'time':>7s} {'budget':>7s}  result"]
    for r in summary["steps"]:
        lines.append(f"{r['name']:15s} {r['status']:10s} {secs(r['elapsed_s']):>7s} "
                     f"{secs(r['budget_s']):>7s}  {r['result']}")
    budget = sum(r["budget_s"] for r in summary["steps"])
    lines.append(f"{'total':15s} {'':10s} {secs(summary.get('elapsed_s')):>7s} "
                 f"{secs(budget):>7s}  (budgets: one H100/H200 at full size)")
    return "\n".join(lines)


# --- the environment step (its own process: a broken driver cannot take the check down) ------
def write_environment(path: Path) -> dict[str, Any]:
    """:func:`sccnb.perf.device.device_report` plus an NCCL all-reduce (or why not), to ``path``."""
    import torch

    from .device import all_reduce_check, as_json, device_report

    device = "cuda" if torch.cuda.is_available() else "cpu"
    report = device_report(device)
    report["all_reduce"] = as_json(all_reduce_check("nccl", device))
    report["provenance"] = provenance(device)
    write_json(path, report)
    return report


# --- the archive: what the check wrote, in one file ------------------------------------------
def write_archive(results: Path, archive: Path) -> int:
    """Everything the check wrote under ``results`` -- ``device_check/``, ``bench/gpu`` (or
    ``bench/cpu-smoke``), ``real300w/`` and the run records of the real-faces runs, without
    checkpoints (``*.pt``) -- into one ``.tar.gz`` (written atomically), its paths starting with
    ``results``' own name, so that unpacking it in the repository restores them (for a machine
    that returns only a few files). Returns the number of files."""
    import tarfile
    import tempfile

    folders = [results / "device_check", results / "bench" / "gpu",
               results / "bench" / "cpu-smoke", results / "real300w"]
    record = results / "device_check" / "real300w_runs.json"
    if record.exists():
        ids = [r["id"] for r in json.loads(record.read_text())["runs"]]
        folders += [results / "runs" / i for i in ids]
    files = sorted(f for d in folders if d.is_dir() for f in d.rglob("*")
                   if f.is_file() and f.suffix not in (".pt", ".lock", ".tmp"))
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{archive.name}.", dir=archive.parent)
    os.close(fd)
    with tarfile.open(tmp, "w:gz") as tar:
        for f in files:
            tar.add(f, arcname=str(f.relative_to(results.parent)))
    os.replace(tmp, archive)
    return len(files)


# --- where the real faces are -------------------------------------------------------------

def default_data_root() -> Path:
    local = REPO_ROOT / ".data" / "300w_mini"
    return local if local.is_dir() else REPO_ROOT.parent / "shared" / "data" / "300w_mini"
