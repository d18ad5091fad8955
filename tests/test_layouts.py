import numpy as np
import pytest

from sccnb.layouts import (LAYOUTS, WFLW98_TO_300W68, WFLW98_TO_COFW29, flip_permutation,
                           get_layout)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_flip_is_an_involution_that_moves_something(name):
    perm = flip_permutation(name)
    assert np.array_equal(perm[perm], np.arange(len(perm)))
    assert (perm != np.arange(len(perm))).sum() >= len(perm) // 2


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_normalising_pair_is_a_flip_pair(name):
    lay = get_layout(name)
    a, b = lay.interocular
    assert lay.flip[a] == b and lay.flip[b] == a


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_parts_cover_every_point_once(name):
    lay = get_layout(name)
    idx = sorted(i for part, _ in lay.parts.values() for i in part)
    assert idx == list(range(lay.num_points))


@pytest.mark.parametrize("mapping, target", [(WFLW98_TO_300W68, "300w68"),
                                             (WFLW98_TO_COFW29, "cofw29")])
def test_98_point_mappings_commute_with_flip(mapping, target):
    """Mirroring a 98-point face then mapping equals mapping then mirroring."""
    m = np.asarray(mapping)
    f98, ft = flip_permutation("wflw98"), flip_permutation(target)
    assert len(set(mapping)) == len(mapping)
    assert np.array_equal(m[ft], f98[m])


def test_aliases_and_errors():
    assert get_layout("wflw").num_points == 98
    assert get_layout(68).name == "300w68"
    assert get_layout("cofw").interpupil == (16, 17)
    with pytest.raises(ValueError, match="supported"):
        get_layout("aflw19")
    with pytest.raises(ValueError, match="no pupils"):
        get_layout("300w68").normaliser("interpupil")


def _read_pts(path):
    lines = path.read_text().split("{")[1].split("}")[0].split()
    return np.asarray(lines, dtype=float).reshape(-1, 2) - 1.0


def test_flip_maps_left_eye_to_right_on_a_real_300w_face(shared_data):
    """On a real annotated face, mirroring the image and permuting the points puts the image-left
    eye's points where the image-right eye was."""
    pts = sorted((shared_data / "300w_mini" / "afw").glob("*.pts"))[0]
    shape = _read_pts(pts)
    width = shape[:, 0].max() + shape[:, 0].min()  # any mirror axis works
    mirrored = shape.copy()
    mirrored[:, 0] = width - shape[:, 0]
    flipped = mirrored[flip_permutation("300w68")]
    left_eye, right_eye = slice(36, 42), slice(42, 48)
    # in the original the left-eye block is left of the right-eye block; still so after the flip
    assert shape[left_eye, 0].mean() < shape[right_eye, 0].mean()
    assert flipped[left_eye, 0].mean() < flipped[right_eye, 0].mean()
    # and the flipped left eye is the mirror image of the original right eye
    np.testing.assert_allclose(np.sort(flipped[left_eye, 0]),
                               np.sort(width - shape[right_eye, 0]))


def test_flip_maps_left_eye_to_right_on_a_real_wflw_face(shared_data):
    path = shared_data / "wflw_annotations" / "list_98pt_test" / "list_98pt_test_makeup.txt"
    first = path.read_text().splitlines()[0].split()
    shape = np.asarray(first[:196], dtype=float).reshape(98, 2)
    mirrored = shape.copy()
    mirrored[:, 0] = -shape[:, 0]
    flipped = mirrored[flip_permutation("wflw98")]
    for a, b in [(slice(60, 68), slice(68, 76)), (slice(96, 97), slice(97, 98))]:
        np.testing.assert_allclose(flipped[a].mean(0), mirrored[b].mean(0))
        assert flipped[a, 0].mean() < flipped[b, 0].mean()  # left stays on the left
