"""Morphs between different images: exact ends, honoured control points, smoother than a dissolve."""

import cv2
import numpy as np
import pytest
import torch
from motion_fixtures import blend, flower, view

from racines.motion.colour import LabStats, lab_to_rgb, rgb_to_lab, transfer
from racines.motion.metrics import pixel_change, smoothness, structural_change
from racines.motion.morph import Correspondence, Morph, build_mesh, match_features, mesh_displacement

W, H = 192, 144


@pytest.fixture(scope="module")
def pair():
    gray = cv2.cvtColor(view(W, H), cv2.COLOR_RGB2GRAY)
    return np.dstack([gray] * 3), flower(W, H)


def _with_dot(image, x, y):
    out = image.copy()
    cv2.circle(out, (round(x), round(y)), 4, (255, 0, 0), -1, lineType=cv2.LINE_AA)
    return out


def _red_centroid(image):
    redness = image[..., 0].astype(float) - (image[..., 1].astype(float) + image[..., 2]) / 2
    ys, xs = np.nonzero(redness > 150)
    assert len(xs) > 10, "the red dot disappeared"
    return xs.mean(), ys.mean()


def test_first_and_last_frames_are_the_images(pair):
    source, target = pair
    morph = Morph(source, target, device="cpu")
    assert np.array_equal(morph.frame(0.0), source)
    assert np.array_equal(morph.frame(1.0), target)
    middle = morph.frame(0.5)
    assert middle.shape == source.shape and middle.dtype == np.uint8


def test_control_point_carries_a_landmark_from_source_to_target(pair):
    source, target = pair
    start, end = (0.3 * W, 0.3 * H), (0.7 * W, 0.65 * H)
    # a flower with no red of its own, so that the only red is the landmark
    morph = Morph(_with_dot(source, *start), _with_dot(target[..., ::-1].copy(), *end),
                  control_points=[(start, end)], device="cpu")
    for g in (0.0, 0.25, 0.5, 0.75, 1.0):
        expected = np.add(start, np.multiply(g, np.subtract(end, start)))
        found = _red_centroid(morph.frame(g))
        assert np.hypot(*(np.subtract(found, expected))) < 2.0, f"g={g}: dot at {found}, expected {expected}"


def test_even_paced_morph_is_smoother_than_a_dissolve(pair):
    source, target = pair
    count = 17
    morph = Morph(source, target, device="cpu")
    frames = [morph.frame(morph.even(k / (count - 1))) for k in range(count)]
    dissolve = [blend(source, target, k / (count - 1)) for k in range(count)]
    ours, theirs = smoothness(frames, structural_change), smoothness(dissolve, structural_change)
    assert ours < theirs - 0.1, f"structural max/mean: morph {ours:.2f}, dissolve {theirs:.2f}"
    assert smoothness(frames, pixel_change) < 1.5   # and no pop in plain pixel terms either


def test_automatic_matches_recover_a_known_transform():
    source = view(320, 240)
    # the same photograph seen 12% closer, turned 4 degrees, moved: a homography that RANSAC must find
    target = view(320, 240, zoom=1.12, angle=4.0, dx=9.0, dy=-5.0)
    found_s, found_t = match_features(source, target)
    assert len(found_s) >= 8
    sh, sw = 600, 512  # the photograph's size; the view maps it with this affine
    a = cv2.getRotationMatrix2D((sw / 2, sh / 2), 0.0, 0.6)
    a[:, 2] += (160 - sw / 2, 120 - sh / 2)
    b = cv2.getRotationMatrix2D((sw / 2, sh / 2), 4.0, 0.6 * 1.12)
    b[:, 2] += (160 - sw / 2 + 9.0, 120 - sh / 2 - 5.0)
    source_to_target = np.vstack([b, [0, 0, 1]]) @ np.linalg.inv(np.vstack([a, [0, 0, 1]]))
    predicted = (source_to_target[:2, :2] @ found_s.T).T + source_to_target[:2, 2]
    assert np.abs(predicted - found_t).max() < 2.5


def test_unrelated_images_give_no_wrong_matches(pair):
    source, target = pair
    found_s, _ = match_features(source, target)
    assert len(found_s) == 0


def test_mesh_of_an_affine_map_is_that_map_everywhere():
    rng = np.random.default_rng(1)
    points = rng.uniform([10, 10], [90, 70], size=(6, 2))
    affine = np.array([[1.05, 0.03, -2.0], [-0.02, 0.97, 1.5]])
    moved = points @ affine[:, :2].T + affine[:, 2]
    # pin the border to the same map, so the whole frame is one affine transform
    border = np.array([[-0.5, -0.5], [99.5, -0.5], [-0.5, 79.5], [99.5, 79.5]])
    src = np.vstack([border, points])
    dst = src @ affine[:, :2].T + affine[:, 2]
    dst[len(border):] = moved
    from scipy.spatial import Delaunay

    field = mesh_displacement(src, dst, Delaunay(src).simplices, 100, 80)
    ys, xs = np.mgrid[0:80, 0:100]
    expected_x = affine[0, 0] * xs + affine[0, 1] * ys + affine[0, 2] - xs
    assert np.abs(field[..., 0] - expected_x).max() < 1e-3


def test_folding_automatic_points_are_dropped_and_the_directors_kept():
    # two automatic points that (nearly) swap places would fold the mesh over itself
    source = np.array([[40.0, 40.0], [60.0, 40.0], [50.0, 60.0]])
    target = np.array([[58.0, 41.0], [42.0, 39.0], [50.0, 62.0]])
    user = np.array([False, False, True])
    points_s, points_t, triangles = build_mesh(Correspondence(source, target, user), 100, 80)
    kept = [tuple(p) for p in points_s]
    assert (50.0, 60.0) in kept                       # the director's point stays
    assert not ((40.0, 40.0) in kept and (60.0, 40.0) in kept)   # at least one of the pair went


def test_lab_round_trip_and_reference_values():
    rgb = np.random.default_rng(2).random((8, 8, 3)).astype(np.float32)
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    lab = rgb_to_lab(tensor)
    reference = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)  # OpenCV's float path: sRGB, D65
    assert np.abs(lab[0].permute(1, 2, 0).numpy() - reference).max() < 0.5
    assert torch.allclose(lab_to_rgb(lab), tensor, atol=1e-4)
    white = rgb_to_lab(torch.ones(1, 3, 1, 1)).flatten()
    assert torch.allclose(white, torch.tensor([100.0, 0.0, 0.0]), atol=0.05)


def test_transfer_gives_the_wanted_statistics():
    rng = np.random.default_rng(3)
    def image(mean, std):
        return torch.from_numpy(rng.normal(mean, std, (64, 64, 3)).astype(np.float32)).permute(2, 0, 1)[None]

    lab_a, lab_b = image([50, 10, -5], [10, 4, 6]), image([70, -20, 30], [5, 8, 2])
    own, other = LabStats.of(lab_a), LabStats.of(lab_b)
    moved = LabStats.of(transfer(lab_a, own, own.towards(other, 1.0)))
    assert torch.allclose(moved.mean, other.mean, atol=1e-3) and torch.allclose(moved.std, other.std, atol=1e-3)
    half = own.towards(other, 0.5)
    assert torch.allclose(half.mean, (own.mean + other.mean) / 2)


def test_bad_inputs_are_refused(pair):
    source, target = pair
    with pytest.raises(ValueError, match="one size"):
        Morph(source, target[:-2], device="cpu")
    with pytest.raises(ValueError, match="flow_strength"):
        Morph(source, target, flow_strength=1.5, device="cpu")
