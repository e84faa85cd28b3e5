"""The render's plan and cache: timecodes as the film chose them (drop-frame or not), keys and
state that name no absolute path (a moved or copied project reuses its pieces), and record
positions from the timeline alone, shared by the burn-ins and the dailies' links."""

from __future__ import annotations

import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from click.testing import CliRunner

from racines.edit.timecode import to_timecode
from racines.edit.timeline import record_ranges
from racines.render.plan import Format, media_used, plan_render
from tests.conftest import decode_frames, ffprobe, framemd5, video_stream, write_tiny_project

STILLS = {
    "s010": "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\n"
            "duration: 10\ngenerator: {kind: still}\ntransition: {dissolve: 4}\n",
    "s020": "source: {photo: photos/bloom.png, contributor: Bao, consent: granted}\n"
            "duration: 8\ngenerator: {kind: still}\n",
}


def film_yaml(rate: str, start: str, cut: str = "[s010, s020]") -> str:
    return f"title: Tiny Film\nframe_rate: '{rate}'\nresolution: 96x64\ntimecode_start: '{start}'\ncut: {cut}\n"


def render(root: Path):
    """The render's steps as ``racines render`` runs them, in this process."""
    from racines import pipeline

    film = pipeline.load(root)
    takes, _ = pipeline.make_takes(film, list(film.cut))
    timeline, _ = pipeline.export_edit(film, takes)
    return pipeline.render_film(film, timeline)


@pytest.mark.parametrize("start, drop", [("01:00:00:00", False), ("01:00:00;00", True)], ids=["non-drop", "drop"])
def test_the_master_and_burn_ins_keep_the_films_timecode_at_29_97(tmp_path, start, drop):
    """OTIO infers drop-frame from the rate alone: a non-drop film at 30000/1001 would start at
    01:00:03;18. The film's choice reaches the master's timecode track and every burn-in."""
    root = write_tiny_project(tmp_path / "film", STILLS, film_yaml("30000/1001", start))
    result = render(root)
    probe = ffprobe(result.master)
    assert video_stream(probe)["tags"]["timecode"] == start
    assert {s["tags"]["timecode"] for s in probe["streams"] if "timecode" in s.get("tags", {})} == {start}
    # the burn-ins: each piece's record timecode, counted as the film counts
    timeline = otio.adapters.read_from_file(str(root / "edl" / "tiny_film.otio"))
    rate = Fraction(30000, 1001)
    plan = plan_render(timeline, root / "edl", root / "renders", "tiny_film", Format(96, 64, rate, drop), {})
    first = round(timeline.global_start_time.value)
    assert plan.start_tc == start
    assert [plan.timecode(p) for p in plan.pieces] == [to_timecode(first + p.record_in, rate, drop) for p in plan.pieces]
    assert all((";" in plan.timecode(p)) == drop for p in plan.pieces)


def test_the_plan_of_a_moved_project_is_the_same_and_names_no_absolute_path(rendered_tiny):
    """Pure: the plan reads no file, so the same timeline planned under another root (with the
    same media stamps) gives the same entries, sources and piece keys."""
    timeline = otio.adapters.read_from_file(str(rendered_tiny / "edl" / "tiny_film.otio"))
    fmt = Format(256, 144, Fraction(24))

    def planned(root: Path):
        media = media_used(timeline, root / "edl")
        stamps = {path: (1000 + index, 7) for index, path in enumerate(media)}  # no such files: never read
        return plan_render(timeline, root / "edl", root / "renders", "tiny_film", fmt, stamps)

    here, there = planned(Path("/nowhere/a/film")), planned(Path("/elsewhere/b/c/film"))
    assert here.deliverables[0].entries == there.deliverables[0].entries
    assert here.deliverables[1].entries == there.deliverables[1].entries
    assert here.sources == there.sources
    text = json.dumps([[e.to_json() for d in here.deliverables for e in d.entries], [s.to_json() for s in here.sources]])
    assert "/nowhere" not in text and text.count("takes/s010/v001/") > 0


def test_a_copied_project_reuses_its_pieces(rendered_tiny, tmp_path):
    copy = Path(shutil.copytree(rendered_tiny, tmp_path / "moved" / "film", symlinks=True))
    unchanged = render(copy)
    assert unchanged.unchanged and unchanged.pieces_encoded == 0
    for state in (copy / "renders/cache/pieces").glob("*.json"):
        assert str(rendered_tiny) not in state.read_text() and str(copy) not in state.read_text()
    # without its deliverables, the copy joins them again from the cached pieces: none encoded
    for name in ("tiny_film_master.mov", "tiny_film_review.mp4"):
        (copy / "renders" / name).unlink()
    again = render(copy)
    assert not again.unchanged and again.pieces_encoded == 0
    for name in ("tiny_film_master.mov", "tiny_film_review.mp4"):
        ours = framemd5(copy / "renders" / name)
        assert ours == framemd5(rendered_tiny / "renders" / name) and len(ours) == 62


def test_links_to_media_outside_the_output_folder_move_with_it(rendered_tiny, tmp_path):
    """Takes outside the output folder are copied through links, relative ones: the folder
    holding both moved elsewhere renders with every piece reused."""
    from racines.render.deliver import render_timeline

    world = tmp_path / "world"
    shutil.copytree(rendered_tiny, world / "film", symlinks=True)
    timeline = otio.adapters.read_from_file(str(world / "film" / "edl" / "tiny_film.otio"))
    first = render_timeline(timeline, world / "film" / "edl", world / "out", "tiny", 256, 144, Fraction(24),
                            review=False)
    assert first.pieces_encoded == 2
    links = list((world / "out" / "cache" / "links").iterdir())
    assert links and all(link.is_symlink() and not os.path.isabs(os.readlink(link)) for link in links)
    before = framemd5(first.master)
    moved = tmp_path / "moved" / "world"
    moved.parent.mkdir()
    world.rename(moved)
    (moved / "out" / "tiny_master.mov").unlink()
    timeline = otio.adapters.read_from_file(str(moved / "film" / "edl" / "tiny_film.otio"))
    again = render_timeline(timeline, moved / "film" / "edl", moved / "out", "tiny", 256, 144, Fraction(24),
                            review=False)
    assert again.pieces_encoded == 0 and framemd5(again.master) == before


TRIMMED = {
    "s010": "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\n"
            "duration: 12\ngenerator: {kind: still}\ntransition: {dissolve: 4}\ntrim: {head: 2, tail: 3}\n",
    "s020": "source: {photo: photos/bloom.png, contributor: Bao, consent: granted}\n"
            "duration: 12\ngenerator: {kind: still}\ntrim: {head: 1}\n",
    "s030": "source: {photo: photos/grid.png, contributor: Amina, consent: granted}\n"
            "duration: 10\ngenerator: {kind: still}\ntrim: {head: 2}\n",
}


def test_the_dailies_link_a_trimmed_film_at_its_record_positions(tmp_path):
    """After an editor's trims came back (conform writes them in the shot files), the dailies'
    "watch it in the review copy" links start where the timeline, and so the film, has the
    shot: not at the sum of the shots' frames."""
    root = write_tiny_project(tmp_path / "film", TRIMMED,
                              film_yaml("24", "01:00:00:00", "[s010, s020, s030]").replace("'24'", "24"))
    from racines.cli import main

    result = CliRunner().invoke(main, ["--project", str(root), "batch", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    timeline = otio.adapters.read_from_file(str(root / "edl" / "tiny_film.otio"))
    ranges = record_ranges(timeline)
    # s010 shows 12 - 2 - 3 = 7 frames and dissolves for 4 into s020 (2 on each side of the
    # cut); s020 shows 11 up to its cut to s030, which shows 8
    assert ranges == {"s010": (0, 5), "s020": (5, 14), "s030": (14, 22)}
    (folder,) = (root / "renders" / "dailies").iterdir()
    shots = {s["shot_id"]: s for s in json.loads((folder / "summary.json").read_text())["shots"]}
    for shot, (first, end) in ranges.items():
        assert (shots[shot]["record_in_s"], shots[shot]["record_out_s"]) == (round(first / 24, 3), round(end / 24, 3))
    naive = (12 - 4 + 12) / 24  # the sum of the shots' frames, dissolves overlapped, trims ignored
    assert shots["s030"]["record_in_s"] != round(naive, 3)
    assert "#t=0.583,0.917" in (folder / "index.html").read_text()
    # and the film cuts there: the frame before is s020's photograph, the frame at it s030's
    master = [np.frombuffer(f, np.uint8) for f in decode_frames(root / "renders" / "tiny_film_master.mov",
                                                                "gray", 96, 64)]
    assert len(master) == 22
    assert np.array_equal(master[14], master[21]) and np.array_equal(master[7], master[13])
    assert not np.array_equal(master[13], master[14])


def test_the_patch_or_join_policy_is_its_parameters():
    from racines.render.cache import State
    from racines.render.plan import Entry, Source
    from racines.render.policy import Policy

    def state(files: str, frames=(10, 10, 20), output=(100, 1)) -> State:
        return State("film", "01:00:00:00", ("4", 64, 64, "24"), tuple(Entry(f"cache/pieces/{f}.mov") for f in files),
                     tuple(Source(n, (("takes/a.mov", (1, 1), 0),)) for n in frames), output=output)

    last = state("abc")
    assert Policy().pieces_to_patch(last, state("aXc"), (100, 1)) == [1]        # 10 of 40 frames changed
    assert Policy().pieces_to_patch(last, state("abX"), (100, 1)) is None       # half the film: joined whole
    assert Policy(changed_max=0.6).pieces_to_patch(last, state("abX"), (100, 1)) == [2]
    assert Policy().pieces_to_patch(last, state("aXc"), (101, 1)) is None       # not the file last written
    assert Policy().pieces_to_patch(last, state("aXc", (10, 12, 18)), (100, 1)) is None  # a piece's length changed
    assert Policy().pieces_to_patch(last, state("abc"), (100, 1)) is None       # nothing to patch
    assert Policy().pieces_to_patch(None, state("aXc"), (100, 1)) is None
