"""`python -m sccnb data check`: a clean real folder passes with its counts; a broken folder
fails with EVERY problem listed at its file and line."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from PIL import Image

from sccnb.cli.data import add_arguments, run
from sccnb.data.check import check_dataset, format_report
from test_readers import (face_points, make_300w_root, make_wflw_root, synthetic_cofw,
                          write_cofw_v73)


def _run(argv: list[str], capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    code = run(parser.parse_args(argv))
    return code, capsys.readouterr().out


def test_real_300w_mini_is_clean(shared_data, capsys):
    code, out = _run(["check", "300w", str(shared_data / "300w_mini"), "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["problems"] == []
    (train,) = report["splits"]
    assert train["faces"] == 1207 and train["points"] == [68]
    assert train["groups"] == {"afw": 337, "helen/trainset": 870}
    assert report["images_checked"] == 1207 and train["faces_with_image_size"] == 1207
    assert any("lfpw/trainset" in note for note in report["notes"])


def test_real_annotation_only_folders(shared_data):
    wflw = check_dataset("wflw", shared_data / "wflw_annotations")
    assert wflw.ok and wflw.splits[0].faces == 1966 and sum(wflw.splits[0].groups.values()) == 3053
    cofw68 = check_dataset("cofw68", shared_data / "cofw68_test")
    assert cofw68.ok and cofw68.splits[0].faces == 507 and cofw68.images_checked == 0
    assert 0.1 < cofw68.splits[0].occluded_share < 0.4
    csvs = check_dataset("300w-csv", shared_data / "300w_csv")
    assert csvs.ok and {s.name: s.faces for s in csvs.splits}["face_landmarks_300w_test"] == 600


def test_broken_300w_folder_lists_every_problem(tmp_path, capsys):
    afw = make_300w_root(tmp_path, "afw", 6)
    helen = make_300w_root(tmp_path, "helen/trainset", 2)
    afw[0].write_text(afw[0].read_text().replace("\n}", "\n1 2 3\n}"))  # line 72: 3 fields
    afw[1].write_text(afw[1].read_text().replace("\n}", "\nnan 1\n}"))  # line 72: NaN
    afw[2].with_suffix(".jpg").unlink()  # missing image
    afw[3].with_suffix(".jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")  # undecodable
    lines = helen[1].read_text().splitlines()
    helen[1].write_text("\n".join(lines[:-2] + lines[-1:]) + "\n")  # 67 points
    big = tmp_path / "afw" / "face_4.jpg"  # truncated: the header reads, the pixels do not
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)).save(big)
    big.write_bytes(big.read_bytes()[:2000])

    code, out = _run(["check", "300w", str(tmp_path)], capsys)
    assert code == 1
    expected = [f"{afw[0]}:72: expected a point 'x y', got 3 field(s)",
                f"{afw[1]}:72: 1 non-finite coordinates",
                f"{afw[2]}: no image next to it",
                f"{helen[1]}:71: n_points (line 2) says 68 but 67 points follow"]
    for text in expected:
        assert text in out, out
    assert "cannot decode image" in out and str(afw[3].with_suffix(".jpg")) in out
    assert str(big) in out and "split train: 4 faces" in out  # 8 written, 4 unreadable .pts
    report = check_dataset("300w", tmp_path)
    assert len(report.problems) == 6 and report.images_checked == 4
    assert report.splits[0].faces_with_image_size == 2
    assert {p.file for p in report.problems} == {str(p) for p in afw[:5]} | {str(helen[1])}


def test_broken_wflw_list_lists_every_bad_line(tmp_path):
    good = face_points(98)
    path = make_wflw_root(tmp_path, [("a.jpg", good, [0] * 6)] * 5)
    lines = path.read_text().splitlines()
    for i in (1, 3):
        lines[i] = lines[i].replace(" a.jpg", " x.jpg")
    lines[4] = lines[4].replace(" 0 0 0 0 0 0 ", " 0 2 0 0 0 0 ")
    path.write_text("\n".join(lines) + "\n")
    report = check_dataset("wflw", tmp_path)
    assert not report.ok
    located = [(p.file, p.line) for p in report.problems]
    train = path.with_name("list_98pt_rect_attr_train.txt")
    assert located == [(str(train), None), (str(path), 2), (str(path), 4), (str(path), 5)]
    assert "flags must be 0 or 1" in report.problems[3].message
    (test,) = report.splits
    assert test.faces == 2 and test.boxes_partly_outside == 0 and test.points_outside_share == 0
    text = format_report(report)
    assert f"{path}:4: image not found" in text and "FAILED: 4 problem(s)" in text


def test_cofw_mat_is_checked(tmp_path):
    images, _, occluded, phis, boxes = synthetic_cofw()
    mat = write_cofw_v73(tmp_path / "COFW_test_color.mat", "test", images, phis, boxes)
    report = check_dataset("cofw", mat)
    assert report.ok and [s.name for s in report.splits] == ["test"]
    (test,) = report.splits
    assert test.faces == 3 and test.points == [29] and test.faces_with_image_size == 3
    assert test.occluded_share == pytest.approx(np.mean(occluded))
    folder = check_dataset("cofw", tmp_path)  # a folder: finds COFW_test_color.mat
    assert folder.ok and [(s.name, s.faces) for s in folder.splits] == [("test", 3)]
    missing = check_dataset("cofw", tmp_path / "nothing_here")
    assert not missing.ok and "does not exist" in missing.problems[0].message
