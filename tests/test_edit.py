"""The timeline and its EDL: one clip per shot, dissolves, markers, unique reels, and record
timecode from the film's start, read back by OTIO's adapter and by pycmx independently."""

from __future__ import annotations

import io

import opentimelineio as otio
import pycmx
import pytest

from racines.edit.edl import edl_text, read_edl
from racines.edit.timeline import build_timeline
from racines.film.loader import load_film
from racines.pipeline import selected_takes as existing_takes


@pytest.fixture(scope="module")
def film_and_timeline(rendered_tiny):
    film = load_film(rendered_tiny)
    takes = existing_takes(film)
    return film, takes, build_timeline(film, takes, film.root / "edl")


def test_timeline_lasts_the_shots_minus_the_dissolves(film_and_timeline):
    film, takes, timeline = film_and_timeline
    assert timeline.duration().value == 24 + 24 + 12 + 12 - 6 - 4
    assert otio.opentime.to_timecode(timeline.global_start_time, 24) == "01:00:00:00"
    track = timeline.video_tracks()[0]
    clips = [c for c in track if isinstance(c, otio.schema.Clip)]
    transitions = [t for t in track if isinstance(t, otio.schema.Transition)]
    assert [c.metadata["racines"]["shot"] for c in clips] == ["s010", "s020", "s030", "s040"]
    assert [(t.in_offset.value + t.out_offset.value) for t in transitions] == [6, 4]
    assert all(t.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve for t in transitions)
    assert [c.markers[0].name for c in clips] == ["s010", "s020", "s030", "s040"]
    assert clips[0].metadata["racines"]["source"]["contributor"] == "Amina"
    assert clips[0].metadata["cmx_3600"]["reel"] == takes["s010"].reel
    # a dissolve uses media beyond the cut on both sides, never beyond the take
    for clip in clips:
        available = clip.media_reference.available_range
        assert available.start_time.value <= clip.source_range.start_time.value
        assert clip.source_range.end_time_exclusive() <= available.end_time_exclusive()


def test_otio_file_is_written_and_reads_back(rendered_tiny):
    timeline = otio.adapters.read_from_file(str(rendered_tiny / "edl" / "tiny_film.otio"))
    clip = next(iter(timeline.find_clips()))
    media = (rendered_tiny / "edl" / clip.media_reference.target_url).resolve()
    assert media.is_file() and media.suffix == ".mov"


def test_edl_parses_with_otio_into_one_clip_per_shot(rendered_tiny, film_and_timeline):
    film, takes, _ = film_and_timeline
    text = (rendered_tiny / "edl" / "tiny_film.edl").read_text()
    assert text.splitlines()[:2] == ["TITLE: Tiny Film", "FCM: NON-DROP FRAME"]
    timeline = read_edl(text, film.rate)
    clips = list(timeline.find_clips())
    reels = [c.metadata["cmx_3600"]["reel"] for c in clips]
    assert reels == [takes[s].reel for s in film.cut]
    assert len(set(reels)) == len(reels)
    assert sum(1 for item in timeline.video_tracks()[0] if isinstance(item, otio.schema.Transition)) == 2
    assert timeline.duration().value == 62


def test_edl_parses_with_pycmx_with_record_timecode_from_the_start(rendered_tiny, film_and_timeline):
    film, takes, _ = film_and_timeline
    edl = pycmx.parse_cmx3600(io.StringIO((rendered_tiny / "edl" / "tiny_film.edl").read_text()))
    assert edl.title == "Tiny Film"
    edits = [edit for event in edl.events for edit in event.edits]
    assert edits[0].record_in == "01:00:00:00"
    assert edits[-1].record_out == "01:00:02:14"  # 62 frames at 24 fps after 01:00:00:00
    dissolves = [e for e in edits if e.transition.kind == pycmx.Transition.Dissolve]
    assert [d.transition.effect_duration for d in dissolves] == [6, 4]
    incoming = [e.source for e in edits if e.transition.kind == pycmx.Transition.Cut and e.record_in != e.record_out]
    assert [e.source for e in dissolves] == [takes["s020"].reel, takes["s030"].reel]
    shot_reels = {takes[s].reel for s in film.cut}
    assert set(incoming) | {e.source for e in dissolves} == shot_reels
    # events follow each other without holes in record time
    shown = [e for e in edits if e.record_in != e.record_out]
    assert all(a.record_out == b.record_in for a, b in zip(shown, shown[1:]))


@pytest.mark.parametrize("rate, start", [("24000/1001", "00:59:59:00"), ("25", "10:00:00:00")])
def test_record_timecode_follows_the_film_start(tmp_path, rate, start):
    from tests.conftest import write_tiny_project

    root = write_tiny_project(tmp_path, film=(
        f'title: T\nframe_rate: "{rate}"\nresolution: 256x144\ntimecode_start: "{start}"\n'
        "cut: [s010, s020, s030, s040]\n"))
    film = load_film(root)
    takes = {s: _fake_take(s, film.shots[s].frames, index) for index, s in enumerate(film.cut)}
    text = edl_text(build_timeline(film, takes, root / "edl"), film.rate)
    edits = [e for ev in pycmx.parse_cmx3600(io.StringIO(text)).events for e in ev.edits]
    assert edits[0].record_in == start
    back = read_edl(text, film.rate)
    shots = film.shots_in_cut()
    assert back.duration().value == sum(s.frames for s in shots) - sum(s.dissolve_frames for s in shots)


def _fake_take(shot_id, frames, index):
    from pathlib import Path

    from racines.takes.store import Take

    manifest = {"media": {"editorial": f"{shot_id}.mov", "lossless": "frames.mkv", "reel": f"REEL{index:04d}"},
                "frames": frames, "cache_key": "k"}
    return Take(shot_id, "v001", Path("/nonexistent") / shot_id, manifest)
