"""Video probing and decoding for racines interpolate: exact rates, frame counts, timecode."""

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from racines.errors import UsageError
from racines.media.ffmpeg import ffmpeg_exe
from racines.motion.video import VideoInfo, _stream_rate, _timecode, parse_output_rate, probe, read_video

needs_ffprobe = pytest.mark.skipif(not Path("/usr/bin/ffprobe").exists(), reason="needs Debian's ffprobe")


@pytest.mark.parametrize("stream,expected", [
    ({"r_frame_rate": "24000/1001", "avg_frame_rate": "5000000/208541"}, Fraction(24000, 1001)),
    ({"r_frame_rate": "25/1", "avg_frame_rate": "25/1"}, Fraction(25)),
    ({"r_frame_rate": "90000/1", "avg_frame_rate": "30/1"}, Fraction(30)),    # a timebase, not a rate
    ({"r_frame_rate": "60/1", "avg_frame_rate": "0/0"}, Fraction(60)),
    ({"r_frame_rate": "0/0", "avg_frame_rate": "0/0"}, None),
])
def test_stream_rate_prefers_the_nominal_exact_rate(stream, expected):
    assert _stream_rate(stream) == expected


@pytest.mark.parametrize("text,rate_in,expected", [
    ("24", Fraction(12), Fraction(24)),
    ("24000/1001", Fraction(12), Fraction(24000, 1001)),
    ("2x", Fraction(12), Fraction(24)),
    ("1.5x", Fraction(16), Fraction(24)),
    ("2X", Fraction(24000, 1001), Fraction(48000, 1001)),
])
def test_output_rates(text, rate_in, expected):
    assert parse_output_rate(text, rate_in) == expected


def test_timecode_moves_to_the_new_rate_at_the_same_instant():
    info = VideoInfo(width=16, height=16, rate=Fraction(25), frames=10, matrix="bt709", timecode="01:00:00:20")
    assert _timecode(info, Fraction(50)) == "01:00:00:40"
    assert _timecode(info, Fraction(24)) == "01:00:00:19"    # 0.8 s is frame 19.2 at 24 fps
    untagged = VideoInfo(width=16, height=16, rate=Fraction(25), frames=10, matrix="bt709")
    assert _timecode(untagged, Fraction(24)) == "00:00:00:00"


@needs_ffprobe
def test_probe_and_read_an_ntsc_clip(tmp_path):
    clip = tmp_path / "ntsc.mov"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                    "-i", "testsrc2=size=96x64:rate=24000/1001:duration=0.5", "-c:v", "prores_ks",
                    "-timecode", "01:00:00:00", str(clip)], check=True)
    info = probe(clip)
    assert (info.width, info.height, info.rate) == (96, 64, Fraction(24000, 1001))
    assert info.timecode == "01:00:00:00" and not info.has_audio
    frames = list(read_video(clip, info))
    assert len(frames) == 12 and frames[0].shape == (64, 96, 3) and frames[0].dtype == np.uint8
    assert not np.array_equal(frames[0], frames[-1])   # testsrc2 moves


def test_probe_refuses_a_missing_file(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        probe(tmp_path / "missing.mov")
