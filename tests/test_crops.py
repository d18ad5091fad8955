"""Face crops: exact landmark mapping (pixel-centre convention), decoding, errors, the cache."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import sccnb.data.crops as crops_mod
from sccnb.data.crops import (
    CROP_VERSION,
    CropSet,
    cache_key,
    cached_crops,
    crop_matrix,
    crop_records,
    face_box,
)
from sccnb.data.records import DataFormatError, FaceRecord


def _record(image, landmarks, box=None, name="face", **kw) -> FaceRecord:
    kw.setdefault("layout", "custom")
    kw.setdefault("dataset", "toy")
    kw.setdefault("split", "train")
    return FaceRecord(name=name, image=image, landmarks=np.asarray(landmarks, float), box=box,
                      source=kw.pop("source", f"toy.txt:{name}"), **kw)


def _noise_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 60, (h, w, 3), dtype=np.uint8)


def _centroid(channel: np.ndarray) -> np.ndarray:
    """Intensity-weighted centroid (x, y) in 0-based pixel-centre coordinates."""
    ys, xs = np.mgrid[: channel.shape[0], : channel.shape[1]]
    w = channel.astype(np.float64)
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


def test_crop_matrix_maps_box_centre_to_crop_centre_and_side_to_size():
    box = np.array([10.0, 20.0, 50.0, 80.0])  # w 40, h 60
    m = crop_matrix(box, size=64, scale=1.25)
    centre = m @ np.array([30.0, 50.0, 1.0])
    np.testing.assert_allclose(centre, [31.5, 31.5])
    np.testing.assert_allclose(m[0, 0], 64 / (1.25 * 60))


@pytest.mark.parametrize("zoom", [4.0, 1.37, 0.5, 0.3])
def test_a_bright_blob_lands_where_its_landmark_does(zoom):
    # A small Gaussian blob on black, centred on the landmark: after the warp (up- or
    # down-scaling, antialiased) the crop's intensity centroid must sit on the mapped landmark.
    # A half-pixel convention error would move it by 0.5 * |zoom - 1| px (>= 0.18 px here).
    target = np.array([70.3, 99.6])
    ys, xs = np.mgrid[:200, :160]
    blob = 255 * np.exp(-((xs - target[0]) ** 2 + (ys - target[1]) ** 2) / (2 * 1.5**2))
    image = np.repeat(np.round(blob).astype(np.uint8)[..., None], 3, axis=2)
    size = 64
    centre = target + np.array([1.3, -1.7])  # crop centred neither on the blob nor on a pixel
    half = size / zoom / 1.25 / 2  # so that the crop side is size / zoom source pixels
    box = np.concatenate([centre - half, centre + half])
    cs = crop_records([_record(image, [target], box=box)], size, progress=False)
    got = _centroid(cs.images[0, 0].numpy())
    np.testing.assert_allclose(got, cs.landmarks[0, 0].numpy(), atol=0.05)


def test_coloured_blocks_keep_their_colour_at_the_mapped_landmarks():
    image = _noise_image(240, 300)
    rng = np.random.default_rng(1)
    pts = np.array([[90, 80], [200, 85], [150, 140], [110, 190], [190, 185]], float)
    colours = rng.integers(100, 256, (len(pts), 3))
    for (x, y), c in zip(pts.astype(int), colours):
        image[y - 3:y + 4, x - 3:x + 4] = c
    box = np.array([80.0, 70.0, 215.0, 200.0])
    cs = crop_records([_record(image, pts, box=box)], 128, scale=1.3, progress=False,
                      antialias=False)
    crop = cs.images[0].permute(1, 2, 0).numpy()
    for (u, v), c in zip(cs.landmarks[0].numpy(), colours):
        np.testing.assert_array_equal(crop[int(round(v)), int(round(u))], c)


def test_to_image_inverts_the_crop_mapping():
    image = _noise_image(100, 120)
    pts = np.array([[30.2, 40.7], [80.9, 45.1], [55.5, 70.3]])
    cs = crop_records([_record(image, pts, box=[25, 30, 90, 80])], 48, progress=False)
    a = cs.to_image[0].double().numpy()
    back = cs.landmarks[0].double().numpy() @ a[:, :2].T + a[:, 2]
    np.testing.assert_allclose(back, pts, atol=1e-3)


def test_paths_are_decoded_as_rgb_and_match_in_memory_arrays(tmp_path):
    image = _noise_image(90, 110)
    image[:, :55] = (255, 0, 0)  # left half red, in RGB
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    pts = [[30.0, 30.0], [80.0, 60.0]]
    from_path = crop_records([_record(str(path), pts)], 32, progress=False)
    from_array = crop_records([_record(image, pts)], 32, progress=False)
    assert torch.equal(from_path.images, from_array.images)
    left = from_path.images[0, :, 16, 2]  # a pixel well inside the red half
    assert left.tolist() == [255, 0, 0]


def test_grey_arrays_become_three_channels():
    grey = np.random.default_rng(0).integers(0, 256, (60, 60), dtype=np.uint8)
    cs = crop_records([_record(grey, [[20, 20], [40, 40]])], 16, progress=False)
    assert torch.equal(cs.images[0, 0], cs.images[0, 1])
    assert torch.equal(cs.images[0, 0], cs.images[0, 2])


def test_missing_and_undecodable_images_raise_naming_the_record(tmp_path):
    missing = _record(str(tmp_path / "nope.jpg"), [[1, 1], [5, 5]], source="list.txt:7")
    with pytest.raises(DataFormatError, match=r"list\.txt:7.*missing"):
        crop_records([missing], 16, progress=False)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a jpeg")
    broken = _record(str(bad), [[1, 1], [5, 5]], source="list.txt:9")
    with pytest.raises(DataFormatError, match=r"list\.txt:9.*not a decodable image"):
        crop_records([broken], 16, progress=False)
    wrong = _record(np.zeros((8, 8, 4), np.uint8), [[1, 1], [5, 5]], source="cofw.mat:3")
    with pytest.raises(DataFormatError, match=r"cofw\.mat:3"):
        crop_records([wrong], 16, progress=False)


def test_box_or_landmark_extent():
    pts = np.array([[10.0, 20.0], [30.0, 60.0]])
    with_box = _record(np.zeros((5, 5, 3), np.uint8), pts, box=[0, 0, 100, 100])
    no_box = _record(np.zeros((5, 5, 3), np.uint8), pts)
    np.testing.assert_array_equal(face_box(with_box), [0, 0, 100, 100])
    np.testing.assert_array_equal(face_box(with_box, "landmarks"), [10, 20, 30, 60])
    np.testing.assert_array_equal(face_box(no_box), [10, 20, 30, 60])
    with pytest.raises(ValueError, match="center_on"):
        face_box(no_box, "eyes")


def _toy_records(n: int = 5, points: int = 4) -> list[FaceRecord]:
    rng = np.random.default_rng(3)
    recs = []
    for i in range(n):
        pts = rng.uniform(20, 60, (points, 2))
        recs.append(_record(_noise_image(80, 80, i), pts, name=f"f{i}",
                            attributes={"pose": i % 2 == 0, "blur": i == 3},
                            occluded=(np.arange(points) == i % points)))
    return recs


def test_cropset_metadata_subset_shapes_and_to():
    recs = _toy_records()
    recs[4].attributes = {"pose": True}  # a flag this record lacks reads False
    cs = crop_records(recs, 32, progress=False)
    assert len(cs) == 5 and cs.size == 32 and cs.layout == "custom"
    assert cs.dataset == "toy" and cs.split == "train"
    assert cs.images.dtype == torch.uint8 and cs.images.shape == (5, 3, 32, 32)
    assert cs.landmarks.dtype == torch.float32 and cs.to_image.dtype == torch.float32
    np.testing.assert_array_equal(cs.attributes["blur"], [False, False, False, True, False])
    assert cs.occluded is not None and cs.occluded[1].tolist() == [False, True, False, False]
    sub = cs.subset([3, 1, 1])
    assert sub.names == ["f3", "f1", "f1"]
    assert torch.equal(sub.images[0], cs.images[3])
    np.testing.assert_array_equal(sub.attributes["blur"], [True, False, False])
    mask = np.array([True, False, False, False, True])
    assert cs.subset(mask).names == ["f0", "f4"]
    np.testing.assert_allclose(cs.shapes_in(256), cs.landmarks.double().numpy() * 8)
    moved = cs.to("cpu")
    assert moved.images.device.type == "cpu" and moved.names == cs.names


def test_mixed_layouts_are_refused():
    recs = _toy_records(2)
    recs[1].layout = "other"
    with pytest.raises(ValueError, match="mix layouts"):
        crop_records(recs, 16, progress=False)


def _png_records(folder: Path, n: int = 3) -> list[FaceRecord]:
    recs = []
    for i, r in enumerate(_toy_records(n)):
        path = folder / f"img{i}.png"
        cv2.imwrite(str(path), r.image)
        r.image = str(path)
        recs.append(r)
    return recs


def _equal(a: CropSet, b: CropSet) -> bool:
    return (torch.equal(a.images, b.images) and torch.equal(a.landmarks, b.landmarks)
            and torch.equal(a.to_image, b.to_image) and a.names == b.names
            and a.attributes.keys() == b.attributes.keys()
            and all(np.array_equal(a.attributes[k], b.attributes[k]) for k in a.attributes)
            and torch.equal(a.occluded, b.occluded) and (a.layout, a.dataset, a.split, a.size)
            == (b.layout, b.dataset, b.split, b.size))


def test_cache_is_built_once_reloaded_and_rebuilt_when_inputs_change(tmp_path, monkeypatch):
    recs = _png_records(tmp_path)
    cache = tmp_path / "cache"
    calls = []
    real = crops_mod.crop_records
    monkeypatch.setattr(crops_mod, "crop_records",
                        lambda *a, **k: calls.append(1) or real(*a, **k))

    first = cached_crops(recs, 24, cache_dir=cache, progress=False)
    files = sorted(cache.glob("*.pt"))
    assert len(calls) == 1 and len(files) == 1
    assert files[0].name.startswith("toy_train_24px_")
    assert not list(cache.glob(".*tmp"))  # the temporary file was renamed away
    payload = torch.load(files[0], weights_only=True)  # metadata is weights_only-safe
    assert payload["version"] == CROP_VERSION

    again = cached_crops(recs, 24, cache_dir=cache, progress=False)
    assert len(calls) == 1 and _equal(first, again)

    recs[0].landmarks = recs[0].landmarks + 1.0  # new annotation -> new key -> rebuilt
    cached_crops(recs, 24, cache_dir=cache, progress=False)
    assert len(calls) == 2 and len(list(cache.glob("*.pt"))) == 2

    st = os.stat(recs[1].image)  # same file re-saved (newer mtime) -> rebuilt
    os.utime(recs[1].image, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    cached_crops(recs, 24, cache_dir=cache, progress=False)
    assert len(calls) == 3

    cached_crops(recs, 24, scale=1.5, cache_dir=cache, progress=False)
    assert len(calls) == 4


def test_cache_key_covers_arrays_boxes_and_settings():
    recs = _toy_records(2)
    key = cache_key(recs, 32)
    assert key == cache_key(recs, 32)
    assert key != cache_key(recs, 32, center_on="landmarks")
    assert key != cache_key(recs, 64)
    recs[0].image = recs[0].image.copy()
    recs[0].image[0, 0, 0] ^= 1  # one bit of an in-memory image
    assert key != cache_key(recs, 32)
    recs = _toy_records(2)
    recs[1].box = np.array([0.0, 0.0, 70.0, 70.0])
    assert key != cache_key(recs, 32)


def test_an_unreadable_cache_file_is_rebuilt(tmp_path, monkeypatch):
    recs = _png_records(tmp_path, 2)
    cache = tmp_path / "cache"
    first = cached_crops(recs, 16, cache_dir=cache, progress=False)
    path = next(cache.glob("*.pt"))
    path.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable"):
        again = cached_crops(recs, 16, cache_dir=cache, progress=False)
    assert _equal(first, again)


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCCNB_CACHE", str(tmp_path))
    assert crops_mod.default_cache_dir() == tmp_path
    monkeypatch.delenv("SCCNB_CACHE")
    assert crops_mod.default_cache_dir().parts[-2:] == (".cache", "crops")


def _read_pts(path: Path) -> np.ndarray:
    """A minimal iBUG .pts reader (1-based file -> 0-based points)."""
    body = path.read_text().split("{")[1].split("}")[0]
    return np.array(body.split(), dtype=float).reshape(-1, 2) - 1.0


def test_real_faces_are_cropped_around_their_landmarks(shared_data):
    files = sorted((shared_data / "300w_mini" / "afw").glob("*.pts"))[:6]
    recs = [_record(str(f.with_suffix(".jpg")), _read_pts(f), name=f.stem, layout="300w68",
                    dataset="300w", source=str(f)) for f in files]
    cs = crop_records(recs, 64, progress=False)
    lm = cs.landmarks.numpy()
    # A 1.25 x landmark-extent crop leaves a 10 % margin on the longer side.
    assert lm.min() >= 0.1 * 64 - 1 and lm.max() <= 0.9 * 64
    extent = (lm.max(axis=1) - lm.min(axis=1)).max(axis=1)
    np.testing.assert_allclose(extent, 64 / 1.25, rtol=1e-4)
    assert cs.images.float().mean() > 20  # real content, not the black border
