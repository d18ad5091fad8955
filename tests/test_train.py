"""The training engine at smoke size: profiles, run identity, end-to-end training and
evaluation, exact resume, divergence, and the Soft Wing frame."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from sccnb.data.datasets import photo_id
from sccnb.data.prepare import prepare_data
from sccnb.training.config import PROFILES, resolve_config
from sccnb.training.runs import Run, run_id
from sccnb.training.train import TrainingDiverged, ensure_run, train


def smoke(**changes):
    return resolve_config("smoke", **changes)


def test_paper_profile_is_the_papers_recipe():
    cfg = resolve_config("paper")
    assert (cfg.input_size, cfg.batch_size, cfg.epochs) == (256, 64, 500)
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay) == ("sgd", 0.01, 0.9, 5e-4)
    assert cfg.lr_milestones == (100, 200, 300, 400) and cfg.lr_gamma == 0.2
    assert (cfg.loss, cfg.loss_epsilon, cfg.k, cfg.pdb, cfg.pdb_bins) == ("softwing", None, 3,
                                                                         True, 9)
    assert (cfg.depth, cfg.width, cfg.head, cfg.attention, cfg.features) == (
        34, 64, "scc", "semantic", "F3F4F5")


def test_overrides_are_typed_and_checked():
    cfg = resolve_config("smoke", k="5", dynamic="false", loss_epsilon="0.2",
                         lr_milestones="3,6")
    assert (cfg.k, cfg.dynamic, cfg.loss_epsilon, cfg.lr_milestones) == (5, False, 0.2, (3, 6))
    with pytest.raises(ValueError, match="unknown config key"):
        resolve_config("smoke", kk=3)
    with pytest.raises(ValueError, match="true/false"):
        resolve_config("smoke", dynamic="maybe")
    with pytest.raises(ValueError, match="supported"):
        resolve_config("tiny")
    with pytest.raises(ValueError, match="cannot train"):
        resolve_config("smoke", dataset="cofw68")
    assert set(PROFILES) >= {"smoke", "cpu", "gpu", "paper", "real300w"}


def test_run_id_hashes_the_config_but_not_runtime_fields():
    a = smoke()
    assert run_id(a) == run_id(dataclasses.replace(a, device="cpu", threads=3, progress=True))
    assert run_id(a) != run_id(dataclasses.replace(a, k=4))
    assert run_id(a).startswith("smoke-wflw-scc-")


def test_smoke_run_trains_evaluates_and_is_then_loaded(tmp_path):
    cfg = smoke()
    run = ensure_run(cfg, tmp_path)
    assert run.complete and run.id == run_id(cfg)
    hist = run.history
    assert list(hist["epoch"]) == list(range(cfg.epochs)) and hist["val_nme"].notna().all()
    m = run.metrics["splits"]["test"]
    assert m["summary"]["full"]["count"] == cfg.synth_test
    assert np.isfinite(m["summary"]["full"]["nme"]) and m["mean_shape_baseline"]["full"]["nme"] > 0
    preds = run.predictions("test")
    assert len(preds) == cfg.synth_test and {"name", "nme", "dataset", "split"} <= set(preds)
    assert json.loads((run.path / "config.json").read_text())["provenance"]["commit"]
    stamp = (run.path / "metrics.json").stat().st_mtime_ns
    again = ensure_run(cfg, tmp_path)  # exists: loaded, not trained again
    assert again.path == run.path and (run.path / "metrics.json").stat().st_mtime_ns == stamp
    model = run.load_model()  # torch.load(weights_only=True) inside
    assert model.mask is not None and int(model.mask.sum(1)[0]) == cfg.k + 1


def test_resumed_run_ends_exactly_like_an_uninterrupted_one(tmp_path):
    cfg = smoke(epochs=3, lr_milestones=(2,), head="fc")
    full = train(cfg, tmp_path / "a")
    train(cfg, tmp_path / "b", stop_after_epoch=0)  # "interrupted" after the first epoch
    assert not Run(tmp_path / "b" / run_id(cfg)).complete
    resumed = train(cfg, tmp_path / "b")
    a = torch.load(full.best_weights, weights_only=True)
    b = torch.load(resumed.best_weights, weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert full.history["val_nme"].tolist() == resumed.history["val_nme"].tolist()


def test_the_steps_driven_by_hand_give_what_train_gives(smoke_fc_run):
    """setup_training, then run_epoch and end_epoch for every epoch, with no run folder (so
    nothing is written), end with train()'s last weights, best epoch and history, bit for bit:
    the benchmarks time these very steps."""
    from sccnb.training.train import end_epoch, run_epoch, setup_training

    cfg = smoke(head="fc")
    assert smoke_fc_run.id == run_id(cfg)
    state = setup_training(cfg, prepare_data(cfg), torch.device("cpu"))
    assert not state.writes and state.start == 0
    for epoch in range(cfg.epochs):
        end_epoch(state, run_epoch(state, epoch))
    ckpt = torch.load(smoke_fc_run.path / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == cfg.epochs - 1 and tuple(ckpt["best"]) == state.best
    weights = state.model.state_dict()
    assert weights.keys() == ckpt["model"].keys()
    for key in weights:
        assert torch.equal(weights[key], ckpt["model"][key]), key
    clock = ("seconds", "images_per_s")  # wall-clock columns
    by_hand = [{k: v for k, v in row.items() if k not in clock} for row in state.history]
    trained = smoke_fc_run.history.drop(columns=list(clock)).to_dict("records")
    assert by_hand == trained


def test_nan_loss_stops_the_run_with_a_clear_message(tmp_path, monkeypatch):
    import sccnb.training.train as train_mod

    class NanLoss(torch.nn.Module):
        def forward(self, pred, target):
            return (pred - target).abs().mean() * float("nan")

    monkeypatch.setattr(train_mod, "build_loss", lambda *a, **k: NanLoss())
    with pytest.raises(TrainingDiverged, match="loss is nan at epoch 0, batch 0"):
        train(smoke(head="fc"), tmp_path)


def test_soft_wing_is_not_silently_l1_in_the_training_frame():
    """At the start of training most coordinate errors exceed ω1 = 2 px in the 256 frame the
    loss sees, so Soft Wing's log branch is active; in the [0, 1] frame mmpose uses, every error
    would be below ω1 and Soft Wing would be plain L1."""
    cfg = smoke()
    data = prepare_data(cfg, splits=())
    shapes = data.train.shapes_in(256)  # what the loss compares, in px of a 256 crop
    template = shapes.mean(0)
    errors = np.abs(shapes - template)
    assert (errors > 2.0).mean() > 0.5
    assert (errors / 256 < 2.0).all()  # the trap: normalised coordinates


def test_train_cli_show_config():
    out = subprocess.run([sys.executable, "-m", "sccnb", "train", "--profile", "smoke", "--set",
                          "k=7", "--show-config"], check=True, capture_output=True,
                         text=True).stdout
    cfg = json.loads(out)
    assert cfg["k"] == 7 and cfg["id"].startswith("smoke-wflw-scc-")


def test_real300w_profile_runs_end_to_end_at_smoke_size(tmp_path, shared_data):
    cfg = resolve_config("real300w", data_root=str(shared_data / "300w_mini"), input_size=64,
                         depth=18, width=8, epochs=1, batch_size=8, max_train=24,
                         lr_milestones=(1,), progress=False)
    run = ensure_run(cfg, tmp_path)
    held = run.predictions("heldout")
    assert run.metrics["splits"]["heldout"]["summary"]["full"]["count"] == len(held) > 100
    data = prepare_data(dataclasses.replace(cfg, max_train=0), splits=("heldout",))
    train_photos = {photo_id(n) for n in data.train.names + data.val.names}
    test_photos = {photo_id(n) for n in data.tests["heldout"].names}
    assert not train_photos & test_photos  # no photo on both sides



@pytest.mark.slow
def test_torchrun_two_processes_complete_a_run(tmp_path):
    """DistributedDataParallel over two CPU processes (gloo) finishes and writes one run."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29533", "-m", "sccnb", "train", "--profile", "smoke",
           "--set", "head=fc", "--runs-root", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, timeout=300)
    runs = list(tmp_path.glob("smoke-wflw-fc-*"))
    assert len(runs) == 1 and Run(runs[0]).complete


def test_ensure_runs_loads_stored_runs_first_and_trains_the_rest_in_workers(tmp_path, capsys,
                                                                          smoke_fc_run):
    import shutil

    from sccnb.training.train import ensure_runs

    stored_cfg = smoke(head="fc")
    new = [smoke(head="fc", seed=1), smoke(head="fc", seed=2)]
    # the session's trained smoke FC run, copied into this test's store
    shutil.copytree(smoke_fc_run.path, tmp_path / smoke_fc_run.id)
    stored = ensure_run(stored_cfg, tmp_path)
    assert stored.path == tmp_path / run_id(stored_cfg) and stored.complete
    stamp = (stored.path / "metrics.json").stat().st_mtime_ns
    out = ensure_runs([new[0], stored_cfg, new[1], new[0]], tmp_path, workers=2, progress=True)
    assert [r.id for r in out] == [run_id(c) for c in (new[0], stored_cfg, new[1], new[0])]
    assert all(r.complete for r in out)
    assert (stored.path / "metrics.json").stat().st_mtime_ns == stamp  # loaded, not retrained
    # trained in the pool: each worker records the commit it pinned when it started
    assert Run(tmp_path / run_id(new[1])).config["provenance"]["commit"]
    # the bar starts at the stored run, so its rate and ETA count trained runs only
    assert "1/3" in capsys.readouterr().err.split("runs:")[1]
