"""The film render: a probed ProRes master and H.264 review copy, and a composition that is
exact: cuts pass the takes' frames through, dissolves are integer blends of both sides."""

from __future__ import annotations

import hashlib
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from racines.render.compose import track_frames
from racines.render.plan import Format
from tests.conftest import decode_frames, ffprobe, framemd5, top_boxes, video_stream

W, H = 256, 144
FRAMES = 24 + 24 + 12 + 12 - 6 - 4
FORMAT = Format(W, H, Fraction(24))


def test_master_has_the_deliverable_properties(rendered_tiny):
    probe = ffprobe(rendered_tiny / "renders" / "tiny_film_master.mov", count_frames=True)
    video = video_stream(probe)
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("prores", "HQ", "yuv422p10le")
    assert video["r_frame_rate"] == "24/1"
    assert (video["color_primaries"], video["color_transfer"], video["color_space"]) == ("bt709",) * 3
    assert video["tags"]["timecode"] == "01:00:00:00"
    assert int(video["nb_read_frames"]) == FRAMES


def test_review_copy_is_streamable_h264_with_burn_ins(rendered_tiny):
    path = rendered_tiny / "renders" / "tiny_film_review.mp4"
    video = video_stream(ffprobe(path, count_frames=True))
    assert (video["codec_name"], video["pix_fmt"]) == ("h264", "yuv420p")
    assert int(video["nb_read_frames"]) == FRAMES and video["color_primaries"] == "bt709"
    head = path.read_bytes()[:4096]
    assert 0 <= head.find(b"moov") < max(head.find(b"mdat"), 4096)  # +faststart: index first
    # burn-ins (shot label top left, timecode bottom right) change those corners and only those
    review = np.frombuffer(decode_frames(path, "gray", W, H)[0], np.uint8).reshape(H, W).astype(int)
    master = np.frombuffer(decode_frames(rendered_tiny / "renders" / "tiny_film_master.mov", "gray", W, H)[0],
                           np.uint8).reshape(H, W).astype(int)
    changed = np.abs(review - master) > 60
    assert changed[:24, :90].mean() > 0.05 and changed[-24:, -110:].mean() > 0.05
    assert changed[40:100, 60:200].mean() < 0.01


@pytest.fixture(scope="module")
def composed(rendered_tiny):
    timeline = otio.adapters.read_from_file(str(rendered_tiny / "edl" / "tiny_film.otio"))
    track = timeline.video_tracks()[0]
    frames = [f.copy() for f in track_frames(track, rendered_tiny / "edl", W, H)]
    return track, frames


HANDLES = 8


def take_frames(rendered_tiny, shot):
    """The take's frames from the first frame of the shot (its head handle left out)."""
    (media,) = (rendered_tiny / "renders" / "takes" / shot / "v001").glob("*.mov")
    frames = [np.frombuffer(f, np.uint16) for f in decode_frames(media, "yuv422p10le", W, H)]
    assert len(frames) == {"s010": 24, "s020": 24, "s030": 12, "s040": 12}[shot] + 2 * HANDLES
    return frames[HANDLES:]


def test_cuts_pass_take_frames_through_and_dissolves_blend_exactly(rendered_tiny, composed):
    _, frames = composed
    assert len(frames) == FRAMES
    a, b, c, d = (take_frames(rendered_tiny, s) for s in ("s010", "s020", "s030", "s040"))
    # s010 alone for 24 - 6 frames, then a 6-frame dissolve into s020's first 6 frames
    for i in range(18):
        assert np.array_equal(frames[i], a[i])
    for step in range(1, 7):
        expected = (a[17 + step].astype(np.uint32) * (7 - step) + b[step - 1].astype(np.uint32) * step + 3) // 7
        assert np.array_equal(frames[17 + step], expected.astype(np.uint16))
    # s020 after its incoming dissolve, until the 4-frame dissolve into s030
    for i in range(6, 20):
        assert np.array_equal(frames[18 + i], b[i])
    for step in range(1, 5):
        expected = (b[19 + step].astype(np.uint32) * (5 - step) + c[step - 1].astype(np.uint32) * step + 2) // 5
        assert np.array_equal(frames[37 + step], expected.astype(np.uint16))
    # s030 then a cut to s040
    assert all(np.array_equal(frames[42 + i], c[4 + i]) for i in range(8))
    assert all(np.array_equal(frames[50 + i], d[i]) for i in range(12))


def test_master_decodes_close_to_the_composition(rendered_tiny, composed):
    _, frames = composed
    master = [np.frombuffer(f, np.uint16) for f in decode_frames(
        rendered_tiny / "renders" / "tiny_film_master.mov", "yuv422p10le", W, H)]
    assert len(master) == len(frames)
    for ours, encoded in zip(frames, master):
        mse = np.mean((ours.astype(np.float64) - encoded.astype(np.float64)) ** 2)
        assert 10 * np.log10(1023.0 ** 2 / max(mse, 1e-9)) > 40  # ProRes HQ: a faithful encode


def test_render_is_reproducible(rendered_tiny, composed, tmp_path):
    """Rendering the same timeline twice gives the same frames (FATE-style framemd5)."""
    track, frames = composed
    again = [hashlib.md5(f.tobytes()).hexdigest() for f in track_frames(track, rendered_tiny / "edl", W, H)]
    assert again == [hashlib.md5(f.tobytes()).hexdigest() for f in frames]


def test_master_copies_solo_stretches_from_the_takes_without_re_encoding(rendered_tiny):
    master = [np.frombuffer(f, np.uint16) for f in decode_frames(
        rendered_tiny / "renders" / "tiny_film_master.mov", "yuv422p10le", W, H)]
    a, b, c, d = (take_frames(rendered_tiny, s) for s in ("s010", "s020", "s030", "s040"))
    solo = list(zip(master[0:18], a[0:18])) + list(zip(master[24:38], b[6:20])) + \
        list(zip(master[42:50], c[4:12])) + list(zip(master[50:62], d[0:12]))
    assert all(np.array_equal(ours, take) for ours, take in solo)


def test_takes_outside_the_output_folder_are_still_copied(rendered_tiny, tmp_path):
    """Through hex-named links: no concat-unsafe path and no silent re-encode."""
    from racines.render.deliver import render_timeline

    timeline = otio.adapters.read_from_file(str(rendered_tiny / "edl" / "tiny_film.otio"))
    result = render_timeline(timeline, rendered_tiny / "edl", tmp_path / "elsewhere", "tiny", W, H, Fraction(24),
                             review=False)
    assert result.pieces_encoded == 2  # the two dissolves; solo stretches are copied
    ours = decode_frames(result.master, "yuv422p10le", W, H)
    assert ours == decode_frames(rendered_tiny / "renders" / "tiny_film_master.mov", "yuv422p10le", W, H)
    assert all(p.is_symlink() for p in (tmp_path / "elsewhere" / "cache" / "links").iterdir())


@pytest.mark.parametrize("rate", ["24", "25", "24000/1001", "30000/1001", "60"])
@pytest.mark.parametrize("container", [("mov", "prores_ks"), ("matroska", "ffv1")])
def test_reader_seeks_to_the_exact_frame(tmp_path, rate, container):
    """A piece's reader seeks instead of decoding from the start: every frame it returns is the
    one that decoding the whole media and counting gives, whatever the rate and container."""
    import ffmpeg

    from racines.media.ffmpeg import ffmpeg_exe
    from racines.render.compose import PIX_FMT, open_reader

    media = tmp_path / f"numbered.{container[0]}"
    (ffmpeg.input(f"testsrc2=s=160x90:r={rate}", f="lavfi")
     .output(str(media), vcodec=container[1], pix_fmt=PIX_FMT, f=container[0], **{"frames:v": 120})
     .run(cmd=ffmpeg_exe(), quiet=True))
    every = decode_frames(media, PIX_FMT, 160, 90)
    assert len(every) == 120
    for first in (0, 1, 37, 107):
        read = [frame.tobytes() for frame in open_reader(media, first, 13, "clip", 160, 90, Fraction(rate))]
        assert read == every[first:first + 13]


def lavfi_clip(path: Path, frames: int, source: str = "testsrc2", **options) -> Path:
    import ffmpeg

    from racines.media.ffmpeg import ffmpeg_exe

    (ffmpeg.input(f"{source}=s=160x90:r=24", f="lavfi")
     .output(str(path), **{"frames:v": frames}, **options)
     .run(cmd=ffmpeg_exe(), quiet=True))
    return path


def prores_clip(path: Path, frames: int = 24, profile: int = 3, source: str = "testsrc2", **options) -> Path:
    return lavfi_clip(path, frames, source, vcodec="prores_ks", pix_fmt="yuv422p10le", f="mov",
                      **{"profile:v": profile}, **options)


def test_a_file_laid_out_otherwise_is_not_patched_and_stays_as_it_was(tmp_path):
    """A source of another codec, or H.264 frames whose decoder parameters, key frames or
    timing differ from those they would replace, is refused before a byte is written, so the
    caller joins the file whole."""
    from racines.media import presets
    from racines.render import quicktime

    plain, other = prores_clip(tmp_path / "plain.mov"), prores_clip(tmp_path / "other.mov", profile=1)  # LT: apcs
    review = dict(presets.review_h264(patchable=True), pix_fmt="yuv420p")
    h264 = lavfi_clip(tmp_path / "h264.mp4", 24, **review)
    high = lavfi_clip(tmp_path / "main.mp4", 24, **dict(review, **{"profile:v": "main"}))
    adaptive = lavfi_clip(tmp_path / "adaptive.mp4", 24, **presets.review_h264())
    cases = [(plain, other, 0, 4), (h264, high, 0, 8),  # other codec; other parameter sets
             (h264, adaptive, 0, 24),                   # frame types chosen by content
             (h264, h264, 4, 8)]                        # a run that would start on a B-frame
    for target, source, start, count in cases:
        before = target.read_bytes()
        with pytest.raises(quicktime.Unpatchable):
            quicktime.replace_samples(target, {0: (quicktime.read_track(source), start, count)})
        assert target.read_bytes() == before
    # a file that changed since the caller looked at it (another render patched it) is refused
    copy = prores_clip(tmp_path / "copy.mov")
    before, stat = plain.read_bytes(), plain.stat()
    with pytest.raises(quicktime.Unpatchable, match="changed since"):
        quicktime.replace_samples(plain, {4: (quicktime.read_track(copy), 10, 4)},
                                  expected=(stat.st_size + 1, stat.st_mtime_ns))
    assert plain.read_bytes() == before
    # and a patch that holds: frames 4..7 of `plain` replaced by frames 10..13 of a copy
    quicktime.replace_samples(plain, {4: (quicktime.read_track(copy), 10, 4)},
                              expected=(stat.st_size, stat.st_mtime_ns))
    frames, original = decode_frames(plain, "gray", 160, 90), decode_frames(copy, "gray", 160, 90)
    assert frames[:4] == original[:4] and frames[4:8] == original[10:14] and frames[8:] == original[8:]


def test_an_index_at_the_front_is_retired_and_the_new_one_written_at_the_end(tmp_path, monkeypatch):
    from racines.render import quicktime

    faststart = prores_clip(tmp_path / "faststart.mov", movflags="+faststart")
    source = prores_clip(tmp_path / "source.mov", 24, source="smptebars")
    assert top_boxes(faststart)[:2] == ["ftyp", "moov"]
    before = framemd5(faststart)
    # killed after the new frames and index are written, before the old index is retired:
    # readers still take the first index, the film as it was
    monkeypatch.setattr(quicktime, "switch_index", lambda handle, old: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        quicktime.replace_samples(faststart, {20: (quicktime.read_track(source), 0, 4)})
    assert top_boxes(faststart) == ["ftyp", "moov", "wide", "mdat", "mdat", "moov"]
    assert framemd5(faststart) == before
    monkeypatch.undo()
    faststart = prores_clip(tmp_path / "faststart_again.mov", movflags="+faststart")
    quicktime.replace_samples(faststart, {20: (quicktime.read_track(source), 0, 4)})
    assert top_boxes(faststart) == ["ftyp", "free", "wide", "mdat", "mdat", "moov"]
    frames, original = decode_frames(faststart, "gray", 160, 90), decode_frames(source, "gray", 160, 90)
    assert frames[20:] == original[:4] and len(frames) == 24


def test_h264_pieces_of_a_review_copy_are_swapped_in_place_as_a_join_would_give(tmp_path):
    """Pieces encoded as the review copy's are (a fixed pattern of frame types) can replace one
    another when of the same length: the patched file decodes to the frames, and shows them at
    the times, that joining the new pieces gives."""
    from racines.media import presets
    from racines.media.ffmpeg import ffmpeg_exe
    from racines.render import quicktime

    review = dict(presets.review_h264(patchable=True), pix_fmt="yuv420p")
    pieces = {name: lavfi_clip(tmp_path / f"{name}.mp4", frames, source, **review)
              for name, frames, source in (("a", 24, "testsrc2"), ("b", 8, "smptebars"), ("c", 17, "testsrc2"),
                                           ("new_b", 8, "mandelbrot"))}

    def join(names, out):
        listing = tmp_path / f"{out.stem}.ffconcat"
        listing.write_text("ffconcat version 1.0\n" + "".join(f"file {n}.mp4\n" for n in names))
        subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "concat", "-i", str(listing), "-c", "copy",
                        "-movflags", "+faststart", str(out), "-y"], check=True)
        return out

    patched, rejoined = join("abc", tmp_path / "patched.mp4"), join(["a", "new_b", "c"], tmp_path / "rejoined.mp4")
    assert framemd5(patched) != framemd5(rejoined)
    quicktime.replace_samples(patched, {24: (quicktime.read_track(pieces["new_b"]), 0, 8)})
    assert framemd5(patched, timestamps=True) == framemd5(rejoined, timestamps=True)
    assert len(framemd5(patched)) == 49


def test_a_solo_stretch_of_the_review_is_the_frames_the_reader_gives(rendered_tiny, tmp_path):
    """One ffmpeg transcodes a solo stretch of the review copy (no frames through Python); its
    frames and timestamps are those that the reader and the encoder pipe give, bit for bit."""
    from racines.render.encode import encode_piece
    from racines.render.pieces import cut_into_pieces

    timeline = otio.adapters.read_from_file(str(rendered_tiny / "edl" / "tiny_film.otio"))
    pieces = cut_into_pieces(timeline.video_tracks()[0], rendered_tiny / "edl")
    solo = next(p for p in pieces if len(p.layers) == 1 and p.layers[0].first_frame > 0 and p.record_in > 0)
    direct, piped = tmp_path / "direct.mp4", tmp_path / "piped.mp4"
    encode_piece(solo, FORMAT, "01:00:01:00", None, direct)
    # with a master to write as well, the frames go through Python to both encoders
    encode_piece(solo, FORMAT, "01:00:01:00", tmp_path / "master.mov", piped)
    assert len(framemd5(direct)) == solo.frames
    assert framemd5(direct) == framemd5(piped)


def test_a_take_too_short_for_its_stretch_is_named_and_nothing_is_left(rendered_tiny, tmp_path):
    from racines.errors import RenderFailed
    from racines.render.encode import encode_piece
    from racines.render.pieces import Piece, cut_into_pieces

    timeline = otio.adapters.read_from_file(str(rendered_tiny / "edl" / "tiny_film.otio"))
    solo = next(p for p in cut_into_pieces(timeline.video_tracks()[0], rendered_tiny / "edl") if len(p.layers) == 1)
    longer = Piece(solo.record_in, solo.frames + 500, solo.layers, solo.labels)
    with pytest.raises(RenderFailed, match=rf"{solo.layers[0].clip_name} .* has \d+ of the {solo.frames + 500} frames"):
        encode_piece(longer, FORMAT, "01:00:00:00", None, tmp_path / "review.mp4")
    assert list(tmp_path.iterdir()) == []


def test_a_dissolve_short_of_frames_on_one_side_names_that_side(rendered_tiny, tmp_path):
    """Both sides of a dissolve are read by one ffmpeg; when it ends early, the error still
    names the clip whose take is too short, and neither deliverable's piece is left."""
    from dataclasses import replace

    from racines.errors import RenderFailed
    from racines.render.encode import encode_piece
    from racines.render.pieces import cut_into_pieces

    timeline = otio.adapters.read_from_file(str(rendered_tiny / "edl" / "tiny_film.otio"))
    dissolve = next(p for p in cut_into_pieces(timeline.video_tracks()[0], rendered_tiny / "edl")
                    if len(p.layers) == 2)
    outgoing, incoming = dissolve.layers
    short = prores_clip(tmp_path / "short.mov", frames=dissolve.frames - 2, s=f"{W}x{H}", r=24)
    cut_short = replace(dissolve, layers=(outgoing, replace(incoming, media=short, first_frame=0)))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RenderFailed, match=rf"{incoming.clip_name} \(short.mov\) has {dissolve.frames - 2} of the "
                                           rf"{dissolve.frames} frames"):
        encode_piece(cut_short, FORMAT, "01:00:00:00", out / "master.mov", out / "review.mp4")
    assert list(out.iterdir()) == []
