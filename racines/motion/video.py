"""Read and write video files for ``racines interpolate``, streaming frames through ffmpeg.

Frames are decoded to RGB by one ffmpeg process and encoded by another
(:mod:`racines.media.ffmpeg`), so a clip of any length passes through two frames at a time.
Paths are handed to ffmpeg as ``file:`` URLs in an argument list: a file name can never be
read as an option, a protocol or a filter.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np
import opentimelineio as otio

from racines.core.atomic import atomic_path
from racines.errors import UsageError
from racines.media import presets
from racines.media.ffmpeg import FrameWriter, ffprobe_exe, raw_input, read_frames
from racines.motion.retime import as_rate, frame_count, retime

#: output containers and what goes in them
CONTAINERS = {".mov": "ProRes 422 HQ", ".mp4": "H.264"}
#: matrices ffmpeg's scale filter knows by name, from ffprobe's color_space values
#: the largest frame interpolate takes (8K DCI is 8192x4320): a header can declare any size, and
#: every frame of that size is held several times over (flow, warps, blends)
MAX_FRAME_PIXELS = 8192 * 4320
MATRICES = {"bt709": "bt709", "bt470bg": "bt470", "smpte170m": "smpte170m", "smpte240m": "smpte240m",
            "fcc": "fcc", "bt2020nc": "bt2020", "bt2020c": "bt2020"}
MAX_RATE = Fraction(1000)


@dataclass(frozen=True)
class VideoInfo:
    """What the rest of the pipeline needs to know about an input clip."""

    width: int
    height: int
    rate: Fraction
    frames: int | None          # an estimate when the container does not say
    matrix: str                 # YUV->RGB matrix for the scale filter
    has_audio: bool = False
    timecode: str | None = None
    sample_aspect: str = "1:1"

    @property
    def rate_text(self) -> str:
        return rate_text(self.rate)


def rate_text(rate: Fraction) -> str:
    """'24' or '24000/1001': the exact spelling ffmpeg reads."""
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def _file_url(path: Path) -> str:
    return "file:" + str(Path(path).resolve())


def probe(path: Path) -> VideoInfo:
    """Describe the first video stream of ``path`` with ffprobe; :class:`UsageError` if there is none."""
    path = Path(path)
    if not path.is_file():
        what = "not a regular file" if path.exists() else "no such file"  # a FIFO would block ffprobe
        raise UsageError(f"{path}: {what}\n    fix: check the path of the input video")
    probe_exe = ffprobe_exe()
    if probe_exe is None:
        return _probe_without_ffprobe(path)
    result = subprocess.run(
        [probe_exe, "-v", "error", "-print_format", "json", "-show_streams", "-show_format", _file_url(path)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "ffprobe failed"
        raise UsageError(f"{path}: not a video ffmpeg can read ({reason})\n"
                         "    fix: give a video file (.mov, .mp4, .mkv...)")
    data = json.loads(result.stdout or "{}")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    if video is None:
        raise UsageError(f"{path}: has no video stream\n    fix: give a video file (.mov, .mp4, .mkv...)")
    rate = _stream_rate(video)
    if rate is None:
        raise UsageError(f"{path}: the video stream has no frame rate (is it a still image?)\n"
                         "    fix: give a video clip")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if not 0 < width * height <= MAX_FRAME_PIXELS:
        raise UsageError(f"{path}: the video's frames are {width}x{height}, outside what interpolate takes "
                         f"(at most {MAX_FRAME_PIXELS} pixels, 8192x4320)\n    fix: scale the clip down first")
    if _rotation(video) % 180 == 90:  # ffmpeg turns portrait phone clips upright while decoding
        width, height = height, width
    frames = int(video["nb_frames"]) if str(video.get("nb_frames", "")).isdigit() else None
    if frames is None:
        duration = video.get("duration") or data.get("format", {}).get("duration")
        try:
            frames = round(Fraction(duration) * rate) if duration not in (None, "N/A") else None
        except (ValueError, ZeroDivisionError):
            frames = None
    tags = {**data.get("format", {}).get("tags", {}), **video.get("tags", {})}
    return VideoInfo(
        width=width, height=height, rate=rate, frames=frames,
        matrix=MATRICES.get(video.get("color_space", ""), "bt709" if height >= 720 else "bt601"),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        timecode=tags.get("timecode"),
        sample_aspect=_sample_aspect(video),
    )


def _stream_rate(video: dict) -> Fraction | None:
    """The nominal rate (r_frame_rate) when the average agrees with it, else the average.

    Containers often store the average as an unwieldy ratio (e.g. 5000000/208541 for 23.976);
    the nominal rate is the exact one an editor expects.
    """
    rates = []
    for key in ("r_frame_rate", "avg_frame_rate"):
        try:
            rate = Fraction(video.get(key, "0/0"))
        except (ValueError, ZeroDivisionError):
            rate = None
        rates.append(rate if rate is not None and 0 < rate <= MAX_RATE else None)
    nominal, average = rates
    if nominal and average and abs(nominal - average) <= nominal / 1000:
        return nominal
    return average or nominal


def _sample_aspect(video: dict) -> str:
    """The pixel shape, '1:1' unless the stream says otherwise ('0:1' means unknown)."""
    aspect = video.get("sample_aspect_ratio", "1:1")
    return "1:1" if aspect in ("0:1", "N/A", "") else aspect


def _rotation(video: dict) -> int:
    for side in video.get("side_data_list", []):
        if "rotation" in side:
            return int(round(float(side["rotation"])))
    return int(video.get("tags", {}).get("rotate", 0) or 0)


def _probe_without_ffprobe(path: Path) -> VideoInfo:
    """Fallback when no ffprobe is installed: imageio-ffmpeg parses ffmpeg's banner (rate as a float)."""
    import imageio_ffmpeg

    try:
        reader = imageio_ffmpeg.read_frames(_file_url(path))
        meta = next(reader)
        reader.close()
    except (RuntimeError, OSError, StopIteration) as exc:
        raise UsageError(f"{path}: not a video ffmpeg can read ({exc})") from None
    fps = float(meta.get("fps") or 0)
    if fps <= 0:
        raise UsageError(f"{path}: the video stream has no frame rate")
    # banners print 23.98 for 24000/1001: snap to the nearest rate with denominator 1 or 1001
    rate = min((Fraction(round(fps * d), d) for d in (1, 1001)), key=lambda r: abs(float(r) - fps))
    width, height = meta["size"]
    duration = meta.get("duration") or 0
    return VideoInfo(width=width, height=height, rate=rate, frames=round(duration * fps) or None,
                     matrix="bt709" if height >= 720 else "bt601", has_audio=bool(meta.get("audio_codec")))


def read_video(path: Path, info: VideoInfo) -> Iterator[np.ndarray]:
    """Yield the clip's frames as RGB uint8 ``(H, W, 3)`` arrays, one at a time, at a constant rate."""
    path = Path(path)
    stream = ffmpeg.input(_file_url(path)).video
    # a variable-rate clip is made constant at its average rate, so that frame k is at k / rate
    stream = stream.filter("fps", fps=info.rate_text)
    stream = stream.filter("scale", in_color_matrix=info.matrix)
    stream = stream.output("pipe:", format="rawvideo", pix_fmt="rgb24")
    for chunk in read_frames(stream, info.width, info.height, "rgb24", f"decoding {path.name}"):
        yield np.frombuffer(chunk, dtype=np.uint8).reshape(info.height, info.width, 3)


def parse_output_rate(text: str, rate_in: Fraction | None = None) -> Fraction:
    """'24', '24000/1001' or a multiple of the input rate such as '2x'; ValueError with the fix otherwise."""
    text = str(text).strip()
    if text.lower().endswith("x"):
        factor = as_rate(text[:-1])
        if rate_in is None:
            raise ValueError("a multiple such as '2x' needs the input's rate")
        rate = rate_in * factor
    else:
        if "." in text:
            raise ValueError(f"'{text}' is not exact; write 24000/1001 for 23.976, 30000/1001 for 29.97, "
                             "or a whole number such as 24")
        rate = as_rate(text)
    if rate > MAX_RATE:
        raise ValueError(f"{rate_text(rate)} fps is above the {MAX_RATE} fps limit")
    return rate


@dataclass(frozen=True)
class Retimed:
    source: VideoInfo
    rate: Fraction
    frames_in: int
    frames_out: int
    output: Path


def check_output(src: Path, dst: Path) -> None:
    if dst.suffix.lower() not in CONTAINERS:
        raise UsageError(f"{dst}: unknown output type '{dst.suffix}'\n    fix: name the output .mov "
                         f"(ProRes 422 HQ) or .mp4 (H.264)")
    if src.exists() and dst.exists() and src.resolve() == dst.resolve():
        raise UsageError(f"{dst}: the output would overwrite the input\n    fix: give another output name")


def _timecode(info: VideoInfo, rate: Fraction) -> str:
    """The input's start timecode moved to the output rate (same instant), else 00:00:00:00."""
    if not info.timecode:
        return "00:00:00:00"
    try:
        start = otio.opentime.from_timecode(info.timecode, float(info.rate))
        moved = otio.opentime.RationalTime(round(start.to_seconds() * float(rate)), float(rate))
        return otio.opentime.to_timecode(moved, float(rate))
    except (ValueError, TypeError):
        return "00:00:00:00"


def _encoder(src: Path, dst: Path, info: VideoInfo, rate: Fraction, audio: bool):
    video = raw_input(info.width, info.height, rate_text(rate))
    if info.sample_aspect != "1:1":
        video = video.filter("setsar", info.sample_aspect.replace(":", "/"))
    streams = []
    if dst.suffix.lower() == ".mov":
        streams.append(presets.to_bt709(video, "yuv422p10le"))
        options = presets.prores_hq(_timecode(info, rate))
        audio_options = {"acodec": "pcm_s24le"}
    else:
        if info.width % 2 or info.height % 2:
            raise UsageError(f"{src}: H.264 4:2:0 needs an even width and height, the clip is "
                             f"{info.width}x{info.height}\n    fix: write a .mov (ProRes 4:2:2) instead")
        streams.append(presets.to_bt709(video, "yuv420p"))
        options = presets.review_h264()
        audio_options = {"acodec": "aac", "audio_bitrate": "192k"}
    if audio and info.has_audio:
        streams.append(ffmpeg.input(_file_url(src)).audio)
        options.update(audio_options)
    return streams, options


def interpolate_file(src: Path | str, dst: Path | str, rate: str | Fraction, interpolator,
                     span: str = "duration", audio: bool = True,
                     on_frame: Callable[[int, int | None], None] | None = None) -> Retimed:
    """Retime the video ``src`` to ``rate`` with ``interpolator`` and encode it to ``dst``.

    ``rate`` is an exact rate or a multiple ('2x'). The output is written beside ``dst``
    under a temporary name and moved into place only once ffmpeg has finished, so a failed
    or interrupted run leaves no half-written file. Sound is copied across when present
    (re-encoded to PCM for .mov, AAC for .mp4); ``span="duration"`` keeps it in sync.
    """
    src, dst = Path(src), Path(dst)
    info = probe(src)
    check_output(src, dst)
    try:
        rate_out = rate if isinstance(rate, Fraction) else parse_output_rate(rate, info.rate)
    except ValueError as exc:
        raise UsageError(f"--fps: {exc}") from None
    expected = frame_count(info.frames, info.rate, rate_out, span) if info.frames else None
    counts = {"in": 0, "out": 0}

    def source() -> Iterator[np.ndarray]:
        for frame in read_video(src, info):
            counts["in"] += 1
            yield frame

    def progressed(done: int) -> None:
        counts["out"] = done
        if on_frame:
            on_frame(done, expected)

    streams, options = _encoder(src, dst, info, rate_out, audio)
    with atomic_path(dst) as partial:
        output = ffmpeg.output(*streams, _file_url(partial), **options)
        with FrameWriter(output, f"encoding {dst.name}") as writer:
            for frame in retime(source(), info.rate, rate_out, interpolator, span=span, on_frame=progressed):
                writer.write(np.ascontiguousarray(frame))
        if counts["in"] == 0:  # a header and no picture: the file's fault, said before any output exists
            raise UsageError(f"{src}: ffmpeg decoded no frame from this file\n"
                             "    fix: give a video that plays (the file may be cut short)")
    return Retimed(source=info, rate=rate_out, frames_in=counts["in"], frames_out=counts["out"], output=dst)
