"""Loading and validating shot files: exact durations, located errors, all problems at once."""

from __future__ import annotations

import json
import os
from fractions import Fraction

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from racines.cli import main
from racines.errors import ValidationFailed
from racines.film.loader import frames_of, load_film
from tests.conftest import REPO, TINY_FILM, TINY_SHOTS, write_tiny_project


def test_loads_the_tiny_film(tiny_project):
    film = load_film(tiny_project)
    assert film.title == "Tiny Film"
    assert film.rate == Fraction(24)
    assert (film.width, film.height) == (256, 144)
    assert film.cut == ("s010", "s020", "s030", "s040")
    assert [s.frames for s in film.shots_in_cut()] == [24, 24, 12, 12]
    assert [s.dissolve_frames for s in film.shots_in_cut()] == [6, 4, 0, 0]
    s010 = film.shots["s010"]
    assert s010.source.relpath == "shots/photos/grid.png"
    assert s010.source.credit == "The A. family"
    assert film.shots["s030"].source.credit == "Bao"  # defaults to the contributor
    assert film.shots["s040"].source is None and film.shots["s040"].consented


@pytest.mark.parametrize("value, rate, frames", [
    (120, Fraction(24), 120),
    ("120", Fraction(24), 120),
    ("120f", Fraction(24), 120),
    ("5s", Fraction(24), 120),
    ("5s", Fraction(25), 125),
    ("4.5s", Fraction(24000, 1001), 108),   # 107.892... rounds to 108
    ("0.5s", Fraction(30000, 1001), 15),    # 14.985 rounds to 15
    ("1.5s", Fraction(24000, 1001), 36),    # 35.964 rounds to 36
])
def test_durations_convert_exactly(value, rate, frames):
    assert frames_of(value, rate) == frames


def test_rational_frame_rate_is_kept_exact(tmp_path):
    root = write_tiny_project(tmp_path, film=(
        'title: T\nframe_rate: "24000/1001"\nresolution: [256, 144]\ncut: [s010, s020, s030, s040]\n'))
    film = load_film(root)
    assert film.rate == Fraction(24000, 1001)
    assert film.rate_text == "24000/1001"


def problems_of(root) -> list:
    with pytest.raises(ValidationFailed) as caught:
        load_film(root)
    return caught.value.problems


def test_every_problem_is_reported_at_once_with_file_line_field_value_and_fix(tmp_path):
    shots = dict(TINY_SHOTS)
    shots["s010"] = TINY_SHOTS["s010"].replace("seed: 7", "seed: seven")
    shots["s020"] = TINY_SHOTS["s020"] + "colour: sepia\n"
    shots["s030"] = TINY_SHOTS["s030"].replace("photos/bloom.png", "photos/nothing.png")
    root = write_tiny_project(tmp_path, shots)
    found = {(p.file, p.field): p for p in problems_of(root)}
    assert set(found) == {("shots/s010.yaml", "generator.seed"), ("shots/s020.yaml", "colour"),
                          ("shots/s030.yaml", "source.photo")}
    seed = found[("shots/s010.yaml", "generator.seed")]
    assert seed.line == 5 and seed.value == "seven" and "whole number" in seed.fix
    unknown = found[("shots/s020.yaml", "colour")]
    assert unknown.line == 5 and "unknown key" in unknown.message and "duration" in unknown.fix
    missing = found[("shots/s030.yaml", "source.photo")]
    assert missing.value == "photos/nothing.png" and "no file" in missing.message
    text = str(seed)
    assert text.startswith("shots/s010.yaml:5: generator.seed:") and "'seven'" in text and "fix:" in text


def test_malformed_yaml_names_the_line(tmp_path):
    shots = dict(TINY_SHOTS, s030="source: {photo: photos/bloom.png\nduration: 12\n")
    (problem,) = problems_of(write_tiny_project(tmp_path, shots))
    assert problem.file == "shots/s030.yaml" and "malformed YAML" in problem.message and problem.line == 2


def test_duplicate_keys_are_refused(tmp_path):
    shots = dict(TINY_SHOTS, s030=TINY_SHOTS["s030"] + "duration: 13\n")
    (problem,) = problems_of(write_tiny_project(tmp_path, shots))
    assert problem.field == "duration" and "twice" in problem.message and problem.line == 4


@pytest.mark.parametrize("film_yaml, field, words", [
    ("frame_rate: 23.976", "frame_rate", "24000/1001"),
    ("frame_rate: 29", "frame_rate", "24000/1001"),
    ("resolution: 255x144", "resolution", "even"),
    ("timecode_start: '01:00:00:30'", "timecode_start", "below the frame rate"),
    ("timecode_start: '01:00:00;00'", "timecode_start", "drop-frame"),
])
def test_film_settings_are_checked(tmp_path, film_yaml, field, words):
    key = film_yaml.split(":")[0]
    lines = [line for line in TINY_FILM.strip().splitlines() if not line.startswith(key)] + [film_yaml]
    root = write_tiny_project(tmp_path, film="\n".join(lines) + "\n")
    (problem,) = problems_of(root)
    assert problem.file == "shots/film.yaml" and problem.field == field
    assert words in problem.message + problem.fix


def test_cut_must_name_existing_shots_once(tmp_path):
    root = write_tiny_project(tmp_path, film="title: T\ncut: [s010, s020, s010, s099, s030, s040]\n")
    found = {(p.field, p.value) for p in problems_of(root)}
    assert ("cut.2", "s010") in found and ("cut.3", "s099") in found


def test_dissolves_must_fit_their_shots(tmp_path):
    shots = dict(TINY_SHOTS)
    shots["s020"] = TINY_SHOTS["s020"].replace("{dissolve: 4}", "{dissolve: 20}")  # 6 in + 20 out > 24
    shots["s040"] = TINY_SHOTS["s040"] + "transition: {dissolve: 2}\n"             # last shot
    problems = [(p.file, p.message) for p in problems_of(write_tiny_project(tmp_path, shots))]
    assert any(f == "shots/s020.yaml" and "dissolves in and out" in m for f, m in problems)
    assert any(f == "shots/s020.yaml" and "longer than what the next shot" in m for f, m in problems)
    assert any(f == "shots/s040.yaml" and "no next shot" in m for f, m in problems)


def test_symlink_leaving_the_project_is_refused(tmp_path):
    outside = tmp_path / "outside.png"
    root = write_tiny_project(tmp_path / "film")
    (root / "shots" / "photos" / "grid.png").rename(outside)
    os.symlink(outside, root / "shots" / "photos" / "grid.png")
    problems = problems_of(root)
    assert problems and all("leaves the project" in p.message for p in problems)


def test_a_photograph_shared_by_shots_is_reported_by_each_of_them(tmp_path):
    """Each photograph is checked once per load, but every shot naming a bad one hears of it."""
    shots = {s: text.replace("photos/grid.png", "photos/gone.png") for s, text in TINY_SHOTS.items()}
    using = sorted(s for s, text in TINY_SHOTS.items() if "photos/grid.png" in text)
    assert len(using) >= 2
    problems = problems_of(write_tiny_project(tmp_path, shots))
    assert sorted((p.file, p.field, p.value) for p in problems) == \
        [(f"shots/{s}.yaml", "source.photo", "photos/gone.png") for s in using]
    assert all("no file at this path" in p.message for p in problems)


@pytest.mark.parametrize("photo, words", [
    ("/etc/hostname", "absolute paths"),
    ("https://example.org/a.jpg", "URLs"),
    ("photos", "not a file"),
])
def test_photo_paths_are_confined(tmp_path, photo, words):
    shots = dict(TINY_SHOTS, s030=TINY_SHOTS["s030"].replace("photos/bloom.png", photo))
    (problem,) = problems_of(write_tiny_project(tmp_path, shots))
    assert problem.field == "source.photo" and words in problem.message


def test_schema_is_valid_json_schema_and_accepts_the_demo_shots():
    runner = CliRunner()
    shot_schema = json.loads(runner.invoke(main, ["schema"]).output)
    film_schema = json.loads(runner.invoke(main, ["schema", "film"]).output)
    sound_schema = json.loads(runner.invoke(main, ["schema", "sound"]).output)
    jsonschema.Draft202012Validator.check_schema(shot_schema)
    jsonschema.Draft202012Validator.check_schema(film_schema)
    jsonschema.Draft202012Validator.check_schema(sound_schema)
    for path in sorted((REPO / "shots").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        jsonschema.validate(data, {"film.yaml": film_schema, "sound.yaml": sound_schema}.get(path.name, shot_schema))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"duration": 12, "generator": {"kind": "still"}, "extra": 1}, shot_schema)
