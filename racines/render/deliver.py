"""Render a timeline to the film's deliverables: a ProRes master and an H.264 review copy.

Composed frames are written to both encoders as they are made. Each output is written
under a temporary name and moved into place only when its encoder succeeded.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import matplotlib
import opentimelineio as otio

from racines.errors import RenderFailed
from racines.media import presets
from racines.media.ffmpeg import FrameWriter, raw_input
from racines.render.compose import PIX_FMT, spans, track_frames
from racines.takes.atomic import atomic_path

MONO_FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono.ttf"


@dataclass(frozen=True)
class Deliverables:
    master: Path
    review: Path | None
    frames: int


def render_timeline(timeline: otio.schema.Timeline, media_base: Path, out_dir: Path, stem: str,
                    width: int, height: int, rate: Fraction, review: bool = True,
                    on_frame: Callable[[int], None] | None = None) -> Deliverables:
    rate_text = str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"
    start_tc = otio.opentime.to_timecode(timeline.global_start_time, float(rate))
    track = timeline.video_tracks()[0]
    expected = round(track.duration().value)
    master_path = out_dir / f"{stem}_master.mov"
    review_path = out_dir / f"{stem}_review.mp4"
    with ExitStack() as stack:
        labels = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="racines-burnin-")))
        master_tmp = stack.enter_context(atomic_path(master_path))
        writers = [stack.enter_context(FrameWriter(
            presets.tag_bt709(raw_input(width, height, rate_text, PIX_FMT))
            .output(str(master_tmp), **presets.prores_hq(start_tc)), "encoding the master"))]
        if review:
            review_tmp = stack.enter_context(atomic_path(review_path))
            graph = _burn_ins(raw_input(width, height, rate_text, PIX_FMT), track, media_base, labels,
                              start_tc, rate_text, height)
            writers.append(stack.enter_context(FrameWriter(
                graph.output(str(review_tmp), **presets.review_h264()), "encoding the review copy")))
        count = 0
        for frame in track_frames(track, media_base, width, height):
            for writer in writers:
                writer.write(frame)
            count += 1
            if on_frame:
                on_frame(count)
        if count != expected:
            raise RenderFailed(f"composed {count} frames but the timeline lasts {expected}")
    return Deliverables(master_path, review_path if review else None, count)


def _burn_ins(stream, track, media_base: Path, labels: Path, start_tc: str, rate_text: str, height: int):
    """Shot id and take over each clip's stretch of the record, and the record timecode.

    Label text reaches drawtext through ``textfile`` only: shot names are never spliced
    into the filter graph.
    """
    stream = presets.tag_bt709(stream).filter("format", "yuv420p")
    size = max(12, height // 24)
    common = {"fontfile": str(MONO_FONT), "fontsize": size, "fontcolor": "white", "box": 1,
              "boxcolor": "black@0.55", "boxborderw": max(2, size // 4)}
    for index, span in enumerate(spans(track, media_base)):
        meta = span.clip.metadata.get("racines", {})
        label = labels / f"clip{index:04d}.txt"
        label.write_text(f"{meta.get('shot', span.clip.name)}  {meta.get('take', '')}", encoding="utf-8")
        stream = stream.filter("drawtext", textfile=str(label), x=size, y=size,
                               enable=f"between(n,{span.record_in},{span.record_out - 1})", **common)
    return stream.filter("drawtext", timecode=start_tc, rate=rate_text, x=f"w-tw-{size}", y=f"h-th-{size}",
                         **common)
