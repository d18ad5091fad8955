"""Bad input, given as a new user gives it: every case gets one clear line on stderr (what,
where, what to do) and a non-zero exit status; where the old behaviour was silently wrong, the
right behaviour; nothing the user owns is lost.

``CASES`` is the corpus for the one-line errors: each case builds its command line, and names
the fragment its error line must hold and the exit status (2: a bad config value or argument,
1: bad data, checkpoint, file or device). ``CHECK_CASES`` does the same for ``data check``,
which reports every problem (stdout, exit 1) instead of one line. The silently wrong cases
have a test each below. One smoke run (FC head, ``val_fraction = 0``) is trained for the module.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from test_readers import face_points, make_300w_root, synthetic_cofw, write_cofw_v73, write_pts

from sccnb.cli import main
from sccnb.errors import CheckpointError, ConfigError
from sccnb.inference.predict import load_boxes
from sccnb.provenance import REPO_ROOT, file_lock
from sccnb.training.config import CHOICES, DEPTHS, config_from_json, resolve_config
from sccnb.training.runs import Run, build_for, run_id
from sccnb.training.train import ensure_run

NO_CUDA = not torch.cuda.is_available()


def _whole_image_flag() -> list[str]:
    """``--whole-image`` where ``predict`` finds faces with a detector by default, else nothing
    (the whole image is then the default)."""
    from sccnb.cli import predict

    parser = argparse.ArgumentParser()
    predict.add_arguments(parser)
    return ["--whole-image"] if "--whole-image" in parser.format_help() else []


WHOLE = _whole_image_flag()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Run:
    """The smoke run the cases use (trained once; the SynthFace cache outside the repo)."""
    root = tmp_path_factory.mktemp("bad_inputs")
    os.environ.setdefault("SCCNB_CACHE", str(root / "cache"))
    return ensure_run(resolve_config("smoke", head="fc", val_fraction=0), root / "runs")


def sccnb(capsys, *argv) -> tuple[int, str, str]:
    """Run ``python -m sccnb ARGV`` in this process: (exit status, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class World:
    """The bad inputs, each made on first use in a folder of its own."""

    def __init__(self, root: Path, run: Run) -> None:
        self.root, self.run = root, run
        self.run_files = sorted((p.name, p.stat().st_mtime_ns) for p in run.path.iterdir())

    def _copy_run(self, name: str) -> Path:
        dest = self.root / "runs" / name
        shutil.copytree(self.run.path, dest)
        return dest

    @cached_property
    def truncated_best(self) -> Path:
        path = self._copy_run("truncated") / "best.pt"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path.parent

    @cached_property
    def empty_best(self) -> Path:
        path = self._copy_run("empty") / "best.pt"
        path.write_bytes(b"")
        return path.parent

    @cached_property
    def not_a_checkpoint(self) -> Path:
        path = self._copy_run("text") / "best.pt"
        path.write_text("these are not weights\n")
        return path.parent

    @cached_property
    def other_layout(self) -> Path:
        """best.pt of a 68-point model in a 98-point run."""
        run = self._copy_run("other_layout")
        cfg = resolve_config("smoke", head="fc", dataset="300w")
        shapes = np.random.default_rng(0).normal(128, 10, (8, 68, 2))
        torch.save(build_for(cfg, shapes=shapes).state_dict(), run / "best.pt")
        return run

    @cached_property
    def other_head(self) -> Path:
        """An FC run's weights under a config that says SCC."""
        run = self._copy_run("other_head")
        record = json.loads((run / "config.json").read_text())
        record["train"]["head"] = "scc"
        (run / "config.json").write_text(json.dumps(record))
        return run

    @cached_property
    def other_width(self) -> Path:
        """A width-8 run's weights under a config that says width 16."""
        run = self._copy_run("other_width")
        record = json.loads((run / "config.json").read_text())
        record["train"]["width"] = 16
        (run / "config.json").write_text(json.dumps(record))
        return run

    @cached_property
    def bad_config_json(self) -> Path:
        run = self._copy_run("bad_json")
        (run / "config.json").write_text('{"train": {"epochs": ')
        return run

    def _grey_png(self, name: str, height: int = 120, width: int = 90) -> Path:
        """A mid-grey PNG ``images/<name>`` of ``height`` x ``width`` pixels."""
        path = self.root / "images" / name
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), np.full((height, width, 3), 128, np.uint8))
        return path

    @cached_property
    def image(self) -> Path:
        return self._grey_png("face.png")

    @cached_property
    def truncated_jpeg(self) -> Path:
        path = self.root / "images" / "cut.jpg"
        path.parent.mkdir(exist_ok=True)
        pixels = np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)
        Image.fromarray(pixels).save(path, quality=95)
        path.write_bytes(path.read_bytes()[:3000])
        return path

    def boxes(self, text: str, name: str) -> Path:
        path = self.root / f"{name}.csv"
        path.write_text(text)
        return path

    @cached_property
    def far_point_300w(self) -> Path:
        """A 300-W folder whose face_1.pts has point 31 at (5000, -300) in a 64 x 48 image."""
        root = self.root / "300w_far"
        pts = make_300w_root(root, "afw", 2)
        lines = pts[1].read_text().splitlines()
        lines[3 + 30] = "5001 -299"  # 1-based on disk: (5000, -300) 0-based
        pts[1].write_text("\n".join(lines) + "\n")
        return root

    def _300w_folder(self, name: str, change: Callable[[np.ndarray], None]) -> Path:
        """A folder of two 68-point faces in 64 x 48 images; ``change`` edits face_1's points
        (0-based) before they are written."""
        root = self.root / name
        make_300w_root(root, "faces", 2)
        points = face_points(68)
        change(points)
        write_pts(root / "faces" / "face_1.pts", points + 1.0)
        return root

    @cached_property
    def huge_point_300w(self) -> Path:
        """face_1.pts has point 1 at (1e9, 1e9): its crop used to run for minutes."""
        return self._300w_folder("300w_huge", lambda p: p.__setitem__(0, 1e9))

    @cached_property
    def all_outside_300w(self) -> Path:
        """face_1.pts lies wholly right of its 64-px-wide image, none of it far outside."""
        return self._300w_folder("300w_outside", lambda p: p.__iadd__([37.0, 0.0]))

    @cached_property
    def not_a_mat(self) -> Path:
        path = self.root / "notes.mat"
        path.write_text("these are not faces\n")
        return path

    @cached_property
    def pixel(self) -> Path:
        return self._grey_png("pixel.png", 1, 1)

    @cached_property
    def far_pts_image(self) -> Path:
        """far.png (90 x 120) with far.pts beside it, point 1 at (1e9, 1e9)."""
        path = self._grey_png("far.png")
        points = face_points(68, centre=(45, 60))
        points[0] = 1e9
        write_pts(path.with_suffix(".pts"), points + 1.0)
        return path

    @cached_property
    def empty_wflw(self) -> Path:
        lists = self.root / "wflw_empty" / "WFLW_annotations" / "list_98pt_rect_attr_train_test"
        lists.mkdir(parents=True)
        for split in ("train", "test"):
            (lists / f"list_98pt_rect_attr_{split}.txt").write_text("")
        return lists.parents[1]

    @cached_property
    def truncated_cofw(self) -> Path:
        """COFW/ of a data root: a whole train .mat and a test .mat cut in half."""
        folder = self.root / "cofw_root" / "COFW"
        folder.mkdir(parents=True)
        images, _, _, phis, boxes = synthetic_cofw()
        write_cofw_v73(folder / "COFW_train_color.mat", "train", images, phis, boxes)
        mat = write_cofw_v73(folder / "COFW_test_color.mat", "test", images, phis, boxes)
        mat.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])
        return folder


@pytest.fixture(scope="module")
def world(trained, tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("bad"), trained)


@dataclass
class Case:
    name: str
    argv: Callable[[World, Path], list]  # (world, a fresh folder for outputs and runs)
    fragment: str
    status: int
    needs_no_cuda: bool = False


def _train(*sets: str) -> Callable[[World, Path], list]:
    def argv(w: World, tmp: Path) -> list:
        return ["train", "--profile", "smoke", "--runs-root", tmp / "runs",
                *[a for s in sets for a in ("--set", s)]]
    return argv


def _show(*sets: str) -> Callable[[World, Path], list]:
    return lambda w, tmp: [*_train(*sets)(w, tmp), "--show-config"]


def _predict(run: Callable[[World], Path], *extra) -> Callable[[World, Path], list]:
    """predict on one image; the whole image is the face unless ``extra`` gives the boxes."""
    boxes = [] if {"--boxes", "--box-from-pts"} & set(extra) else WHOLE
    return lambda w, tmp: ["predict", "--checkpoint", run(w), w.image, "--out", tmp / "out",
                           *boxes, *extra]


CASES = [
    # 2. config values that used to end in an unclear last line (or a ZeroDivisionError, or a
    # FileNotFoundError on best.pt), and 4. the ones --show-config used to accept
    Case("set-k-abc", _train("k=abc"), "config key k='abc': expected an integer", 2),
    Case("set-lr-abc", _train("lr=abc"), "config key lr='abc': expected a number", 2),
    Case("set-epochs-2.5", _train("epochs=2.5"), "config key epochs='2.5': expected an integer",
         2),
    Case("set-batch-0", _train("batch_size=0"), "config key batch_size=0: must be at least 1",
         2),
    Case("set-epochs-0", _train("epochs=0"), "config key epochs=0: must be at least 1", 2),
    Case("show-k-98", _show("k=98"), "k=98: must be between 1 and 97 for the 98 points", 2),
    Case("show-k-68-on-300w", _show("dataset=300w", "k=68"), "between 1 and 67", 2),
    Case("show-k-0", _show("k=0"), "k=0: must be between 1 and 97", 2),
    Case("show-lr-negative", _show("lr=-0.1"), "lr=-0.1: must be a finite number > 0", 2),
    Case("show-lr-nan", _show("lr=nan"), "lr=nan: must be a finite number > 0", 2),
    Case("show-epochs-0", _show("epochs=0"), "epochs=0: must be at least 1", 2),
    Case("show-head-banana", _show("head=banana"), "head='banana': allowed: scc, fc", 2),
    Case("show-batch-0", _show("batch_size=0"), "batch_size=0: must be at least 1", 2),
    Case("show-val-1", _show("val_fraction=1"), "val_fraction=1.0: must be in [0, 1)", 2),
    Case("show-input-50", _show("input_size=50"), "input_size=50: must be a multiple of 32", 2),
    Case("show-depth-50", _show("depth=50"), "depth=50: supported ResNet depths", 2),
    Case("show-milestones", _show("lr_milestones=5,2"), "increasing order", 2),
    Case("show-milestones-text", _show("lr_milestones=a"), "lr_milestones='a': expected", 2),
    Case("show-dynamic-maybe", _show("dynamic=maybe"), "dynamic expects true/false", 2),
    Case("show-l1-epsilon", _show("loss=l1", "loss_epsilon=0.5"), "l1 loss takes none", 2),
    Case("show-unknown-key", _show("kk=3"), "unknown config key 'kk'", 2),
    Case("show-no-equals", _show("k"), "--set expects KEY=VALUE, got 'k'", 2),
    Case("show-cofw68", _show("dataset=cofw68"), "cannot train on it", 2),
    Case("show-device-tpu", _show("device=tpu"), "device='tpu': use auto, cpu, cuda", 2),
    Case("train-no-data-root", _train("data_root=/nonexistent/faces"),
         "data_root /nonexistent/faces does not exist", 1),
    Case("train-truncated-cofw-mat", lambda w, tmp: _train(
        "dataset=cofw", f"data_root={w.truncated_cofw.parent}")(w, tmp),
        "COFW_test_color.mat: cannot be opened", 1),
    Case("train-one-face", _train("max_train=1"), "cannot carve a validation split", 2),
    # 2. checkpoints: truncated, empty, foreign
    Case("predict-truncated-best", _predict(lambda w: w.truncated_best),
         "best.pt is truncated or not a PyTorch checkpoint", 1),
    Case("eval-truncated-best", lambda w, tmp: ["eval", w.truncated_best],
         "best.pt is truncated or not a PyTorch checkpoint", 1),
    Case("predict-empty-best", _predict(lambda w: w.empty_best), "best.pt is empty (0 bytes)",
         1),
    Case("predict-text-best", _predict(lambda w: w.not_a_checkpoint),
         "best.pt is truncated or not a PyTorch checkpoint", 1),
    Case("predict-other-layout", _predict(lambda w: w.other_layout),
         "best.pt: weights of a 68-point model, but the run's config is fc head, 98 points", 1),
    Case("predict-other-head", _predict(lambda w: w.other_head),
         "best.pt: weights of an FC-head model (no graph), but the run's config is scc head", 1),
    Case("predict-other-width", _predict(lambda w: w.other_width),
         "weights that do not fit the run's model (fc head, 98 points (wflw), ResNet18 of "
         "width 16, input 64): tensors", 1),
    Case("eval-damaged-config", lambda w, tmp: ["eval", w.bad_config_json],
         "config.json is not valid JSON", 2),
    Case("predict-missing-pt", _predict(lambda w: w.run.path / "other.pt"),
         "other.pt: no such file", 1),
    Case("predict-no-run", _predict(lambda w: w.root / "nowhere"), "no run there", 1),
    Case("eval-no-run", lambda w, tmp: ["eval", w.root / "nowhere"], "no run at", 1),
    # 2. another layout's test set
    Case("eval-cofw68-on-98-points", lambda w, tmp: ["eval", w.run.path, "--test-dataset",
                                                     "cofw68"],
         "its faces have the 300w68 layout, but run", 2),
    # 2. no CUDA
    Case("train-cuda", _train("device=cuda"), "CUDA is not available", 1, needs_no_cuda=True),
    Case("eval-cuda", lambda w, tmp: ["eval", w.run.path, "--device", "cuda"],
         "CUDA is not available", 1, needs_no_cuda=True),
    Case("predict-cuda", _predict(lambda w: w.run.path, "--device", "cuda"),
         "CUDA is not available", 1, needs_no_cuda=True),
    Case("efficiency-cuda", lambda w, tmp: ["efficiency", "--device", "cuda", "--no-timing"],
         "CUDA is not available", 1, needs_no_cuda=True),
    Case("predict-device-typo", _predict(lambda w: w.run.path, "--device", "gpu"),
         "'gpu' is not a device name", 1),
    Case("efficiency-layout", lambda w, tmp: ["efficiency", "--layout", "wflw99"],
         "unknown layout 'wflw99'", 2),
    Case("efficiency-input-size", lambda w, tmp: ["efficiency", "--input-size", "100"],
         "--input-size 100: must be a multiple of 32", 2),
    # 3. images and boxes
    Case("predict-truncated-jpeg", lambda w, tmp: [
        "predict", "--checkpoint", w.run.path, w.truncated_jpeg, "--out", tmp / "out",
        *WHOLE], "cut.jpg: cannot decode the image", 1),
    Case("predict-truncated-jpeg-detector", lambda w, tmp: [
        "predict", "--checkpoint", w.run.path, w.image, w.truncated_jpeg, "--out", tmp / "out"],
        "cut.jpg: cannot decode the image", 1),
    Case("predict-missing-image", lambda w, tmp: [
        "predict", "--checkpoint", w.run.path, w.root / "no.jpg", "--out", tmp / "out"],
        "no.jpg: no such image file", 1),
    Case("predict-box-outside", _predict(lambda w: w.run.path, "--boxes", "{outside}"),
         "lies entirely outside its 90 x 120 image", 1),
    Case("predict-box-tiny", _predict(lambda w: w.run.path, "--boxes", "{tiny}"),
         "is 0.5 x 0.5 px; a face box is at least 4 px a side", 1),
    Case("predict-box-header", _predict(lambda w: w.run.path, "--boxes", "{header}"),
         "header 'file,left,top,right,bottom' not understood", 1),
    Case("predict-box-missing", _predict(lambda w: w.run.path, "--boxes", "{other}"),
         "no box for", 1),
    Case("predict-box-twice", _predict(lambda w: w.run.path, "--boxes", "{twice}"),
         "a second box for face.png (the first is on line 2)", 1),
    Case("predict-pts-missing", _predict(lambda w: w.run.path, "--box-from-pts"),
         "no face.pts beside", 1),
    # 1. synth: refuses a folder it did not create; --train 0
    Case("synth-user-folder", lambda w, tmp: ["synth", "--out", _user_data(tmp), "--train", "1",
                                              "--test", "1", "--size", "32", "--quiet"],
         "holds files that sccnb synth did not create (300W, COFW, WFLW, notes.txt)", 1),
    Case("synth-train-0", lambda w, tmp: ["synth", "--out", tmp / "s", "--train", "0"],
         "argument --train: expected an integer >= 1, got 0", 2),
    Case("synth-out-is-file", lambda w, tmp: ["synth", "--out", w.image, "--train", "1",
                                              "--test", "1", "--size", "32"],
         "is a file, not a folder", 1),
]

# round 2: flags that do not apply, unknown names, negative counts (refused before any work)
def _runs(*extra) -> Callable[[World, Path], list]:
    return lambda w, tmp: ["runs", "--runs-root", tmp / "runs", *extra]


CASES += [
    Case("runs-estimate-smoke", _runs("--profile", "smoke", "--estimate"),
         "--estimate applies to the real-face profiles (real300w, real300w_cpu), not --profile "
         "smoke", 2),
    Case("runs-only-nosuch", _runs("--profile", "real300w_cpu", "--only", "nosuch", "--list"),
         "--only nosuch: unknown comparison(s) nosuch; supported: scc_vs_fc", 2),
    Case("runs-only-on-smoke", _runs("--profile", "smoke", "--only", "loss"),
         "--only applies to the real-face profiles", 2),
    Case("runs-seeds-ab", _runs("--profile", "smoke", "--seeds", "a,b", "--list"),
         "--seeds 'a,b': 'a' is not a seed; expected comma-separated integers >= 0", 2),
    Case("runs-seeds-negative", _runs("--profile", "smoke", "--seeds", "0,-1", "--list"),
         "'-1' is not a seed", 2),
    Case("runs-seeds-on-real-faces", _runs("--profile", "real300w_cpu", "--seeds", "5",
                                           "--list"),
         "--seeds 5: the real-face profiles train the seeds of", 2),
    Case("runs-fingerprint-nosuch", _runs("--fingerprint", "nosuch", "."),
         "--fingerprint nosuch: unknown dataset; supported: 300w, cofw", 2),
    Case("runs-workers-negative", _runs("--profile", "smoke", "--workers", "-2"),
         "argument --workers: expected an integer >= 0, got -2", 2),
    Case("data-check-workers-0", lambda w, tmp: ["data", "check", "300w", w.far_point_300w,
                                                 "--workers", "0"],
         "argument --workers: expected an integer >= 1, got 0", 2),
    Case("efficiency-repeats-negative", lambda w, tmp: ["efficiency", "--repeats", "-1"],
         "argument --repeats: expected an integer >= 1, got -1", 2),
]

# round 2: coordinates and boxes are checked before any crop (a coordinate of 1e9 used to hang)
def _eval_data(fmt: str, path: Callable[[World], Path], *extra) -> Callable[[World, Path], list]:
    return lambda w, tmp: ["eval", w.run.path, "--data", fmt, path(w), "--out", tmp / "out",
                           *extra]


CASES += [
    Case("eval-data-point-1e9", _eval_data("300w", lambda w: w.huge_point_300w),
         "face_1.pts:4: point 1 at (1e+09, 1e+09) lies far outside the 64 x 48 image", 1),
    Case("eval-data-all-points-outside", _eval_data("300w", lambda w: w.all_outside_300w),
         "face_1.pts: all 68 points lie outside the 64 x 48 image", 1),
    Case("eval-data-cofw-not-a-mat", _eval_data("cofw", lambda w: w.not_a_mat),
         "notes.mat: not a readable COFW .mat file", 1),
    Case("predict-box-1e9", _predict(lambda w: w.run.path, "--boxes", "{huge}"),
         "huge.csv:2: the box of", 1),
    Case("predict-pts-1e9", lambda w, tmp: ["predict", "--checkpoint", w.run.path,
                                            w.far_pts_image, "--out", tmp / "out",
                                            "--box-from-pts"],
         "far.pts:4: point 1 at (1e+09, 1e+09) lies far outside the 90 x 120 image", 1),
    Case("predict-whole-image-1x1", lambda w, tmp: ["predict", "--checkpoint", w.run.path,
                                                    w.pixel, "--out", tmp / "out",
                                                    "--whole-image"],
         "pixel.png: the image is 1 x 1 px; a face image is at least 4 px a side", 1),
    # flags that only apply with --data are refused (they were ignored, and the run's records
    # rewritten)
    Case("eval-out-without-data", lambda w, tmp: ["eval", w.run.path, "--out", tmp / "out"],
         "--out applies only with --data FORMAT PATH", 2),
    Case("eval-boxes-without-data", lambda w, tmp: ["eval", w.run.path, "--boxes", "both"],
         "--boxes applies only with --data FORMAT PATH", 2),
    Case("eval-test-dataset-with-data", lambda w, tmp: [
        *_eval_data("300w", lambda w: w.huge_point_300w)(w, tmp), "--test-dataset", "300w"],
        "--test-dataset applies only without --data", 2),
]

BOX_FILES = {
    "huge": "image,x_min,y_min,x_max,y_max\nface.png,10,10,1e9,60\n",
    "outside": "image,x_min,y_min,x_max,y_max\nface.png,500,500,600,600\n",
    "tiny": "image,x_min,y_min,x_max,y_max\nface.png,10,10,10.5,10.5\n",
    "header": "file,left,top,right,bottom\nface.png,10,10,60,60\n",
    "other": "image,x_min,y_min,x_max,y_max\nsomeone_else.png,10,10,60,60\n",
    "twice": "image,x_min,y_min,x_max,y_max\nface.png,10,10,60,60\nface.png,10,10,50,50\n",
}


def _user_data(tmp: Path) -> Path:
    """A folder of the user's own, with datasets where synth writes its own."""
    root = tmp / "data_root"
    for name in ("WFLW", "300W", "COFW"):
        (root / name).mkdir(parents=True)
        (root / name / "mine.txt").write_text(f"the user's {name}\n")
    (root / "notes.txt").write_text("mine\n")
    return root


def _user_data_intact(root: Path) -> bool:
    return all((root / n / "mine.txt").read_text() == f"the user's {n}\n"
               for n in ("WFLW", "300W", "COFW")) and (root / "notes.txt").is_file()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input_gets_one_clear_line(case, world, tmp_path, capsys):
    if case.needs_no_cuda and not NO_CUDA:
        pytest.skip("this machine has CUDA")
    argv = [a.format(**{k: world.boxes(v, k) for k, v in BOX_FILES.items()})
            if isinstance(a, str) and a.startswith("{") else a
            for a in case.argv(world, tmp_path)]
    started = time.perf_counter()
    code, out, err = sccnb(capsys, *argv)
    assert time.perf_counter() - started < 30  # one line within seconds, never a hang
    assert code == case.status, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"python -m sccnb {argv[0]}: error: "), err
    assert case.fragment in last, last
    if argv[0] == "train":  # refused before any data was read or any run folder made
        assert not (tmp_path / "runs").exists() or not any(
            p.is_dir() for p in (tmp_path / "runs").iterdir())
    if argv[0] == "eval":  # nothing written, the run's records untouched
        assert not (tmp_path / "out").exists()
        assert (case.name != "eval-out-without-data"
                or sorted((p.name, p.stat().st_mtime_ns)
                          for p in world.run.path.iterdir()) == world.run_files)
    if argv[0] == "runs":  # refused before anything was planned or trained
        assert not (tmp_path / "runs").exists()
    if argv[0] == "predict":  # nothing written
        assert not (tmp_path / "out").exists()
    if case.name == "synth-user-folder":
        assert _user_data_intact(tmp_path / "data_root")
        assert sorted(p.name for p in (tmp_path / "data_root").iterdir()) == [
            "300W", "COFW", "WFLW", "notes.txt"]
        assert not list(tmp_path.glob(".data_root*"))  # no temporary folder left behind


CHECK_CASES = [
    # (name, format, path(world), fragment of the report, exit status)
    ("300w-point-far-outside", "300w", lambda w: w.far_point_300w,
     "face_1.pts:34: point 31 at (5000.0, -300.0) lies far outside the 64 x 48 image", 1),
    ("wflw-empty-lists", "wflw", lambda w: w.empty_wflw, "split train has no faces", 1),
    ("cofw-truncated-hdf5", "cofw", lambda w: w.truncated_cofw,
     "COFW_test_color.mat: cannot read the file", 1),
    ("cofw-truncated-hdf5-file", "cofw", lambda w: w.truncated_cofw / "COFW_test_color.mat",
     "COFW_test_color.mat: not a readable .mat file", 1),
]


@pytest.mark.parametrize("name,fmt,path,fragment,status", CHECK_CASES,
                         ids=[c[0] for c in CHECK_CASES])
def test_data_check_names_file_and_line(name, fmt, path, fragment, status, world, capsys):
    code, out, err = sccnb(capsys, "data", "check", fmt, path(world))
    assert code == status and "Traceback" not in err
    assert fragment in out, out


# --- 3. silently wrong before ------------------------------------------------------------------
def test_predict_loads_the_checkpoint_file_it_is_given(world, tmp_path, capsys):
    state = torch.load(world.run.best_weights, weights_only=True)
    state["template"] = state["template"] + torch.tensor([64.0, 0.0])  # 64 px right, 256 frame
    other = world._copy_run("other_pt") / "other.pt"
    torch.save(state, other)
    found = {}
    for name, ckpt in (("best", other.parent), ("other", other)):
        code, _, err = sccnb(capsys, "predict", "--checkpoint", ckpt, world.image, "--out",
                             tmp_path / name, "--no-overlay", *WHOLE)
        assert code == 0, err
        found[name] = np.array(json.loads((tmp_path / name / "landmarks.json").read_text())[0][
            "landmarks"])
    shift = found["other"] - found["best"]  # the whole 120-px-tall image is the 256 crop
    assert shift[:, 0].std() < 1e-3 and abs(shift[:, 0].mean() - 64 * 120 / 256) < 1
    np.testing.assert_allclose(shift[:, 1], 0, atol=1e-3)


def test_images_of_the_same_name_get_distinct_overlays(world, tmp_path, capsys):
    images = []
    for folder, grey in (("a", 60), ("b", 200)):
        (tmp_path / folder).mkdir()
        images.append(tmp_path / folder / "face.png")
        cv2.imwrite(str(images[-1]), np.full((80, 80, 3), grey, np.uint8))
    code, _, err = sccnb(capsys, "predict", "--checkpoint", world.run.path, *images, "--out",
                         tmp_path / "out", *WHOLE)
    assert code == 0, err
    overlays = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert overlays == ["a_face_landmarks.png", "b_face_landmarks.png"]
    again = tmp_path / "a" / "face.png"  # the same image twice: still two files
    code, _, _ = sccnb(capsys, "predict", "--checkpoint", world.run.path, again, again, "--out",
                       tmp_path / "twice", *WHOLE)
    assert code == 0 and len(list((tmp_path / "twice").glob("*.png"))) == 2


def test_box_file_header_says_how_its_numbers_read(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("image,x,y,w,h\nface.png,10,20,50,60\n")
    np.testing.assert_allclose(load_boxes(path)["face.png"], [10, 20, 60, 80])
    path.write_text("image,x_min,y_min,x_max,y_max\nface.png,10,20,50,60\n")
    np.testing.assert_allclose(load_boxes(path)["face.png"], [10, 20, 50, 60])
    path.write_text("face.png,10,20,50,60\n")  # no header: corners, as before
    np.testing.assert_allclose(load_boxes(path)["face.png"], [10, 20, 50, 60])


def test_val_fraction_zero_keeps_no_validation_faces_and_the_last_epoch(trained):
    cfg = trained.train_config
    assert cfg.val_fraction == 0
    m = trained.metrics
    assert m["val_faces"] == 0 and m["train_faces"] == cfg.synth_train
    assert m["best_epoch"] == cfg.epochs - 1
    history = trained.history
    assert "val_nme" not in history or history["val_nme"].isna().all()
    last = torch.load(trained.path / "checkpoint.pt", weights_only=True)["model"]
    best = torch.load(trained.best_weights, weights_only=True)
    assert all(torch.equal(last[k], best[k]) for k in best)  # best.pt = the last epoch's


# --- 1. synth never deletes what it did not make ------------------------------------------------
def test_synth_force_keeps_the_users_folders_renamed(tmp_path, capsys):
    root = _user_data(tmp_path)
    code, out, err = sccnb(capsys, "synth", "--out", root, "--train", "1", "--test", "1",
                           "--size", "32", "--quiet", "--force")
    assert code == 0, err
    for name in ("WFLW", "300W", "COFW"):
        [kept] = root.glob(f"{name}.before-synth-*")
        assert (kept / "mine.txt").read_text() == f"the user's {name}\n"
        assert f"kept your {name} as {kept}" in err
    assert (root / "notes.txt").is_file() and (root / "synthface.json").is_file()
    assert (root / ".sccnb-synthface").is_file()
    # the folder is synth's now: another generation replaces its own entries, keeps the rest
    code, _, err = sccnb(capsys, "synth", "--out", root, "--train", "2", "--test", "1",
                         "--size", "32", "--quiet")
    assert code == 0, err
    assert json.loads((root / "synthface.json").read_text())["counts"]["train"] == 2
    assert len(list(root.glob("*.before-synth-*"))) == 3 and (root / "notes.txt").is_file()


def test_synth_keeps_the_files_a_user_added_inside_its_folders(tmp_path, capsys):
    root = tmp_path / "synth"
    argv = ["synth", "--out", root, "--test", "1", "--size", "32", "--quiet"]
    assert sccnb(capsys, *argv, "--train", "2")[0] == 0
    added = {"WFLW/mine.txt": "w", "300W/custom/a.pts": "p", "300W/ibug/notes.txt": "n",
             "COFW/readme.md": "c"}
    for rel, text in added.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for extra in ([], ["--force"]):  # new parameters, then the same ones forced
        code, _, err = sccnb(capsys, *argv, "--train", "1", *extra)
        assert code == 0, err
        assert {rel: (root / rel).read_text() for rel in added} == added
        assert "synth: kept 2 file(s) you added under 300W/ (300W/custom/a.pts" in err
    assert json.loads((root / "synthface.json").read_text())["counts"]["train"] == 1
    assert not list(root.rglob("synthface_train_000001.*"))  # its own stale faces are gone


def test_synth_reuses_or_regenerates_a_cache_folder_from_before_the_marker(tmp_path,
                                                                          monkeypatch):
    from sccnb.data.synth import ensure_synthface

    monkeypatch.setenv("SCCNB_CACHE", str(tmp_path / "cache"))
    legacy = tmp_path / "cache" / "synthface_1_1_32px_seed0"
    ensure_synthface(legacy, 1, 1, 32, progress=False)
    (legacy / ".sccnb-synthface").unlink()  # as a folder made before the marker existed
    (legacy / "crops_note").write_text("a file the old cache held beside")
    stamp = (legacy / "synthface.json").stat().st_mtime_ns
    assert ensure_synthface(legacy, 1, 1, 32, progress=False) == legacy  # reused
    assert (legacy / "synthface.json").stat().st_mtime_ns == stamp
    ensure_synthface(legacy, 2, 1, 32, progress=False)  # other parameters: regenerated
    assert json.loads((legacy / "synthface.json").read_text())["counts"]["train"] == 2
    # a SynthFace folder from before the marker, outside the cache: only synth's own entries
    old = tmp_path / "old_synth"
    ensure_synthface(old, 1, 1, 32, progress=False)
    (old / ".sccnb-synthface").unlink()
    ensure_synthface(old, 2, 1, 32, progress=False)
    assert (old / ".sccnb-synthface").is_file()


# --- round 2: no command overwrites a file it did not write ---------------------------------------
def test_predict_refuses_a_users_files_and_force_keeps_them_renamed(world, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "landmarks.csv").write_text("the user's table\n")
    (out / "face_landmarks.png").write_bytes(b"the user's picture")
    argv = ["predict", "--checkpoint", world.run.path, world.image, "--out", out, *WHOLE]
    code, _, err = sccnb(capsys, *argv)
    assert code == 1 and "Traceback" not in err
    assert (f"--out {out} holds landmarks.csv, face_landmarks.png, which sccnb predict did not "
            "write; nothing was written") in err.strip().splitlines()[-1]
    assert sorted(p.name for p in out.iterdir()) == ["face_landmarks.png", "landmarks.csv"]
    code, _, err = sccnb(capsys, *argv, "--force")
    assert code == 0, err
    [table] = out.glob("landmarks.csv.before-predict-*")
    [picture] = out.glob("face_landmarks.png.before-predict-*")
    assert table.read_text() == "the user's table\n"
    assert picture.read_bytes() == b"the user's picture"
    assert f"kept your {out / 'landmarks.csv'} as {table}" in err
    assert (out / "landmarks.csv").read_text().startswith("image,point,x,y")
    code, _, err = sccnb(capsys, *argv)  # its own files now: written again without --force
    assert code == 0, err
    assert len(list(out.glob("*.before-predict-*"))) == 2


def test_eval_data_refuses_a_users_summary(tmp_path, capsys):
    root = tmp_path / "faces"
    make_300w_root(root, "faces", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"mine": true}\n')
    argv = ["eval", "real300w-scc", "--data", "300w", root, "--out", out]
    code, _, err = sccnb(capsys, *argv)
    assert code == 1 and "holds summary.json, which sccnb eval did not write" in err
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    code, _, err = sccnb(capsys, *argv, "--force")
    assert code == 0, err
    [kept] = out.glob("summary.json.before-eval-*")
    assert json.loads(kept.read_text()) == {"mine": True}
    assert json.loads((out / "summary.json").read_text())["faces"] == 2


# --- round 2: the Python API gives the command line's messages ------------------------------------
def test_the_api_refuses_as_the_command_line_does(world, tmp_path):
    from PIL import Image

    import sccnb as api
    from sccnb.errors import DataError, DeviceError

    model = api.load_model(world.run.path)
    box = [[10, 10, 80, 100]]
    with pytest.raises(DataError, match="no image \\(got None\\)"):
        model(None, box)
    with pytest.raises(DataError, match="the image is 0 x 0 px; a face image is at least 4 px"):
        model(np.zeros((0, 0, 3), np.uint8), box)
    started = time.perf_counter()
    with pytest.raises(DataError, match="reaches far beyond its 90 x 120 image"):
        model(np.full((120, 90, 3), 128, np.uint8), [[10, 10, 1e9, 60]])
    assert time.perf_counter() - started < 5
    with pytest.raises(DeviceError, match="'gpu' is not a device name"):
        api.load_model(world.run.path, device="gpu")
    with pytest.raises(CheckpointError, match="best.pt is truncated or not a PyTorch"):
        api.load_model(world.truncated_best)
    # RGBA and 16-bit PIL images: as the command line reads the same files
    pixels = np.random.default_rng(0).integers(0, 65535, (120, 90), np.uint16)
    images = {"rgba": Image.fromarray(np.dstack([(pixels >> 8).astype(np.uint8)] * 3
                                                + [np.full((120, 90), 9, np.uint8)])),
              "i16": Image.fromarray(pixels)}
    for name, image in images.items():
        image.save(tmp_path / f"{name}.png")
        np.testing.assert_allclose(model(image, box)[0]["landmarks"],
                                   model(tmp_path / f"{name}.png", box)[0]["landmarks"])


# --- round 2: every notebook checks its parameters first -----------------------------------------
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_checks_its_parameters_in_its_first_cell(path):
    import ast

    import nbformat

    from sccnb.study.notebook import PARAMETERS, check_parameters

    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    i = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    defaults = {}
    for node in ast.parse(cells[i].source).body:
        name = node.target.id
        assert name in PARAMETERS, f"{path.name}: {name} has no check in sccnb.study.notebook"
        assert PARAMETERS[name][0].__name__ == node.annotation.id, (path.name, name)
        defaults[name] = ast.literal_eval(node.value)
    check_parameters(defaults)  # the defaults pass
    assert "check_parameters(globals())" in cells[i + 1].source, path.name


@pytest.mark.parametrize("name,value,fragment", [
    ("seeds", 0, "notebook parameter seeds=0 (int): expected a non-empty list of integers >= 0"),
    ("workers", "abc", "notebook parameter workers='abc' (str): expected an integer >= 0"),
    ("workers", -2, "notebook parameter workers=-2 (int): expected an integer >= 0"),
    ("profile", "nosuch", "profile='nosuch' (str): expected one of paper, gpu, cpu, smoke"),
    ("interactive", "no", "interactive='no' (str): expected True or False"),
    ("overrides", "epochs=2", "overrides='epochs=2' (str): expected a mapping"),
    ("seeds", [0, "a"], "seeds=[0, 'a'] (list): expected a non-empty list of integers"),
])
def test_a_bad_notebook_parameter_is_named(name, value, fragment):
    from sccnb.study.notebook import check_parameters

    with pytest.raises(ConfigError) as info:
        check_parameters({"seeds": [0], "workers": 0, "profile": "cpu", name: value})
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_papermill_stops_at_the_first_cell_naming_the_parameter(tmp_path):
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(str(REPO_ROOT / "notebooks" / "table1_wflw.ipynb"),
                            str(tmp_path / "out.ipynb"), cwd=str(REPO_ROOT / "notebooks"),
                            parameters={"seeds": 0, "profile": "smoke"},
                            kernel_name="python3", progress_bar=False)
    assert "ConfigError" in str(info.value)
    assert "notebook parameter seeds=0 (int): expected a non-empty list" in str(info.value)
    assert "check_parameters(globals())" in str(info.value)  # the first cell, before any work


# --- 4. Ctrl-C, a second train, and the error path itself ---------------------------------------
def test_ctrl_c_says_what_was_kept_and_how_to_resume(tmp_path, capsys, monkeypatch):
    import sccnb.training.train as train_mod

    runs = tmp_path / "runs"
    cfg = resolve_config("smoke", head="fc", epochs=3, lr_milestones=(2,))
    train_mod.train(cfg, runs, stop_after_epoch=0)  # one epoch done, then "Ctrl-C"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "train", interrupted)
    argv = ["train", "--profile", "smoke", "--set", "head=fc", "--set", "epochs=3", "--set",
            "lr_milestones=2", "--runs-root", runs]
    code, _, err = sccnb(capsys, *argv)
    assert code == 130 and "Traceback" not in err
    assert (f"interrupted; 1 finished epoch(s) are saved in {runs / run_id(cfg)}/checkpoint.pt. "
            "Run the same command again to resume from epoch 2") in err
    code, _, err = sccnb(capsys, *argv[:-1], tmp_path / "fresh")
    assert code == 130 and "no epoch had finished. Run the same command again to start over" in err
    assert not (tmp_path / "fresh" / run_id(cfg)).exists()  # no empty run folder left


def test_a_second_process_says_it_waits_for_the_lock(tmp_path, capsys):
    target, entered = tmp_path / "run", threading.Event()

    def second():
        with file_lock(target):
            entered.set()

    with file_lock(target):
        thread = threading.Thread(target=second)
        thread.start()
        for _ in range(100):
            if "waiting for another process" in capsys.readouterr().err:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no waiting message")
        assert not entered.is_set()
    thread.join(5)
    assert entered.is_set()


def test_a_damaged_resume_checkpoint_is_refused_before_training(tmp_path):
    cfg = resolve_config("smoke", head="fc")
    run_dir = tmp_path / run_id(cfg)
    run_dir.mkdir()
    (run_dir / "checkpoint.pt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(CheckpointError, match="checkpoint.pt is truncated"):
        ensure_run(cfg, tmp_path)


def test_unexpected_errors_keep_their_traceback(capsys, monkeypatch):
    import sccnb.cli.efficiency as eff

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(eff, "efficiency_report", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["efficiency", "--no-timing"])
    with pytest.raises(ConfigError):  # --debug: expected errors raise too
        main(["--debug", "train", "--profile", "smoke", "--set", "k=abc", "--show-config"])


def test_the_real_command_prints_one_line_and_debug_the_traceback():
    cmd = [sys.executable, "-m", "sccnb", "train", "--profile", "smoke", "--set", "epochs=2.5",
           "--show-config"]
    quiet = subprocess.run(cmd, capture_output=True, text=True)
    assert quiet.returncode == 2 and quiet.stderr.strip().count("\n") == 0
    assert "error: config key epochs='2.5': expected an integer" in quiet.stderr
    loud = subprocess.run(cmd + ["--debug"], capture_output=True, text=True)
    assert loud.returncode != 0 and "Traceback" in loud.stderr and "ConfigError" in loud.stderr


# --- config validation stays in step with the model and accepts every stored run ----------------
def test_allowed_values_are_the_modules_own():
    from sccnb.model.attention import ATTENTION_MODES, FEATURE_SETS
    from sccnb.model.backbone import _BUILDERS
    from sccnb.model.scc import HEADS
    from sccnb.training.losses import LOSSES
    from sccnb.training.train import augment_preset

    assert CHOICES["head"] == HEADS and set(CHOICES["features"]) == set(FEATURE_SETS)
    assert CHOICES["attention"] == ATTENTION_MODES and set(CHOICES["loss"]) == set(LOSSES)
    assert set(DEPTHS) == set(_BUILDERS)
    for name in CHOICES["augment"]:
        augment_preset(name)


def test_every_stored_run_config_is_valid():
    configs = sorted((REPO_ROOT / "results" / "runs").glob("*/config.json"))
    assert configs, "no stored runs"
    for path in configs:
        config_from_json(json.loads(path.read_text())["train"])  # raises ConfigError if not
