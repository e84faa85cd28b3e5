"""``racines interpolate`` end to end: a tiny testsrc2 clip in, counted and timed frames out."""

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from racines.cli import main
from racines.media.ffmpeg import ffmpeg_exe

FFPROBE = "/usr/bin/ffprobe"
needs_ffprobe = pytest.mark.skipif(not Path(FFPROBE).exists(), reason="needs Debian's ffprobe")


def _make_clip(path: Path, rate: str, seconds: str = "1", audio: bool = False, size: str = "160x96") -> Path:
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-shortest"]
    args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(args, check=True)
    return path


def _probe(path: Path) -> dict:
    out = subprocess.run([FFPROBE, "-v", "error", "-count_frames", "-print_format", "json", "-show_streams", str(path)],
                         capture_output=True, text=True, check=True)
    streams = json.loads(out.stdout)["streams"]
    video = next(s for s in streams if s["codec_type"] == "video")
    return {"frames": int(video["nb_read_frames"]), "rate": video["r_frame_rate"], "codec": video["codec_name"],
            "pix_fmt": video["pix_fmt"], "audio": [s["codec_name"] for s in streams if s["codec_type"] == "audio"]}


def _run(*args):
    return CliRunner().invoke(main, ["interpolate", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def clip12(tmp_path_factory):
    return _make_clip(tmp_path_factory.mktemp("clips") / "in12.mp4", "12", audio=True)


@needs_ffprobe
def test_12_to_24_prores(clip12, tmp_path):
    out = tmp_path / "out.mov"
    result = _run(clip12, out, "--fps", "24", "--device", "cpu")
    assert result.exit_code == 0, result.output
    probed = _probe(out)
    assert probed["frames"] == 24 and probed["rate"] == "24/1"
    assert probed["codec"] == "prores" and probed["pix_fmt"] == "yuv422p10le"
    assert probed["audio"] == ["pcm_s24le"]   # the sound came along, in sync (same duration)
    assert "24 frames at 24 fps from 12 at 12" in result.output


@needs_ffprobe
@pytest.mark.parametrize("rate_in,fps,expected_rate,expected_frames", [
    ("16", "24", "24/1", 24),
    ("25", "24", "24/1", 24),
    ("12", "4x", "48/1", 48),
])
def test_other_ratios_h264(tmp_path, rate_in, fps, expected_rate, expected_frames):
    clip = _make_clip(tmp_path / "in.mp4", rate_in)
    out = tmp_path / "out.mp4"
    result = _run(clip, out, "--fps", fps, "--device", "cpu", "--no-audio")
    assert result.exit_code == 0, result.output
    probed = _probe(out)
    assert (probed["frames"], probed["rate"], probed["codec"]) == (expected_frames, expected_rate, "h264")


def test_missing_input_is_exit_2(tmp_path):
    result = _run(tmp_path / "nope.mp4", tmp_path / "out.mov", "--fps", "24")
    assert result.exit_code == 2
    assert "nope.mp4: no such file" in result.output
    assert not (tmp_path / "out.mov").exists()


@pytest.mark.parametrize("fps,message", [
    ("23.976", "not exact; write 24000/1001"),
    ("0", "must be positive"),
    ("-24", "must be positive"),
    ("fast", "not a frame rate"),
    ("5000", "above the 1000 fps limit"),
])
def test_bad_fps_is_exit_2(clip12, tmp_path, fps, message):
    out = tmp_path / "out.mov"
    result = _run(clip12, out, "--fps", fps)
    assert result.exit_code == 2, result.output
    assert "--fps" in result.output and message in result.output
    assert list(tmp_path.iterdir()) == []   # nothing written, not even a partial file


def test_unknown_output_type_and_non_video_input(clip12, tmp_path):
    result = _run(clip12, tmp_path / "out.avi", "--fps", "24")
    assert result.exit_code == 2 and "name the output .mov" in result.output
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    result = _run(text, tmp_path / "out.mov", "--fps", "24")
    assert result.exit_code == 2 and "not a video ffmpeg can read" in result.output
    assert not (tmp_path / "out.mov").exists()


def test_file_names_are_never_options_or_protocols(tmp_path):
    clip = _make_clip(tmp_path / "-i.mp4", "12", seconds="0.5")
    out = tmp_path / "concat:evil.mov"
    result = _run(clip, out, "--fps", "24", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.stat().st_size > 0


@needs_ffprobe
@pytest.mark.parametrize("quality", ["draft", "high"])
def test_quality_levels(clip12, tmp_path, quality):
    out = tmp_path / "out.mp4"
    result = _run(clip12, out, "--fps", "2x", "--quality", quality, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert _probe(out)["frames"] == 24


def test_missing_cuda_is_exit_2_when_asked_for(clip12, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = _run(clip12, tmp_path / "out.mov", "--fps", "24", "--device", "cuda")
    assert result.exit_code == 2 and "--device" in result.output and "no CUDA GPU" in result.output


@needs_ffprobe
def test_endpoints_span_ends_on_the_last_input_frame(clip12, tmp_path):
    out = tmp_path / "out.mp4"
    result = _run(clip12, out, "--fps", "24", "--span", "endpoints", "--no-audio", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert _probe(out)["frames"] == 23   # 12 frames, 11 gaps, each split in two
