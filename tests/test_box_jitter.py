"""Box jitter (issue 22) and the code-equivalence ledger that keeps runs fresh across a change
proven to leave every number as it was."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from sccnb.data.augment import BoxJitter, augment_batch, load_box_jitter, sample_params
from sccnb.errors import UserError
from sccnb.training.config import resolve_config
from sccnb.training.equivalence import record_proof
from sccnb.training.runs import LATER_FIELDS, Run, equivalent_digests, identity, run_id
from sccnb.training.train import augment_preset


def test_jitter_off_by_default_and_left_out_of_run_ids():
    cfg = resolve_config("cpu")  # SynthFace: its id needs no data folder
    assert cfg.box_jitter == "none" and LATER_FIELDS["box_jitter"] == "none"
    assert "box_jitter" not in identity(cfg)
    on = dataclasses.replace(cfg, box_jitter="dlib-hog")
    assert run_id(on) != run_id(cfg)
    assert augment_preset("light").box_jitter is None


def test_jitter_off_leaves_the_random_stream_and_params_unchanged():
    """The jitter's draws come after the fixed ones and only when it is on: the first draws of
    a jittered batch equal the plain batch's, and the plain batch is what it was."""
    plain, jit = augment_preset("light"), augment_preset("light", "dlib-hog")
    a = sample_params(16, 64, plain, torch.Generator().manual_seed(3))
    b = sample_params(16, 64, jit, torch.Generator().manual_seed(3))
    assert torch.equal(a.angle, b.angle) and torch.equal(a.flip, b.flip)
    assert not torch.equal(a.scale, b.scale)  # the jitter moved and rescaled the crops


def test_jitter_samples_follow_the_measured_histograms():
    jitter = load_box_jitter("dlib-hog")
    from pathlib import Path

    import sccnb.data.augment as augment

    data = json.loads((Path(augment.__file__).parent / "stats" / "box_jitter_dlib-hog.json")
                      .read_text())
    u = torch.rand((200_000, 3), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = jitter.sample(u).numpy()
    edges = np.asarray(data["edges"])
    for i, k in enumerate(("dx", "dy", "log_scale")):
        want = np.asarray(data["counts"][k], dtype=float)
        got = np.histogram(x[:, i], edges)[0]
        assert np.allclose(got / got.sum(), want / want.sum(), atol=0.004), k
    assert data["faces"] == sum(data["counts"]["dx"]) > 500


def test_a_pure_offset_moves_landmarks_and_image_together():
    """A jitter of dx = 0.1 box sides (dy, log_scale 0) shifts the crop's content by
    -dx * S / crop_scale pixels, landmarks and image alike."""
    size = 64
    jitter = BoxJitter(edges=(-0.001, 0.001, 0.099, 0.101),
                       counts=((0, 0, 1), (1, 0, 0), (1, 0, 0)), crop_scale=1.25)
    cfg = dataclasses.replace(augment_preset("none"), box_jitter=jitter)
    img = torch.zeros((1, 3, size, size), dtype=torch.uint8)
    img[:, :, 30:34, 40:44] = 255
    pts = torch.tensor([[[41.5, 31.5]]])
    out, moved = augment_batch(img, pts, torch.tensor([0]), cfg,
                               torch.Generator().manual_seed(0))
    assert float(moved[0, 0, 0]) == pytest.approx(41.5 - 0.1 * size / 1.25, abs=0.1)
    assert float(moved[0, 0, 1]) == pytest.approx(31.5, abs=0.1)
    ys, xs = torch.nonzero(out[0, 0] > 0.25, as_tuple=True)
    w = out[0, 0][ys, xs]
    assert float((xs.float() * w).sum() / w.sum()) == pytest.approx(float(moved[0, 0, 0]),
                                                                    abs=0.5)


def test_unknown_jitter_is_refused():
    with pytest.raises(ValueError, match="unknown box jitter"):
        load_box_jitter("nosuch")
    from sccnb.errors import ConfigError

    with pytest.raises(ConfigError, match="box_jitter"):
        resolve_config("cpu", box_jitter="nosuch")


def _proof(old: str, new: str, same: bool = True) -> dict:
    return {"same": same, "base": "HEAD", "differences": [] if same else ["train/scc: a -> b"],
            "old": {"digest": old}, "new": {"digest": new, "train": {}, "reeval": {}}}


def test_ledger_chains_proofs_and_refuses_a_failed_one(tmp_path):
    assert equivalent_digests("c", tmp_path) == {"c"}
    record_proof(_proof("a", "b"), "first", tmp_path)
    record_proof(_proof("b", "c"), "second", tmp_path)
    assert equivalent_digests("c", tmp_path) == {"a", "b", "c"}
    assert equivalent_digests("b", tmp_path) == {"a", "b"}  # not forwards
    with pytest.raises(UserError, match="numbers differ"):
        record_proof(_proof("c", "d", same=False), "", tmp_path)
    assert equivalent_digests("d", tmp_path) == {"d"}
    assert record_proof(_proof("d", "d"), "", tmp_path) is None  # nothing to record


def test_stale_reason_follows_the_ledger(tmp_path):
    run = tmp_path / "smoke-wflw-scc-aaaaaaaaaa"
    run.mkdir()
    cfg = {"id": run.name, "train": dataclasses.asdict(resolve_config("smoke")),
           "code": {"digest": "old", "files": {"losses.py": "x"}}}
    (run / "config.json").write_text(json.dumps(cfg))
    current = {"digest": "new", "files": {"losses.py": "y"}}
    assert Run(run).stale_reason(current) == "code differs in losses.py"
    record_proof(_proof("old", "new"), "", tmp_path)
    assert Run(run).stale_reason(current) is None


def test_a_numeric_change_is_refused_by_the_proof(tmp_path):
    """End to end: a copy of the package whose Soft Wing loss is doubled is run beside the
    committed code (HEAD); the smoke training differs, so nothing is recorded."""
    import shutil
    from pathlib import Path

    from sccnb.training.equivalence import prove

    repo = Path(__file__).resolve().parents[1]
    pkg = tmp_path / "new" / "sccnb"
    shutil.copytree(repo / "sccnb", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    losses = pkg / "training" / "losses.py"
    src = losses.read_text()
    line = "        return torch.where(x < self.omega1, x, large).mean()"
    assert line in src
    losses.write_text(src.replace(line, line.replace("return ", "return 2 * ")))
    proof = prove("HEAD", heads=("scc",), package=pkg, runs_root=tmp_path / "store")
    assert not proof["same"]
    assert any(d.startswith("train/scc/weights") for d in proof["differences"]), proof
    assert proof["old"]["digest"] != proof["new"]["digest"]
    with pytest.raises(UserError, match="numbers differ"):
        record_proof(proof, "", tmp_path / "store")
    assert not (tmp_path / "store" / "code_equivalence.json").exists()


def test_each_side_of_the_proof_sees_its_own_tree_only(tmp_path):
    """The old tree lacks sccnb.training: the side that runs it must fall back to its own
    sccnb.runs, not take the checkout's sccnb.training.runs through the editable install (which
    made an earlier proof compare the new code with itself)."""
    import subprocess
    import sys

    from sccnb.training.equivalence import RESOLVE

    old = tmp_path / "old" / "sccnb"
    old.mkdir(parents=True)
    (old / "__init__.py").write_text("")
    (old / "runs.py").write_text("class Run:\n    pass\n")
    script = RESOLVE + ("Run = first('sccnb.training.runs.Run', 'sccnb.runs.Run')\n"
                        "print(sys.modules[Run.__module__].__file__)\n")
    env = {**os.environ, "PYTHONPATH": str(old.parent), "SCCNB_SIDE_PACKAGE": str(old)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True, cwd=tmp_path).stdout.strip()
    assert Path(out) == old / "runs.py"
