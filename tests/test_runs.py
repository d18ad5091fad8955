"""The run store: identity from content (data fingerprint, no paths), code fingerprints, stale
runs, re-keying, committed weights, and the committed records loading in a fresh clone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from sccnb.data.fingerprint import data_fingerprint
from sccnb.training.config import config_from_json, portable_path, resolve_config
from sccnb.training.runs import (LATER_FIELDS, Run, code_fingerprint, identity, run_id, stale_runs,
                                 stored_runs)

REPO = Path(__file__).resolve().parents[1]


def _pts(points) -> str:
    return "version: 1\nn_points: 68\n{\n" + "".join(f"{x} {y}\n" for x, y in points) + "}\n"


def _face_folder(root: Path, faces: int = 6) -> Path:
    """A tiny 300-W style folder: ``.pts`` files with an image file (bytes only) beside each."""
    sub = root / "afw"
    sub.mkdir(parents=True)
    for f in range(faces):
        (sub / f"{1000 + f}_1.pts").write_text(_pts([(10 + i + f, 20 + i) for i in range(68)]))
        (sub / f"{1000 + f}_1.jpg").write_bytes(bytes(100 + f))
    return root


def _cfg(root: Path, **kw):
    return resolve_config("real300w_cpu", data_root=str(root), **kw)


def test_moving_the_data_keeps_the_id_and_changing_it_does_not(tmp_path):
    a = _face_folder(tmp_path / "a")
    base = run_id(_cfg(a))
    moved = tmp_path / "elsewhere" / "b"
    shutil.copytree(a, moved)
    assert run_id(_cfg(moved)) == base  # same data, other folder
    pts = moved / "afw" / "1000_1.pts"
    lines = pts.read_text().splitlines()
    lines[5] = "11.5 22"  # one point moved by half a pixel
    pts.write_text("\n".join(lines) + "\n")
    assert run_id(_cfg(moved)) != base
    shutil.rmtree(moved)
    shutil.copytree(a, moved)
    assert run_id(_cfg(moved)) == base
    (moved / "afw" / "1003_1.pts").unlink()  # a face removed
    assert run_id(_cfg(moved)) != base
    shutil.copytree(a, tmp_path / "c")
    (tmp_path / "c" / "afw" / "1002_1.jpg").write_bytes(bytes(7))  # an image replaced
    assert run_id(_cfg(tmp_path / "c")) != base


def test_identity_holds_no_path_and_ignores_runtime_fields(tmp_path):
    root = _face_folder(tmp_path / "faces")
    ident = identity(_cfg(root))
    assert str(tmp_path) not in json.dumps(ident)
    assert ident["data_root"] == str(data_fingerprint("real300w", root))
    assert run_id(_cfg(root, threads=2, progress=False, device="cpu")) == run_id(_cfg(root))
    assert run_id(_cfg(root, seed=1)) != run_id(_cfg(root))


def test_fields_added_later_orphan_no_run_at_their_old_behaviour():
    cfg = resolve_config("cpu")
    for name, before in LATER_FIELDS.items():
        assert getattr(cfg, name) == before and name not in identity(cfg)
    assert run_id(resolve_config("cpu", amp="bf16")) != run_id(cfg)


def test_committed_synthface_runs_keep_their_ids():
    """Every committed run's folder name is the id its own config gives today."""
    for r in stored_runs(REPO / "results" / "runs"):
        cfg = config_from_json(r.config["train"])
        if cfg.data_root and not Path(cfg.data_root).exists():
            continue  # real data absent on this machine: covered by the shared-data test
        assert run_id(cfg) == r.id, r.id


def test_missing_data_root_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_id(_cfg(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no annotation files"):
        run_id(_cfg(tmp_path / "empty"))


def test_portable_paths_round_trip():
    shared = REPO.parent / "shared" / "data" / "300w_mini"
    assert portable_path(shared) == os.path.join("..", "shared", "data", "300w_mini")
    assert portable_path("/opt/faces") == "/opt/faces"
    cfg = config_from_json({**resolve_config("cpu").__dict__,
                            "data_root": "../shared/data/300w_mini"})
    assert Path(cfg.data_root) == shared.resolve()


def test_code_fingerprint_ignores_comments_and_scheduling_but_not_code(tmp_path, monkeypatch):
    from sccnb.training import runs

    src = "def f(x):\n    '''doc'''\n    return x + 1\n\ndef ensure_run(cfg):\n    return 0\n"
    p = tmp_path / "m.py"
    p.write_text(src)
    base = runs._file_fingerprint(p)
    p.write_text("# a comment\n" + src.replace("'''doc'''", "'''other doc'''")
                 .replace("return 0", "return 1"))
    assert runs._file_fingerprint(p) == base
    p.write_text(src.replace("x + 1", "x + 2"))
    assert runs._file_fingerprint(p) != base
    fp = code_fingerprint()  # every fingerprinted file is where CODE_FILES says (after a move)
    assert set(fp["files"]) == set(runs.CODE_FILES)


def _fake_run(root: Path, name: str, code) -> Run:
    d = root / name
    d.mkdir(parents=True)
    cfg = {"id": name, "train": resolve_config("smoke").__dict__, "provenance": {}}
    if code is not None:
        cfg["code"] = code
    (d / "config.json").write_text(json.dumps(cfg, default=list))
    return Run(d)


def test_runs_stale_lists_runs_of_other_code(tmp_path):
    current = code_fingerprint()
    old = {"digest": "0" * 12, "files": {**current["files"], "losses.py": "x" * 12}}
    _fake_run(tmp_path, "smoke-wflw-scc-aaaaaaaaaa", current)
    _fake_run(tmp_path, "smoke-wflw-scc-bbbbbbbbbb", old)
    _fake_run(tmp_path, "smoke-wflw-scc-cccccccccc", None)
    found = dict((r.id, why) for r, why in stale_runs(stored_runs(tmp_path)))
    assert set(found) == {"smoke-wflw-scc-bbbbbbbbbb", "smoke-wflw-scc-cccccccccc"}
    assert found["smoke-wflw-scc-bbbbbbbbbb"] == "code differs in losses.py"
    proc = subprocess.run([sys.executable, "-m", "sccnb", "runs", "--stale", "--runs-root",
                           str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1
    assert "smoke-wflw-scc-bbbbbbbbbb: code differs in losses.py" in proc.stdout
    assert "aaaaaaaaaa" not in proc.stdout
    shutil.rmtree(tmp_path / "smoke-wflw-scc-bbbbbbbbbb")
    shutil.rmtree(tmp_path / "smoke-wflw-scc-cccccccccc")
    proc = subprocess.run([sys.executable, "-m", "sccnb", "runs", "--stale", "--runs-root",
                           str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and "no stale runs" in proc.stdout


def test_rekey_renames_runs_stored_under_an_old_id(tmp_path):
    r = _fake_run(tmp_path, "smoke-wflw-scc-0123456789", code_fingerprint())
    proc = subprocess.run([sys.executable, "-m", "sccnb", "runs", "--rekey", "--runs-root",
                           str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    new = run_id(resolve_config("smoke"))
    assert not r.path.exists() and (tmp_path / new / "config.json").is_file()
    assert json.loads((tmp_path / new / "config.json").read_text())["id"] == new


def test_half_weights_load_and_predict_like_the_full_ones(tmp_path, monkeypatch):
    from sccnb.training.train import ensure_run

    monkeypatch.setenv("SCCNB_CACHE", str(tmp_path / "cache"))
    run = ensure_run(resolve_config("smoke", epochs=1, lr_milestones=()), tmp_path / "runs")
    full = run.load_model()
    run.export_half()
    assert run.half_weights.stat().st_size < 0.6 * run.best_weights.stat().st_size
    run.best_weights.unlink()
    half = run.load_model()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(full(x), half(x), atol=0.5)  # pixels at 256: fp16 rounding only
    assert run.has_weights
    # `eval RUN` on half weights prints their numbers and leaves the fp32 records alone
    before = {p.name: p.read_bytes() for p in run.path.iterdir() if p.suffix in (".json", ".csv")}
    proc = subprocess.run([sys.executable, "-m", "sccnb", "eval", str(run.path), "--device",
                           "cpu"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SCCNB_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "best_fp16.pt" in proc.stdout and "printed only" in proc.stdout
    assert before == {p.name: p.read_bytes() for p in run.path.iterdir()
                      if p.suffix in (".json", ".csv")}


def test_weights_that_are_not_the_records_ones_are_refused_and_retrained(tmp_path, monkeypatch):
    """A best.pt replaced after the run finished (or left by an interrupted retraining beside
    restored records) is not taken for the run's weights: has_weights is False, loading names
    the reason, and ensure_run(need_weights=True) trains the run again."""
    from sccnb.errors import NotFound
    from sccnb.training.train import ensure_run

    monkeypatch.setenv("SCCNB_CACHE", str(tmp_path / "cache"))
    cfg = resolve_config("smoke", epochs=2, lr_milestones=())
    run = ensure_run(cfg, tmp_path / "runs")
    seal = json.loads(run.seal_path.read_text())
    assert set(seal) == {"best.pt"} and run.has_weights and run.weights_issue(run.best_weights) \
        is None
    state = torch.load(run.best_weights, weights_only=True)
    first = next(k for k in state if k.endswith("conv1.weight"))
    torch.save({**state, first: state[first] + 1}, run.best_weights)  # other weights, same model
    assert not run.has_weights
    with pytest.raises(NotFound, match="differs from the weights sealed"):
        run.load_model()
    with pytest.raises(NotFound, match="cannot export"):
        run.export_half()
    # a run from before seals: the checkpoint says the training that wrote best.pt stopped early
    run.seal_path.unlink()
    ckpt = torch.load(run.path / "checkpoint.pt", weights_only=True)
    torch.save({**ckpt, "epoch": 0}, run.path / "checkpoint.pt")
    assert "stopped at epoch 0 of 2" in run.weights_issue(run.best_weights)
    assert not run.has_weights
    again = ensure_run(cfg, tmp_path / "runs", need_weights=True)
    assert again.has_weights and again.weights_issue(again.best_weights) is None
    retrained = torch.load(again.best_weights, weights_only=True)
    assert all(torch.equal(retrained[k], v) for k, v in state.items())  # deterministic on CPU
    again.export_half()
    assert set(json.loads(again.seal_path.read_text())) == {"best.pt", "best_fp16.pt"}
    # half weights that are not the records' either (both files replaced): retraining keeps the
    # old half file aside, exports new ones from the retrained best.pt and seals them together
    half = torch.load(again.half_weights, weights_only=True)
    torch.save({**half, first: half[first] + 1}, again.half_weights)
    torch.save({**state, first: state[first] + 1}, again.best_weights)
    assert not again.has_weights
    third = ensure_run(cfg, tmp_path / "runs", need_weights=True)
    assert third.weights_issue(third.half_weights) is None and third.has_weights
    assert torch.equal(torch.load(third.half_weights, weights_only=True)[first], half[first])
    (aside,) = third.path.glob("best_fp16.pt.replaced-*")
    assert torch.equal(torch.load(aside, weights_only=True)[first], half[first] + 1)


def test_a_fresh_clone_holds_every_run_the_cpu_tables_and_figures_need(tmp_path):
    """`make reproduce-tables PROFILE=cpu` trains nothing in a fresh clone: every run its plan
    lists (`runs --profile cpu --list`) is committed, and the runs whose weights a figure or
    the tour needs load their committed (sealed) half-precision weights."""
    clone = tmp_path / "sccnb"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {**os.environ, "PYTHONPATH": str(clone), "SCCNB_CACHE": str(tmp_path / "cache")}
    env.pop("SCCNB_RUNS", None)
    proc = subprocess.run([sys.executable, "-m", "sccnb", "runs", "--profile", "cpu", "--list"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) >= 13  # Tables 1-2 (Table 1's two methods with 3 seeds), Figs. 1 and 6
    missing = [ids[0] for ids in lines if not (clone / "results" / "runs" / ids[0] /
                                               "metrics.json").is_file()]
    assert not missing, f"runs the cpu tables would train in a fresh clone: {missing}"
    kept = [Run(clone / "results" / "runs" / ids[0]) for ids in lines if "(weights" in ids[1:]]
    assert len(kept) == 2 and all(r.has_weights for r in kept)
    assert all(r.weights_path() == r.half_weights for r in kept)  # no best.pt is committed


@pytest.mark.slow
def test_a_fresh_clone_elsewhere_rerenders_the_real_face_table_without_training(tmp_path,
                                                                               shared_data):
    """Clone the committed repository into another folder with ../shared at another path: the
    committed real-face runs are found (no training) and the table renders equal to the
    committed one."""
    committed = REPO / "results" / "real300w_cpu" / "tables" / "table3_real300w.csv"
    if not committed.is_file():
        pytest.skip("no committed real-face table yet")
    clone = tmp_path / "somewhere" / "sccnb"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    (tmp_path / "somewhere" / "shared").symlink_to(shared_data.parent)
    env = {**os.environ, "PYTHONPATH": str(clone), "SCCNB_CACHE": str(tmp_path / "cache")}
    env.pop("SCCNB_RUNS", None)
    script = ("from sccnb.study.common import StudySetup; from sccnb.study import verdicts; "
              "import sccnb, sys; assert sccnb.__file__.startswith(sys.argv[1]), sccnb.__file__; "
              "s = StudySetup(profile='real300w_cpu', missing='skip'); "
              "verdicts.render(s, sys.argv[2]); print('missing', sorted(set(s.missing_runs)))")
    proc = subprocess.run([sys.executable, "-c", script, str(clone), str(tmp_path / "out")],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the clone finds every run the committed tables were rendered from: what they list as not
    # yet trained is all it misses
    tables = committed.parent
    expected = sorted({m for f in tables.glob("*.json") for m in json.loads(
        f.read_text())["provenance"].get("missing_runs", [])})
    assert f"missing {expected}" in proc.stdout, proc.stdout
    for name in ("table3_real300w", "table3_real300w_claims", "real300w_topk_claims",
                 "real300w_loss_claims", "power_plan"):
        ours = pd.read_csv(tmp_path / "out" / "tables" / f"{name}.csv")
        pd.testing.assert_frame_equal(ours, pd.read_csv(tables / f"{name}.csv"))


def test_history_is_read_once_per_version_and_handed_out_as_a_copy(tmp_path):
    folder = tmp_path / "smoke-wflw-fc-0000000000"
    folder.mkdir()
    (folder / "history.csv").write_text("epoch,val_nme\n0,0.2\n1,0.1\n")
    run = Run(folder)
    h = run.history
    h.loc[0, "val_nme"] = 9.0  # a caller's change stays with the caller
    assert run.history["val_nme"].tolist() == [0.2, 0.1]
    (folder / "history.csv").write_text("epoch,val_nme\n0,0.2\n1,0.1\n2,0.05\n")
    assert run.history["val_nme"].tolist() == [0.2, 0.1, 0.05]  # a new version is read again


def test_a_worker_records_the_commit_of_the_code_it_imported(monkeypatch):
    import multiprocessing as mp

    from sccnb import provenance as prov

    real_head = prov.git_commit()
    monkeypatch.setattr(prov, "_PINNED", None)
    heads = iter(["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(prov, "git_commit", lambda: next(heads))
    assert prov.pin_commit() == "aaaaaaaaaaaa"  # the worker starts at commit a ...
    assert prov.provenance("cpu")["commit"] == "aaaaaaaaaaaa"  # ... HEAD moves on: still a
    # the training pool's initializer pins in the spawned worker, before any run starts
    from sccnb.training.runs import pin_worker

    with mp.get_context("spawn").Pool(1, initializer=pin_worker) as pool:
        assert pool.apply(_pinned_commit) == real_head


def _pinned_commit():
    from sccnb import provenance as prov

    return prov._PINNED


def test_regeneration_estimate_replays_the_scheduler_on_the_least_contended_runs(tmp_path):
    import dataclasses

    from sccnb.study.plan import regeneration_estimate

    base = resolve_config("smoke", epochs=4)
    scc = [dataclasses.replace(base, seed=s) for s in range(3)]
    fc = [dataclasses.replace(base, head="fc", seed=s) for s in range(2)]
    for cfg, per_epoch in [(scc[0], 60.0), (scc[1], 90.0), (fc[0], 30.0)]:
        folder = tmp_path / run_id(cfg)
        folder.mkdir()
        (folder / "metrics.json").write_text("{}")
        pd.DataFrame({"epoch": range(4), "seconds": [per_epoch] * 4}).to_csv(
            folder / "history.csv", index=False)
    est = regeneration_estimate(scc + fc, tmp_path, workers=2, quantile=0.0)
    assert est["finished"] == 3 and est["runs"] == 5
    assert est["per_run_min"] == {"scc": 4.0, "fc": 2.0}  # the least contended: 60 s and 30 s
    # in order, each to the first free worker: A scc 4, B scc 4, A scc 8, B fc 6, B fc 8 min
    assert est["wall_h"] == pytest.approx(8 / 60)
    assert est["remaining_h"] == pytest.approx(4 / 60)  # scc seed 2 and fc seed 1 beside it
    assert regeneration_estimate(scc, tmp_path / "empty", workers=2)["wall_h"] is None


def test_no_committed_run_is_stale():
    """Every run in the repository's store carries this checkout's code fingerprint (issue 20):
    a change to the numerical code must retrain what the tables read, and a change that leaves
    the numbers alone must not touch the fingerprint (the test above)."""
    proc = subprocess.run([sys.executable, "-m", "sccnb", "runs", "--stale"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "no stale runs" in proc.stdout


@pytest.mark.parametrize("change, stale", [
    # a refactor that leaves every number alone: docstrings, comments, formatting
    (lambda src: src.replace('"""Landmark regression losses', '"""Regression losses (edited)')
     .replace("        return (pred - target).abs().mean()",
              "        # the mean absolute error\n        return (\n            pred - target\n"
              "        ).abs().mean()"), False),
    # a change to the numbers: the L1 loss doubled
    (lambda src: src.replace("        return (pred - target).abs().mean()",
                             "        return 2 * (pred - target).abs().mean()"), True),
])
def test_a_refactor_keeps_the_committed_runs_fresh_and_a_numeric_change_does_not(
        tmp_path, change, stale):
    """Both directions on the real package and the committed store: a copy of sccnb with
    ``training/losses.py`` changed is asked `runs --stale` about the repository's runs."""
    pkg = tmp_path / "sccnb"
    shutil.copytree(REPO / "sccnb", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    src = (pkg / "training" / "losses.py").read_text()
    new = change(src)
    assert new != src
    (pkg / "training" / "losses.py").write_text(new)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("SCCNB_RUNS", None)
    proc = subprocess.run([sys.executable, "-m", "sccnb", "runs", "--stale", "--runs-root",
                           str(REPO / "results" / "runs")], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert f"{tmp_path}" in subprocess.run(
        [sys.executable, "-c", "import sccnb; print(sccnb.__file__)"], capture_output=True,
        text=True, cwd=tmp_path, env=env).stdout  # the copy, not the checkout, was imported
    if stale:
        # the runs' recorded per-file digests against the copy's: losses.py among them (files
        # changed by proven same-number refactors since the runs were trained may be listed too)
        lines = [ln for ln in proc.stdout.splitlines() if "code differs in" in ln]
        assert proc.returncode == 1 and lines, proc.stdout
        assert all("losses.py" in ln.split("code differs in", 1)[1] for ln in lines), lines
    else:
        assert proc.returncode == 0 and "no stale runs" in proc.stdout, proc.stdout[-2000:]


def test_provenance_depends_on_nothing_that_depends_on_it():
    """config -> provenance -> runs -> config was a circle (issue 23): provenance may import
    only the errors module of the package, at any depth of its code."""
    import ast

    tree = ast.parse((REPO / "sccnb" / "provenance.py").read_text())
    inner = {(n.module or "") for n in ast.walk(tree)
             if isinstance(n, ast.ImportFrom) and n.level > 0}
    assert inner <= {"errors"}, inner
