"""SynthFace: shape model, determinism, rendering where the landmarks are, attribute rates,
occlusion flags, and the files written in the WFLW / 300-W / COFW / COFW-68 layouts."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import scipy.io

from sccnb.data.records import WFLW_ATTRIBUTES
from sccnb.data.synth import (ATTRIBUTE_RATES, benchmark, ensure_synthface, generate_face,
                              load_shape_model, sample_grid)
from sccnb.data.synth import writer as synth_writer
from sccnb.data.synth.shape_model import (DEFAULT_MODEL_PATH, euler_angles, fit_rigid_3d,
                                          fit_shape_model, mirror_shapes, rotation_matrix)
from sccnb.layouts import WFLW98_TO_300W68, WFLW98_TO_COFW29

NORMAL = {a: False for a in WFLW_ATTRIBUTES}


# --- shape model -------------------------------------------------------------------------------
def test_shape_model_file_is_small_and_has_provenance():
    model = load_shape_model()
    assert DEFAULT_MODEL_PATH.stat().st_size < 64 * 1024
    note = json.loads(DEFAULT_MODEL_PATH.with_suffix(".json").read_text())
    for prov in (model.provenance, note):
        assert prov["distinct_faces"] == 1966 and prov["source_lines"] == 3053
        assert len(prov["source_files"]) == 6 and "fit_shape_model" in prov["produced_by"]
    assert model.mean3d.shape == (98, 3)
    assert model.modes.shape == (model.num_modes, 98, 2) and model.num_modes >= 8
    assert np.all(np.diff(model.variances) <= 0)
    np.testing.assert_allclose(mirror_shapes(model.mean3d), model.mean3d, atol=1e-5)
    # geometry sanity: eyes above nose above mouth above chin; nose tip in front of the cheeks
    y = model.mean3d[:, 1]
    assert y[96] < y[54] < y[79] < y[16]
    assert model.mean3d[54, 2] > model.mean3d[[0, 32], 2].max() + 0.5


@pytest.mark.parametrize("angles", [(0, 0, 0), (35, -12, 20), (-60, 25, -80)])
def test_euler_angles_invert_rotation_matrix(angles):
    np.testing.assert_allclose(euler_angles(rotation_matrix(*angles)), angles, atol=1e-9)


def test_rigid_fit_recovers_known_poses():
    """Shapes made by rotating a known 3-D face are explained by the fitted cameras."""
    rng = np.random.default_rng(0)
    truth = load_shape_model().mean3d
    pitch = rng.uniform(-20, 20, 30)  # symmetric, so the fit's gauge (median pitch 0) is true
    angles = np.column_stack([rng.uniform(-40, 40, 60), np.concatenate([pitch, -pitch]),
                              rng.uniform(-30, 30, 60)])
    shapes = np.stack([2.0 * truth @ rotation_matrix(*a)[:2].T + 5.0 for a in angles])
    shapes = np.concatenate([shapes, mirror_shapes(shapes)])
    fitted, scales, rot = fit_rigid_3d(shapes)
    proj = scales[:, None, None] * np.einsum("fdk,pk->fpd", rot[:, :2], fitted)
    np.testing.assert_allclose(proj, shapes - shapes.mean(1, keepdims=True), atol=2e-3)
    est = euler_angles(rot[:60])
    np.testing.assert_allclose(np.abs(est[:, 0]), np.abs(angles[:, 0]), atol=0.5)


def test_refitting_reproduces_the_committed_model(shared_data):
    lists = shared_data / "wflw_annotations" / "list_98pt_test"
    model = fit_shape_model(lists)
    committed = load_shape_model()
    np.testing.assert_allclose(model.mean3d, committed.mean3d, atol=1e-4)
    np.testing.assert_allclose(model.variances, committed.variances, rtol=1e-3)


# --- generation -------------------------------------------------------------------------------
def test_same_seed_same_face_and_other_seeds_differ():
    a = generate_face(3, "train", 7, size=96)
    b = generate_face(3, "train", 7, size=96)
    assert a.jpeg() == b.jpeg()
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    for other in (generate_face(4, "train", 7, size=96), generate_face(3, "test", 7, size=96),
                  generate_face(3, "train", 8, size=96)):
        assert not np.array_equal(a.image, other.image)
        assert np.abs(a.landmarks - other.landmarks).max() > 1.0


@pytest.fixture(scope="module")
def faces():
    """200 faces at 128 px (attribute draws do not depend on the size)."""
    model = load_shape_model()
    return [generate_face(11, "train", i, size=128, model=model) for i in range(200)]


def test_landmarks_and_boxes_lie_inside_the_image(faces):
    for f in faces:
        assert f.landmarks.shape == (98, 2) and np.isfinite(f.landmarks).all()
        assert f.landmarks.min() >= 0 and f.landmarks.max() <= 127
        x0, y0, x1, y1 = f.box
        assert 0 <= x0 < x1 <= 127 and 0 <= y0 < y1 <= 127
        # the box is the landmark extent up to a 5 % jitter per side
        extent = f.landmarks.max(0) - f.landmarks.min(0)
        assert abs(x0 - f.landmarks[:, 0].min()) <= 0.05 * extent[0] + 1


def test_attribute_rates_match_wflw_test(faces):
    n = len(faces)
    for a in WFLW_ATTRIBUTES:
        p = ATTRIBUTE_RATES[a]
        rate = np.mean([f.attributes[a] for f in faces])
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n), (a, rate, p)


def test_attributes_control_what_they_say(faces):
    large = [abs(f.info["yaw"]) for f in faces if f.attributes["pose"]]
    normal = [abs(f.info["yaw"]) for f in faces if not f.attributes["pose"]]
    assert max(normal) < 30 and np.median(large) > 30
    kinds = {f.info["expression"] for f in faces if f.attributes["expression"]}
    assert "neutral" not in kinds and len(kinds) >= 3
    assert all(f.info["expression"] == "neutral" for f in faces if not f.attributes["expression"])
    assert all((f.info["blur"] is not None) == f.attributes["blur"] for f in faces)


def test_occlusion_flags_only_on_occluded_faces(faces):
    occluded_faces = [f for f in faces if f.attributes["occlusion"]]
    assert all(not f.occluded.any() for f in faces if not f.attributes["occlusion"])
    covered = [f.occluded.sum() for f in occluded_faces]
    assert np.mean(np.array(covered) > 0) > 0.85
    assert 3 < np.mean(covered) < 70


def test_occluded_points_are_under_the_occluder():
    """Render the same face with and without its occluders: the flagged points changed colour;
    most others did not (some lie in the occluder's cast shadow)."""
    changed_occ, unchanged_vis, diff_occ, diff_vis = [], [], [], []
    for i in range(12):
        on = generate_face(5, "test", i, 160, dict(NORMAL, occlusion=True))
        off = generate_face(5, "test", i, 160, NORMAL)
        np.testing.assert_array_equal(on.landmarks, off.landmarks)
        diff = np.abs(on.image.astype(int) - off.image.astype(int)).sum(-1)
        ij = np.round(on.landmarks).astype(int)
        d = diff[ij[:, 1], ij[:, 0]]
        changed_occ += list(d[on.occluded] > 12)
        unchanged_vis += list(d[~on.occluded] == 0)
        diff_occ += list(d[on.occluded])
        diff_vis += list(d[~on.occluded])
        assert not off.occluded.any()
    assert len(changed_occ) > 50 and np.mean(changed_occ) > 0.95
    assert np.mean(unchanged_vis) > 0.6
    assert np.mean(diff_vis) < 0.25 * np.mean(diff_occ)


def _disc(img: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[:img.shape[0], :img.shape[1]]
    inside = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= max(radius, 1.0) ** 2
    return img[inside].astype(float)


def _disc_mean(img: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    return _disc(img, centre, radius).mean(0)


def _disc_min(img: np.ndarray, centre: np.ndarray, radius: float) -> float:
    """The darkest pixel (sum of RGB) in the disc."""
    return float(_disc(img, centre, radius).sum(1).min())


def test_features_are_drawn_where_the_landmarks_are():
    """Pupils of open eyes are darker than the cheek; the lips' colour differs from the
    skin's."""
    checked = 0
    for i in range(8):
        f = generate_face(2, "train", i, 256, NORMAL)
        lm, img = f.landmarks, f.image.astype(float)
        iod = np.linalg.norm(lm[60] - lm[72])
        near = 4 if f.info["yaw"] > 0 else 28  # the cheek turned towards the camera
        cheek = _disc_mean(img, 0.5 * (lm[near] + lm[55 if near == 4 else 59]), 0.05 * iod)
        for pupil, (top, bottom) in ((96, (62, 66)), (97, (70, 74))):
            if np.linalg.norm(lm[top] - lm[bottom]) > 0.06 * iod:  # open enough to see it
                checked += 1
                assert _disc_min(img, lm[pupil], 0.02 * iod) < 0.6 * cheek.sum()
        lips = 0.5 * (lm[79] + lm[90])
        assert np.abs(_disc_mean(img, lips, 0.02 * iod) - cheek).sum() > 25
    assert checked >= 10


def test_benchmark_reports_throughput():
    result = benchmark(n=3, size=64)
    assert result["n"] == 3 and result["size"] == 64 and result["faces_per_s"] > 0
    assert result["mean_jpeg_kb"] > 0


def test_sample_grid_has_a_row_per_attribute(tmp_path):
    grid = sample_grid(tmp_path / "grid.png", per_row=2, size=64, cell=48,
                       rows=("normal", "occlusion"))
    assert grid.shape == (2 * 48, 120 + 2 * 48, 3)
    assert cv2.imread(str(tmp_path / "grid.png")).shape == grid.shape
    with pytest.raises(ValueError, match="supported"):
        sample_grid(rows=("sideways",))


# --- the written data set ------------------------------------------------------------------------
TRAIN, TEST, SIZE, SEED = 6, 14, 96, 3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthface") / "sf"
    return ensure_synthface(root, TRAIN, TEST, SIZE, SEED, progress=False)


def _expected(split: str, n: int):
    model = load_shape_model()
    return [generate_face(SEED, split, i, SIZE, model=model) for i in range(n)]


def test_wflw_lists_have_207_fields_and_the_generated_values(dataset):
    ann = dataset / "WFLW" / "WFLW_annotations"
    for split, n in (("train", TRAIN), ("test", TEST)):
        lines = (ann / "list_98pt_rect_attr_train_test" /
                 f"list_98pt_rect_attr_{split}.txt").read_text().splitlines()
        assert len(lines) == n
        for line, face in zip(lines, _expected(split, n)):
            fields = line.split()
            assert len(fields) == 207
            np.testing.assert_allclose(np.asarray(fields[:196], float).reshape(98, 2),
                                       face.landmarks, atol=5e-7)
            assert [int(v) for v in fields[196:200]] == face.box.tolist()
            assert [int(v) for v in fields[200:206]] == [int(face.attributes[a])
                                                         for a in WFLW_ATTRIBUTES]
            image = dataset / "WFLW" / "WFLW_images" / fields[206]
            assert image.read_bytes() == face.jpeg()


def test_wflw_subset_lists_hold_the_flagged_test_faces(dataset):
    test_lines = (dataset / "WFLW/WFLW_annotations/list_98pt_rect_attr_train_test/"
                  "list_98pt_rect_attr_test.txt").read_text().splitlines()
    rows = [line.split() for line in test_lines]
    for i, (attr, name) in enumerate(synth_writer.SUBSET_NAMES.items()):
        path = dataset / f"WFLW/WFLW_annotations/list_98pt_test/list_98pt_test_{name}.txt"
        subset = [line.split() for line in path.read_text().splitlines()]
        expected = [r[:196] + [r[206]] for r in rows if r[200 + i] == "1"]
        assert all(len(r) == 197 for r in subset)
        assert subset == expected, attr


def _read_pts(path: Path) -> np.ndarray:
    text = path.read_text().splitlines()
    assert text[:3] == ["version: 1", "n_points: 68", "{"] and text[-1] == "}"
    return np.asarray(" ".join(text[3:-1]).split(), float).reshape(68, 2)


def test_300w_copies_are_1_based_and_split_by_difficulty(dataset):
    m68 = list(WFLW98_TO_300W68)
    hard = {"pose", "expression", "occlusion"}
    for split, n in (("train", TRAIN), ("test", TEST)):
        for face in _expected(split, n):
            name = f"synthface_{split}_{face.index:06d}"
            if split == "train":
                folder = "helen/trainset"
            else:
                folder = "ibug" if any(face.attributes[a] for a in hard) else "lfpw/testset"
            pts = _read_pts(dataset / "300W" / folder / f"{name}.pts")
            np.testing.assert_allclose(pts, face.landmarks[m68] + 1.0, atol=5e-7)
            assert (dataset / "300W" / folder / f"{name}.jpg").read_bytes() == face.jpeg()
    counted = sum(len(list((dataset / "300W" / d).glob("*.pts")))
                  for d in ("helen/trainset", "lfpw/testset", "ibug"))
    assert counted == TRAIN + TEST


def test_cofw_mat_files_have_the_matlab_v73_layout(dataset):
    m29 = list(WFLW98_TO_COFW29)
    for split, n, keys in (("train", TRAIN, ("IsTr", "phisTr", "bboxesTr")),
                           ("test", TEST, ("IsT", "phisT", "bboxesT"))):
        path = dataset / "COFW" / f"COFW_{split}_color.mat"
        assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
        with h5py.File(path, "r") as f:
            images, phis, boxes = (f[k] for k in keys)
            assert images.shape == (1, n) and phis.shape == (87, n) and boxes.shape == (4, n)
            assert phis.dtype == np.float64 and boxes.dtype == np.float64
            assert images.attrs["MATLAB_class"] == b"cell"
            assert phis.attrs["MATLAB_class"] == b"double"
            for i, face in enumerate(_expected(split, n)):
                img = f[images[0, i]]
                assert img.dtype == np.uint8 and img.attrs["MATLAB_class"] == b"uint8"
                rgb = img[()].transpose(2, 1, 0)  # (3, W, H) -> H x W x 3
                decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(face.jpeg(), np.uint8), 1),
                                       cv2.COLOR_BGR2RGB)
                x0, y0, x1, y1 = synth_writer.cofw_crop(face.box, SIZE, SIZE)
                np.testing.assert_array_equal(rgb, decoded[y0:y1, x0:x1])
                pts = np.stack([phis[:29, i], phis[29:58, i]], 1)
                np.testing.assert_allclose(pts, face.landmarks[m29] - [x0, y0] + 1.0,
                                           atol=1e-9)
                np.testing.assert_array_equal(phis[58:, i], face.occluded[m29])
                bx = face.box
                np.testing.assert_array_equal(boxes[:, i], [bx[0] - x0 + 1, bx[1] - y0 + 1,
                                                            bx[2] - bx[0], bx[3] - bx[1]])


def test_cofw68_files_follow_cofw_test_order(dataset):
    m68 = list(WFLW98_TO_300W68)
    root = dataset / "COFW68" / "COFW68_Data"
    boxes = scipy.io.loadmat(root / "cofw68_test_bboxes.mat")["bboxes"]
    assert boxes.dtype == np.int16 and boxes.shape == (TEST, 4)
    with h5py.File(dataset / "COFW" / "COFW_test_color.mat", "r") as f:
        cofw_boxes = f["bboxesT"][()].T
    np.testing.assert_array_equal(boxes, cofw_boxes)
    for i, face in enumerate(_expected("test", TEST), start=1):
        mat = scipy.io.loadmat(root / "test_annotations" / f"{i}_points.mat")
        assert mat["Points"].shape == (68, 2) and mat["Points"].dtype == np.float64
        assert mat["Occ"].shape == (1, 68) and mat["Occ"].dtype == np.uint8
        x0, y0 = synth_writer.cofw_crop(face.box, SIZE, SIZE)[:2]
        np.testing.assert_allclose(mat["Points"], face.landmarks[m68] - [x0, y0] + 1.0)
        np.testing.assert_array_equal(mat["Occ"][0], face.occluded[m68])


def test_summary_json_and_regeneration_rules(dataset, monkeypatch):
    meta = json.loads((dataset / "synthface.json").read_text())
    assert meta["parameters"] == {"train": TRAIN, "test": TEST, "size": SIZE, "seed": SEED}
    assert meta["counts"]["300w_common"] + meta["counts"]["300w_challenging"] == TEST
    assert set(meta["attribute_rates"]["test"]) == set(WFLW_ATTRIBUTES)
    assert len(meta["content_sha256"]) == 64

    def fail(*args, **kwargs):
        raise AssertionError("must not regenerate")

    monkeypatch.setattr(synth_writer, "write_synthface", fail)
    assert ensure_synthface(dataset, TRAIN, TEST, SIZE, SEED, progress=False) == dataset


def test_interrupted_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    def interrupted(out, *args, **kwargs):
        (Path(out) / "WFLW").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(synth_writer, "write_synthface", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthface(tmp_path / "sf", 2, 2, 64, 0, progress=False)
    assert not (tmp_path / "sf" / "synthface.json").exists()
    assert [p.name for p in tmp_path.iterdir()] in ([], ["sf"])


def test_cli_and_workers_give_the_same_data(tmp_path):
    from sccnb.cli import main

    args = ["--train", "3", "--test", "5", "--size", "64", "--seed", "1", "--quiet"]
    assert main(["synth", "--out", str(tmp_path / "a"), *args]) == 0
    assert main(["synth", "--out", str(tmp_path / "b"), "--workers", "2", *args]) == 0
    a, b = (json.loads((tmp_path / d / "synthface.json").read_text()) for d in "ab")
    assert a["content_sha256"] == b["content_sha256"]
    # a parameter change regenerates in place
    assert main(["synth", "--out", str(tmp_path / "a"), *args[:-2], "2", "--quiet"]) == 0
    c = json.loads((tmp_path / "a" / "synthface.json").read_text())
    assert c["parameters"]["seed"] == 2 and c["content_sha256"] != a["content_sha256"]


def test_project_readers_read_back_every_format(dataset):
    """Round trip through sccnb.data's readers: the same faces in every layout."""
    from sccnb.data import read_300w, read_cofw, read_cofw68, read_wflw
    from sccnb.data._io import IncompleteDatasetWarning

    m68, m29 = list(WFLW98_TO_300W68), list(WFLW98_TO_COFW29)
    test_faces = _expected("test", TEST)
    for split, faces_ in (("train", _expected("train", TRAIN)), ("test", test_faces)):
        records = read_wflw(dataset / "WFLW", split)
        assert len(records) == len(faces_)
        for rec, face in zip(records, faces_):
            np.testing.assert_allclose(rec.landmarks, face.landmarks, atol=5e-7)
            np.testing.assert_array_equal(rec.box, face.box)
            assert {a: rec.attributes[a] for a in WFLW_ATTRIBUTES} == face.attributes
            if split == "test":
                assert rec.attributes["subset_largepose"] == face.attributes["pose"]
                assert rec.attributes["subset_occlusion"] == face.attributes["occlusion"]

    # SynthFace fills helen/trainset, lfpw/testset and ibug only; the reader notes the others
    with pytest.warns(IncompleteDatasetWarning):
        full = read_300w(dataset / "300W", "full")
    by_name = {Path(r.name).stem: r for r in full}
    assert len(by_name) == TEST
    for face in test_faces:
        rec = by_name[f"synthface_test_{face.index:06d}"]
        np.testing.assert_allclose(rec.landmarks, face.landmarks[m68], atol=5e-7)
        hard = any(face.attributes[a] for a in ("pose", "expression", "occlusion"))
        assert rec.attributes["challenging"] == hard

    mat = dataset / "COFW" / "COFW_test_color.mat"
    cofw = read_cofw(mat, "test")
    cofw68 = read_cofw68(dataset / "COFW68", mat)
    assert len(cofw) == len(cofw68) == TEST
    for rec29, rec68, face in zip(cofw, cofw68, test_faces):
        x0, y0 = synth_writer.cofw_crop(face.box, SIZE, SIZE)[:2]
        np.testing.assert_allclose(rec29.landmarks, face.landmarks[m29] - [x0, y0], atol=1e-9)
        np.testing.assert_allclose(rec68.landmarks, face.landmarks[m68] - [x0, y0], atol=1e-9)
        np.testing.assert_array_equal(rec29.occluded, face.occluded[m29])
        np.testing.assert_array_equal(rec68.occluded, face.occluded[m68])
        np.testing.assert_array_equal(rec29.box, face.box - [x0, y0, x0, y0])
        np.testing.assert_array_equal(rec68.image, rec29.image)
