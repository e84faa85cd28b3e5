"""Write the timeline as a CMX 3600 EDL through OTIO's adapter, mending what it gets wrong.

The adapter (otio-cmx3600-adapter 1.x) ignores ``global_start_time`` (OTIO issue #1385),
writes no FCM line, mutates the timeline it is given, and puts a dissolve's length two
columns off the CMX 3600 layout (``D 012    `` for ``D    012 ``), which column-based
readers reject. We pass it a copy whose track is offset into record time, add the FCM
header, rewrite event lines in the standard columns, and restate every timecode as drop or
non-drop frame as the film chose (the adapter infers drop-frame from the rate alone).
"""

from __future__ import annotations

import copy
import re
from fractions import Fraction

import opentimelineio as otio

from racines.edit.timecode import DROP_FRAME_RATES, to_frames, to_timecode


def edl_text(timeline: otio.schema.Timeline, rate: Fraction, drop_frame: bool = False) -> str:
    writable = copy.deepcopy(timeline)
    track = writable.video_tracks()[0]
    start = timeline.global_start_time or otio.opentime.RationalTime(0, float(rate))
    # A negative track start is how the adapter itself reads a record offset back.
    track.source_range = otio.opentime.TimeRange(-start, track.duration())
    text = otio.adapters.write_to_string(writable, adapter_name="cmx_3600", rate=float(rate), style="avid")
    drop = drop_frame and rate in DROP_FRAME_RATES
    fcm = "FCM: DROP FRAME" if drop else "FCM: NON-DROP FRAME"
    # the adapter writes drop-frame whenever the rate allows it; restate every timecode as chosen
    lines = [_restate_timecodes(_standard_columns(line), rate, drop) for line in text.splitlines()]
    at = 1 if lines and lines[0].startswith("TITLE:") else 0
    lines.insert(at, fcm)
    return "\n".join(lines).rstrip() + "\n"


TC = r"\d\d:\d\d:\d\d[:;]\d\d"
EVENT = re.compile(rf"^(\d+)\s+(\S+)\s+(\S+)\s+(C|D|W\d+|K|KB|KO)\s+(\d*)\s*({TC})\s+({TC})\s+({TC})\s+({TC})\s*$")


def _standard_columns(line: str) -> str:
    """Event lines in the CMX 3600 columns: edit, reel (8), channels (4), transition (4), operand (3)."""
    match = EVENT.match(line)
    if not match:
        return line
    edit, reel, channels, transition, operand, *times = match.groups()
    operand = f"{int(operand):03d}" if operand else ""
    return f"{int(edit):03d}  {reel:<8} {channels:<4}  {transition:<4} {operand:>3} {' '.join(times)}"


def _restate_timecodes(line: str, rate: Fraction, drop: bool) -> str:
    if not (EVENT.match(line) or line.startswith("* LOC:")):
        return line
    return re.sub(TC, lambda m: to_timecode(to_frames(m.group(0), rate), rate, drop), line)


def read_edl(text: str, rate: Fraction) -> otio.schema.Timeline:
    return otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=float(rate))
