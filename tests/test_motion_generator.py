"""The morph generator on the new engine, its shot-file settings and their validation."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from motion_fixtures import flower, view
from PIL import Image

from racines.errors import ValidationFailed
from racines.film.images import fit, fit_point
from racines.film.loader import load_film
from racines.generators import get_generator

W, H = 160, 96


def _project(root: Path, generator: dict, duration: int = 9) -> Path:
    photos = root / "shots" / "photos"
    photos.mkdir(parents=True)
    photo = np.dstack([cv2.cvtColor(view(300, 240), cv2.COLOR_RGB2GRAY)] * 3)   # an old black-and-white print
    cv2.circle(photo, (90, 96), 7, (255, 0, 0), -1)           # a landmark at (0.3, 0.4) of the photograph
    target = flower(200, 200)[..., ::-1].copy()                # no red of its own
    cv2.circle(target, (120, 140), 5, (255, 0, 0), -1)         # its place at (0.6, 0.7) of the target
    Image.fromarray(photo).save(photos / "grandmother.png")
    Image.fromarray(target).save(photos / "jasmine.png")
    (root / "shots" / "film.yaml").write_text(yaml.safe_dump(
        {"title": "Racines test", "frame_rate": 24, "resolution": f"{W}x{H}", "cut": ["s010"]}))
    shot = {"source": {"photo": "photos/grandmother.png", "contributor": "Nour", "consent": "granted"},
            "duration": duration, "generator": {"kind": "morph", "target": "photos/jasmine.png", **generator}}
    (root / "shots" / "s010.yaml").write_text(yaml.safe_dump(shot, sort_keys=False))
    return root


def _frames(root: Path) -> tuple[list[np.ndarray], object]:
    film = load_film(root)
    shot = film.shots["s010"]
    return list(get_generator("morph").frames(shot, film)), shot


def test_frames_start_on_the_photograph_and_end_on_the_target(tmp_path):
    frames, shot = _frames(_project(tmp_path, {"hold_start": 2, "hold_end": 2}))
    assert len(frames) == 9 and all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)
    photo = fit(np.asarray(Image.open(shot.source.path)), W, H, "cover")
    target = fit(np.asarray(Image.open(shot.assets["target"])), W, H, "cover")
    for held in frames[:3]:
        assert np.array_equal(held, photo)
    for held in frames[-3:]:
        assert np.array_equal(held, target)
    assert not np.array_equal(frames[4], photo) and not np.array_equal(frames[4], target)


def test_control_points_in_image_fractions_are_honoured(tmp_path):
    frames, shot = _frames(_project(tmp_path, {"easing": "linear", "even_pace": False,
                                               "control_points": [[[0.3, 0.4], [0.6, 0.7]]]}))
    start = np.array(fit_point(0.3, 0.4, 300, 240, W, H))
    end = np.array(fit_point(0.6, 0.7, 200, 200, W, H))
    middle = frames[4]   # t = 0.5
    redness = middle[..., 0].astype(float) - (middle[..., 1].astype(float) + middle[..., 2]) / 2
    ys, xs = np.nonzero(redness > 120)
    assert len(xs) > 5
    assert np.hypot(xs.mean() - (start[0] + end[0]) / 2, ys.mean() - (start[1] + end[1]) / 2) < 2.0


@pytest.mark.parametrize("mode", ["cover", "contain"])
def test_fit_point_agrees_with_fit(mode):
    image = np.zeros((240, 300, 3), np.uint8)
    image[96:100, 150:154] = 255    # a 4x4 block centred at (152, 98) pixels = (0.5067, 0.4083) of the image
    framed = fit(image, W, H, mode).astype(float)[..., 0]
    ys, xs = np.mgrid[0:H, 0:W]
    centre = ((xs * framed).sum() / framed.sum(), (ys * framed).sum() / framed.sum())
    expected = fit_point(152 / 300, 98 / 240, 300, 240, W, H, mode)
    assert np.hypot(centre[0] - expected[0], centre[1] - expected[1]) < 0.3


@pytest.mark.parametrize("points,message", [
    ([[[0.3, 1.4], [0.5, 0.5]]], "the y of this point on the photograph is outside the image"),
    ([[[0.3, 0.4], [-0.1, 0.5]]], "the x of this point on the target is outside the image"),
    ([[[0.3, 0.4]]], "a control point pair needs exactly 2 points"),
    ([[[0.3, 0.4], [0.5, 0.5], [0.1, 0.1]]], "a control point pair needs exactly 2 points"),
    ([[[0.3, 0.4, 0.5], [0.5, 0.5]]], "a point needs exactly 2 coordinates"),
    ([[[0.3, 0.4], [0.5, 0.5]], [[0.3, 0.4], [0.2, 0.2]]], "repeats control point 0's"),
])
def test_bad_control_points_are_reported_with_place_and_fix(tmp_path, points, message):
    root = _project(tmp_path, {"control_points": points})
    with pytest.raises(ValidationFailed) as caught:
        load_film(root)
    text = str(caught.value)
    assert message in text
    assert "shots/s010.yaml:" in text and "generator.control_points" in text
    assert "fix:" in text


def test_unknown_morph_setting_lists_the_new_ones(tmp_path):
    root = _project(tmp_path, {"colour_transfert": True})
    with pytest.raises(ValidationFailed) as caught:
        load_film(root)
    assert "colour_transfer" in str(caught.value) and "control_points" in str(caught.value)
