"""Sync: a click placed on a known frame is found in the master within one sample of where that
frame starts, at every rate racines offers for films, after the master was joined whole and
after a shot was patched into it in place (which must leave its sound bit for bit as it was)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from racines.cli import main
from tests.conftest import top_boxes
from tests.sound_fixtures import decoded, expected_sample, music_like, sound_project, write_wav

RATES = ["24", "25", "24000/1001", "30000/1001"]
FILM_CLICK, SHOT_CLICK = 37, 48 + 5  # frames on the record: a film voice, and a voice 5 frames into s020
SEARCH = 2000


def run(root, *args):
    result = CliRunner().invoke(main, ["--project", str(root), *args])
    assert result.exit_code == 0, result.output
    return result


def clicks(root, rate: str) -> list[int]:
    """Where the two clicks are in the master, each searched near where it belongs."""
    samples = decoded(root / "renders" / "sound_test_master.mov")
    found = []
    for frame in (FILM_CLICK, SHOT_CLICK):
        around = expected_sample(frame, rate) - SEARCH
        found.append(around + int(np.argmax(np.abs(samples[around:around + 2 * SEARCH, 0]))))
    return found


@pytest.mark.parametrize("rate", RATES)
def test_a_click_on_a_frame_is_found_to_the_sample_after_a_join_and_after_a_patch(tmp_path, rate):
    click = np.zeros(24000)
    click[0] = 0.8
    root = sound_project(
        tmp_path / "film", rate, sound_yaml=f"""\
voices:
  - {{file: sound/click.wav, speaker: Click, consent: granted, language: en, record_in: {FILM_CLICK}}}
music:
  - {{file: sound/tone.wav, author: Test, consent: granted, duration: 120, duck: false}}
""", shot_sound={"s020": "  - {file: sound/click.wav, speaker: Click, consent: granted, language: en, offset: 5}\n"})
    write_wav(root / "shots" / "sound" / "click.wav", click)
    write_wav(root / "shots" / "sound" / "tone.wav", music_like(6.0) * 0.4)
    run(root, "render")
    wanted = [expected_sample(frame, rate) for frame in (FILM_CLICK, SHOT_CLICK)]
    joined = clicks(root, rate)
    assert all(abs(found - where) <= 1 for found, where in zip(joined, wanted)), (joined, wanted)
    sound = decoded(root / "renders" / "sound_test_master.mov")
    review = decoded(root / "renders" / "sound_test_review.mp4")

    # s020 shows another photograph: a new take, the same length, patched into the master in place
    shot = root / "shots" / "s020.yaml"
    shot.write_text(shot.read_text().replace("photos/bloom.png", "photos/grid.png"))
    run(root, "render")
    for name in ("sound_test_master.mov", "sound_test_review.mp4"):
        assert "free" in top_boxes(root / "renders" / name)  # the old index, retired: patched in place
    assert clicks(root, rate) == joined
    assert np.array_equal(decoded(root / "renders" / "sound_test_master.mov"), sound)
    assert np.array_equal(decoded(root / "renders" / "sound_test_review.mp4"), review)
