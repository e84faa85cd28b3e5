"""Weightless generators: exact frame counts and sizes, determinism, and what each one shows."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from racines.film.images import fit, load_rgb
from racines.film.loader import load_film
from racines.generators import available, get_generator
from racines.generators.base import ease


def frames_of(film, shot_id):
    shot = film.shots[shot_id]
    return list(get_generator(shot.kind).frames(shot, film))


def digest(frames):
    return [hashlib.md5(f.tobytes()).hexdigest() for f in frames]


def test_builtins_are_registered():
    assert {"still", "kenburns", "morph", "credits"} <= set(available())
    with pytest.raises(KeyError, match="installed"):
        get_generator("nope")


@pytest.mark.parametrize("shot_id", ["s010", "s020", "s030", "s040"])
def test_frame_count_size_and_determinism(tiny_project, shot_id):
    film = load_film(tiny_project)
    first, second = frames_of(film, shot_id), frames_of(film, shot_id)
    assert len(first) == film.shots[shot_id].frames
    assert all(f.shape == (144, 256, 3) and f.dtype == np.uint8 for f in first)
    assert digest(first) == digest(second)


def test_still_holds_the_fitted_photograph(tiny_project):
    film = load_film(tiny_project)
    frames = frames_of(film, "s030")
    expected = fit(load_rgb(film.shots["s030"].source.path), 256, 144, "cover")
    assert all(np.array_equal(f, expected) for f in frames)


def test_kenburns_starts_on_the_full_frame_and_pushes_in(tiny_project):
    film = load_film(tiny_project)
    frames = frames_of(film, "s010")
    whole = fit(load_rgb(film.shots["s010"].source.path), 256, 144, "cover").astype(int)
    # zoom 1 at the centre: the first frame is the frame-filling photograph
    assert np.abs(frames[0].astype(int) - whole).mean() < 3
    # the last frame is a 1.5x view of the top-left area: compare with a crop of the plate
    plate = fit(load_rgb(film.shots["s010"].source.path), 256, 144, "cover", scale=1.5).astype(int)
    view_w, view_h = 384 / 1.5, 216 / 1.5
    x0 = round(max(0.3 * 384 - view_w / 2, 0))
    y0 = round(max(0.3 * 216 - view_h / 2, 0))
    assert np.abs(frames[-1].astype(int) - plate[y0:y0 + 144, x0:x0 + 256]).mean() < 3
    # motion is smooth: no frame-to-frame jump much larger than the average one
    steps = [np.abs(b.astype(int) - a.astype(int)).mean() for a, b in zip(frames, frames[1:])]
    assert max(steps) < 3 * (sum(steps) / len(steps)) + 1


def test_morph_goes_from_photograph_to_target(tiny_project):
    film = load_film(tiny_project)
    shot = film.shots["s020"]
    frames = frames_of(film, "s020")
    source = fit(load_rgb(shot.source.path), 256, 144, "cover")
    target = fit(load_rgb(shot.assets["target"]), 256, 144, "cover")
    assert np.array_equal(frames[0], source) and np.array_equal(frames[1], source)   # hold_start: 2
    assert np.array_equal(frames[-1], target) and np.array_equal(frames[-2], target)  # hold_end: 2
    distances = [np.abs(f.astype(int) - target.astype(int)).mean() for f in frames]
    assert all(b <= a + 0.5 for a, b in zip(distances, distances[1:]))  # always closer to the target


def test_easing_curves():
    t = np.linspace(0, 1, 11)
    for curve in ("linear", "ease-in", "ease-out", "ease-in-out"):
        values = ease(t, curve)
        assert values[0] == 0 and values[-1] == 1 and np.all(np.diff(values) >= 0)
    assert ease(0.5, "ease-in-out") == 0.5 and ease(0.25, "ease-in") < 0.25 < ease(0.25, "ease-out")


def test_credits_come_from_the_takes_provenance(tiny_project):
    from racines.pipeline import derived_for, make_takes
    from racines.takes.store import TakeStore

    film = load_film(tiny_project)
    make_takes(film, ["s010", "s020", "s030"])
    lines = [text for _, text in derived_for(film, TakeStore(film.root), film.shots["s040"])]
    assert lines[0] == "Tiny"
    assert lines.count("The A. family (Amina)") == 1 and "Bao" in lines
    assert any(line.startswith("racines kenburns") for line in lines)
    assert any(line.startswith("racines morph") for line in lines)
    assert not any(line.startswith("racines credits") for line in lines)


def test_credits_leave_out_unconsented_photographs(tiny_project):
    from racines.pipeline import consent_gate, derived_for, make_takes
    from racines.takes.store import TakeStore

    make_takes(load_film(tiny_project), ["s010", "s020", "s030"])
    shot = tiny_project / "shots" / "s030.yaml"
    shot.write_text(shot.read_text().replace("consent: granted", "consent: pending"))
    film, skipped = consent_gate(load_film(tiny_project), skip_unconsented=True)
    assert [s.id for s in skipped] == ["s030"] and "s030" not in film.cut
    assert "Bao" not in [text for _, text in derived_for(film, TakeStore(film.root), film.shots["s040"])]
