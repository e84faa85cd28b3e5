"""The editor's loop: exports that conform, and the cut sent back into the shot files."""

from __future__ import annotations

import copy
import io
import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pycmx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racines.cli import main
from racines.edit.conform import compare, read_cut
from racines.edit.exports import export_texts
from racines.edit.timecode import to_frames, to_timecode
from racines.edit.timeline import build_timeline, dissolve_halves
from racines.film.loader import load_film
from racines.pipeline import selected_takes
from tests.conftest import ffprobe, tree_digest, write_tiny_project

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
SUFFIXES = ("edl", "xml", "otio")


def run(root, *args):
    return CliRunner().invoke(main, ["--project", str(root), *args])


# --- timecode ---------------------------------------------------------------------------

RATES = [(Fraction(24000, 1001), False), (Fraction(24), False), (Fraction(25), False),
         (Fraction(30000, 1001), False), (Fraction(30000, 1001), True), (Fraction(30), False),
         (Fraction(50), False), (Fraction(60000, 1001), True), (Fraction(60000, 1001), False)]


@pytest.mark.parametrize("rate, drop", RATES, ids=[f"{r}{' DF' if d else ''}" for r, d in RATES])
@settings(max_examples=200, deadline=None)
@given(frame=st.integers(min_value=0, max_value=24 * 3600 * 60 - 1))
def test_frames_to_timecode_and_back(rate, drop, frame):
    if frame >= 24 * 3600 * rate:
        return
    text = to_timecode(frame, rate, drop)
    assert (";" in text) == drop
    assert to_frames(text, rate) == frame


def test_drop_frame_skips_two_frame_numbers_each_minute_but_the_tenth():
    rate = Fraction(30000, 1001)
    assert to_timecode(1800, rate, True) == "00:01:00;02"
    assert to_timecode(1800, rate, False) == "00:01:00:00"
    assert to_timecode(17982, rate, True) == "00:10:00;00"


# --- a project with takes, without rendering media (conform reads manifests only) -------

def fake_takes(root: Path, frames: dict[str, int], handles: int = 8, rate: str = "24") -> None:
    for index, (shot_id, count) in enumerate(frames.items()):
        folder = root / "renders" / "takes" / shot_id / "v001"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{shot_id}_v001.mov").write_bytes(b"")
        manifest = {"cache_key": f"key{index}", "frames": count + 2 * handles, "shot_frames": count,
                    "handles": handles, "film": {"width": 256, "height": 144, "frame_rate": rate},
                    "media": {"editorial": f"{shot_id}_v001.mov", "lossless": "frames.mkv",
                              "reel": f"RTEST{index:03d}"}, "generator": {"name": "still", "settings": {}}}
        (folder / "manifest.json").write_text(json.dumps(manifest))


def edited_timeline(film, takes, cut: list[tuple[str, int, int, int]]) -> otio.schema.Timeline:
    """A cut as an editor would make it: (shot, first used take frame, frames used, dissolve after)."""
    rate = float(film.rate)
    timeline = otio.schema.Timeline(name=film.title, global_start_time=RT(86400, rate))
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    previous = 0
    for shot_id, used_in, used, dissolve_after in cut:
        take = takes[shot_id]
        lead = dissolve_halves(previous)[0] if previous else 0
        tail = dissolve_halves(dissolve_after)[1] if dissolve_after else 0
        if previous:
            a, b = dissolve_halves(previous)
            track.append(otio.schema.Transition(transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                                                in_offset=RT(a, rate), out_offset=RT(b, rate)))
        reference = otio.schema.ExternalReference(target_url=f"../renders/takes/{shot_id}/v001/{take.media.name}",
                                                  available_range=TR(RT(0, rate), RT(take.frames, rate)))
        clip = otio.schema.Clip(name=take.media.stem, media_reference=reference,
                                source_range=TR(RT(used_in + lead, rate), RT(used - lead - tail, rate)))
        clip.metadata["cmx_3600"] = {"reel": take.reel}
        track.append(clip)
        previous = dissolve_after
    return timeline


def write_format(timeline, film, folder: Path, suffix: str) -> Path:
    texts = export_texts(timeline, film.rate, film.drop_frame, folder, portable=True)
    path = folder / f"edited.{suffix}"
    path.write_text(texts[suffix])
    return path


FOUR = {"s010": 24, "s020": 24, "s030": 12, "s040": 12}


@pytest.fixture
def film_with_takes(tiny_project):
    fake_takes(tiny_project, FOUR)
    film = load_film(tiny_project)
    return film, selected_takes(film)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_export_then_conform_changes_nothing(film_with_takes, suffix, tmp_path):
    film, takes = film_with_takes
    timeline = build_timeline(film, takes, film.root / "edl")
    path = write_format(timeline, film, tmp_path, suffix)
    report = compare(film, read_cut(path, film.rate), takes)
    assert not report.changed and not report.unknown and report.cut == list(film.cut)


EDITS = {
    # name: (edited cut as (shot, first used take frame, frames used, dissolve after), expected lines, file checks)
    "reorder": ([("s010", 8, 24, 6), ("s030", 8, 12, 4), ("s020", 8, 24, 0), ("s040", 8, 12, 0)],
                ["s030: moved from position 3 to 2", "s020: moved from position 2 to 3",
                 "s020: cut into the next shot (was a 4-frame dissolve)",
                 "s030: dissolve into the next shot 0 -> 4 frames"],
                {"film.yaml": "cut: [s010, s030, s020, s040]"}),
    "trim": ([("s010", 11, 21, 6), ("s020", 8, 24, 4), ("s030", 8, 17, 0), ("s040", 8, 12, 0)],
             ["s010: head trimmed by 3 frames (trim.head 0 -> 3)",
              "s030: tail extended by 5 frames (trim.tail 0 -> -5)"],
             {"s010.yaml": "trim: {head: 3, tail: 0}", "s030.yaml": "trim: {head: 0, tail: -5}"}),
    "remove": ([("s010", 8, 24, 6), ("s020", 8, 24, 0), ("s040", 8, 12, 0)],
               ["s030: removed from the cut", "s020: cut into the next shot (was a 4-frame dissolve)"],
               {"film.yaml": "cut: [s010, s020, s040]", "s020.yaml": "transition: cut"}),
    "dissolve": ([("s010", 8, 24, 10), ("s020", 8, 24, 4), ("s030", 8, 12, 0), ("s040", 8, 12, 0)],
                 ["s010: dissolve into the next shot 6 -> 10 frames"], {"s010.yaml": "transition: {dissolve: 10}"}),
    "into the handles": ([("s010", 0, 36, 6), ("s020", 8, 24, 4), ("s030", 8, 12, 0), ("s040", 8, 12, 0)],
                         ["s010: head extended by 8 frames (trim.head 0 -> -8)",
                          "s010: tail extended by 4 frames (trim.tail 0 -> -4)"],
                         {"s010.yaml": "trim: {head: -8, tail: -4}"}),
    "past the handles": ([("s010", 0, 44, 6), ("s020", 8, 24, 4), ("s030", 8, 12, 0), ("s040", 8, 12, 0)],
                         ["s010: runs 4 frames past its handles (head 0, tail 4): duration 24 -> 44, a new take "
                          "will be made"], {"s010.yaml": "duration: 44"}),
}


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("edit", list(EDITS))
def test_editor_changes_come_back_as_the_right_diff_and_files(film_with_takes, tmp_path, suffix, edit):
    film, takes = film_with_takes
    cut, lines, files = EDITS[edit]
    path = write_format(edited_timeline(film, takes, cut), film, tmp_path, suffix)
    shots_before = tree_digest(film.root / "shots")
    dry = run(film.root, "conform", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert sorted(line for line in dry.output.splitlines() if line.startswith("s0")) == sorted(lines)
    assert tree_digest(film.root / "shots") == shots_before  # a dry run writes nothing
    result = run(film.root, "conform", str(path))
    assert result.exit_code == 0, result.output
    for name, text in files.items():
        assert text in (film.root / "shots" / name).read_text()
    again = run(film.root, "conform", str(path), "--dry-run")
    if edit != "past the handles":  # that one needs a new, longer take first
        assert "nothing to change" in again.output, again.output


def test_conform_keeps_comments_and_layout(film_with_takes, tmp_path):
    film, takes = film_with_takes
    film_file = film.root / "shots" / "film.yaml"
    film_file.write_text("# the class's film\n" + film_file.read_text())
    cut = [("s010", 8, 24, 6), ("s020", 8, 24, 0), ("s040", 8, 12, 0)]
    path = write_format(edited_timeline(film, takes, cut), film, tmp_path, "otio")
    assert run(film.root, "conform", str(path)).exit_code == 0
    text = film_file.read_text()
    assert text.startswith("# the class's film\n") and "timecode_start: \"01:00:00:00\"" in text


def test_unknown_reels_are_reported_never_guessed(film_with_takes, tmp_path):
    film, takes = film_with_takes
    timeline = build_timeline(film, takes, film.root / "edl")
    stranger = copy.deepcopy(list(timeline.find_clips())[-1])
    stranger.metadata["cmx_3600"] = {"reel": "A005C012"}
    stranger.metadata["racines"] = {}
    stranger.name = "A005C012_220101"
    stranger.media_reference.target_url = "elsewhere/A005C012_220101.mov"
    timeline.video_tracks()[0].append(stranger)
    path = write_format(timeline, film, tmp_path, "edl")
    report = compare(film, read_cut(path, film.rate), takes)
    assert report.cut == list(film.cut)
    assert len(report.unknown) == 1 and "A005C012" in report.unknown[0] and "not guessed" in report.unknown[0]


# --- property: any cut the film can have survives export and conform unchanged -------------

@st.composite
def cuts(draw):
    count = draw(st.integers(2, 6))
    frames = [draw(st.integers(6, 40)) for _ in range(count)]
    trims = [(draw(st.integers(-8, 2)), draw(st.integers(-8, 2))) for _ in range(count)]
    dissolves = [draw(st.sampled_from([0, 0, 2, 3, 4])) for _ in range(count - 1)] + [0]
    order = draw(st.permutations(range(count)))
    return frames, trims, dissolves, order


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cuts(), suffix=st.sampled_from(SUFFIXES), rate=st.sampled_from(["24", "25", "24000/1001", "30000/1001"]))
def test_export_then_conform_is_the_identity_for_any_cut(tmp_path_factory, case, suffix, rate):
    frames, trims, dissolves, order = case
    ids = [f"s{(i + 1) * 10:03d}" for i in range(len(frames))]
    shots = {}
    for i, shot_id in enumerate(ids):
        trim = f"trim: {{head: {trims[i][0]}, tail: {trims[i][1]}}}\n"
        shots[shot_id] = (f"source: {{photo: photos/grid.png, contributor: A, consent: granted}}\nduration: {frames[i]}\n"
                          f"generator: {{kind: still}}\n{trim}")
    cut = [ids[i] for i in order]
    for position, shot_id in enumerate(cut):
        if dissolves[position]:
            shots[shot_id] += f"transition: {{dissolve: {dissolves[position]}}}\n"
    root = write_tiny_project(tmp_path_factory.mktemp("prop") / "film", shots,
                              film=f'title: P\nframe_rate: "{rate}"\nresolution: 256x144\ncut: [{", ".join(cut)}]\n')
    try:
        film = load_film(root)
    except Exception:
        return  # a cut the loader refuses (dissolves longer than what a shot shows) is not a film
    fake_takes(root, {s: frames[i] for i, s in enumerate(ids)}, rate=film.rate_text)
    takes = selected_takes(film)
    path = write_format(build_timeline(film, takes, root / "edl"), film, root, suffix)
    report = compare(film, read_cut(path, film.rate), takes)
    assert not report.changed, report.lines
    assert report.cut == list(film.cut)


# --- EDLs from other tools ----------------------------------------------------------------

@pytest.mark.parametrize("style", ["avid", "nucoda", "premiere"])
def test_edls_in_other_tools_styles_conform(film_with_takes, tmp_path, style):
    film, takes = film_with_takes
    timeline = build_timeline(film, takes, film.root / "edl")
    text = otio.adapters.write_to_string(copy.deepcopy(timeline), "cmx_3600", rate=24.0, style=style)
    path = tmp_path / f"{style}.edl"
    path.write_text(text)
    report = compare(film, read_cut(path, film.rate), takes)
    assert report.cut == list(film.cut) and not report.unknown  # premiere's reels are all AX: names match


AVID_LIKE = """TITLE: RACINES REEL 1 V3
FCM: NON-DROP FRAME

001  {r1} V     C        00:00:00:08 00:00:01:02 01:00:00:00 01:00:00:18
* FROM CLIP NAME:  s010_v001
* SOURCE FILE: s010_v001
002  {r1} V     C        00:00:01:02 00:00:01:02 01:00:00:18 01:00:00:18
002  {r2} V     D    006 00:00:00:08 00:00:01:08 01:00:00:18 01:00:01:18
* FROM CLIP NAME:  s010_v001
* TO CLIP NAME:  s020_v001
003  A005C012 V     C        14:22:10:04 14:22:11:04 01:00:01:18 01:00:02:18
* FROM CLIP NAME:  A005C012_220101_R1AB.mov
004  BL       V     C        00:00:00:00 00:00:00:12 01:00:02:18 01:00:03:06
005  {r3} AA/V  C        00:00:00:08 00:00:00:20 01:00:03:06 01:00:03:18
M2   {r3}       048.0                00:00:00:08
* LOC: 01:00:03:10 RED     CHECK FLOWER COLOUR
006  {r4} A     C        00:00:00:08 00:00:00:20 01:00:03:18 01:00:04:06
"""


def test_an_edl_with_other_tools_features_is_read_without_a_crash(film_with_takes, tmp_path):
    film, takes = film_with_takes
    path = tmp_path / "avid.edl"
    path.write_text(AVID_LIKE.format(r1=takes["s010"].reel, r2=takes["s020"].reel, r3=takes["s030"].reel,
                                     r4=takes["s040"].reel))
    result = run(film.root, "conform", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "unknown: event" in result.output and "A005C012" in result.output


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.text(alphabet=st.sampled_from(list("0123456789 :;VACDKBW*\nFROMCLIPNAME")), max_size=200))
def test_any_edl_text_conforms_or_says_why(tmp_path_factory, garbage):
    root = write_tiny_project(tmp_path_factory.mktemp("fuzz") / "film")
    fake_takes(root, FOUR)
    path = root / "edited.edl"
    path.write_text("TITLE: X\n" + garbage)
    result = run(root, "conform", str(path), "--dry-run")
    assert result.exit_code in (0, 2), result.output
    assert "internal error" not in result.output


# --- media carry what the EDL names --------------------------------------------------------

def test_take_media_carry_the_reel_and_timecode_of_the_edl(rendered_tiny):
    text = (rendered_tiny / "edl" / "tiny_film.edl").read_text()
    events = [e for ev in pycmx.parse_cmx3600(io.StringIO(text)).events for e in ev.edits]
    film = load_film(rendered_tiny)
    by_reel = {t.reel: t for t in selected_takes(film).values()}
    for event in events:
        take = by_reel[event.source]
        probe = ffprobe(take.media)
        data = next(s for s in probe["streams"] if s["codec_type"] == "data")
        assert data["tags"]["reel_name"] == event.source
        start = to_frames(data["tags"]["timecode"], film.rate)
        assert start <= to_frames(event.source_in, film.rate) <= to_frames(event.source_out, film.rate) \
            <= start + int(ffprobe(take.media, count_frames=True)["streams"][0]["nb_read_frames"])


def test_aaf_export_reads_back_with_the_same_cut(rendered_tiny):
    film = load_film(rendered_tiny)
    takes = selected_takes(film)
    assert run(rendered_tiny, "edl").exit_code == 0  # AAF is written by racines edl, not by renders
    path = rendered_tiny / "edl" / "tiny_film.aaf"
    assert path.is_file()
    report = compare(film, read_cut(path, film.rate), takes)
    assert report.cut == list(film.cut) and not report.changed


def test_bundle_holds_media_and_relative_timelines(rendered_tiny, tmp_path):
    result = run(rendered_tiny, "edl", "--bundle", str(tmp_path / "handover"))
    assert result.exit_code == 0, result.output
    bundle = tmp_path / "handover"
    timeline = otio.adapters.read_from_file(str(bundle / "tiny_film.otio"))
    for clip in timeline.find_clips():
        assert clip.media_reference.target_url.startswith("media/")
        assert (bundle / clip.media_reference.target_url).is_file()
    reels = (bundle / "reels.csv").read_text().splitlines()
    assert reels[0] == "reel,shot,take,file,frames,handles" and len(reels) == 5
    xml = otio.adapters.read_from_file(str(bundle / "tiny_film.xml"))
    assert len(list(xml.find_clips())) == 4
    assert (bundle / "tiny_film.aaf").stat().st_size > 0 and (bundle / "tiny_film.edl").is_file()
    otioz = run(rendered_tiny, "edl", "--bundle", str(tmp_path / "handover.otioz"))
    assert otioz.exit_code == 0 and (tmp_path / "handover.otioz").stat().st_size > 0
