"""Write the timeline as a CMX 3600 EDL through OTIO's adapter, mending what it gets wrong.

The adapter (otio-cmx3600-adapter 1.x) ignores ``global_start_time`` (OTIO issue #1385),
writes no FCM line, mutates the timeline it is given, puts a dissolve's length two columns
off the CMX 3600 layout (``D 012    `` for ``D    012 ``), which column-based readers
reject, and writes a marker's ``* LOC:`` at its time in the clip's media, where NLEs read
locators on the record timeline. We pass it a copy whose track is offset into record time
and whose markers are moved there, add the FCM header, rewrite event lines in the standard
columns, keep each locator once (the adapter repeats the outgoing clip's under a dissolve),
and restate every timecode as drop or non-drop frame as the film chose (the adapter infers
drop-frame from the rate alone).
"""

from __future__ import annotations

import copy
import re
from fractions import Fraction

import opentimelineio as otio

from racines.edit.text import EDL_TITLE, edl_field
from racines.edit.timecode import is_drop_frame, to_frames, to_timecode


def edl_text(timeline: otio.schema.Timeline, rate: Fraction, drop_frame: bool = False,
             audio: int | None = None) -> str:
    """The picture's EDL; with ``audio`` (0 for A1), that audio track's. The adapter writes only a
    stack's first track, and any audio as channel 'A', so each audio track has an EDL of its own
    whose channel column names its track: A, A2, A3..."""
    writable = copy.deepcopy(timeline)
    track = writable.audio_tracks()[audio] if audio is not None else writable.video_tracks()[0]
    for other in [t for t in writable.tracks if t is not track]:
        writable.tracks.remove(other)
    if audio is not None:  # the adapter wants a video track beside it, and writes the first track
        writable.tracks.append(otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video))
    _one_line_texts(writable)
    start = timeline.global_start_time or otio.opentime.RationalTime(0, float(rate))
    _markers_to_record_time(track, start)
    # A negative track start is how the adapter itself reads a record offset back.
    track.source_range = otio.opentime.TimeRange(-start, track.duration())
    text = otio.adapters.write_to_string(writable, adapter_name="cmx_3600", rate=float(rate), style="avid")
    drop = is_drop_frame(rate, drop_frame)
    fcm = "FCM: DROP FRAME" if drop else "FCM: NON-DROP FRAME"
    lines, seen = [], set()
    for line in text.splitlines():
        if line.startswith("* LOC:"):
            if line in seen:
                continue
            seen.add(line)
        # the adapter writes drop-frame whenever the rate allows it; restate every timecode as chosen
        lines.append(_restate_timecodes(_standard_columns(line, audio_channel(audio)), rate, drop))
    at = 1 if lines and lines[0].startswith("TITLE:") else 0
    lines.insert(at, fcm)
    return "\n".join(lines).rstrip() + "\n"


def _one_line_texts(timeline: otio.schema.Timeline) -> None:
    """An EDL is read line by line: a title, clip name or locator with a line break would add
    lines of its own (an event, a second FCM), so each is written as one bounded line."""
    timeline.name = edl_field(timeline.name, EDL_TITLE)
    for clip in timeline.find_clips():
        clip.name = edl_field(clip.name)
        for marker in clip.markers:
            marker.name, marker.comment = edl_field(marker.name), edl_field(marker.comment)


def _markers_to_record_time(track: otio.schema.Track, start: otio.opentime.RationalTime) -> None:
    for clip in track.find_clips():
        record, media = clip.range_in_parent().start_time, clip.trimmed_range().start_time
        for marker in clip.markers:
            marked = marker.marked_range
            marker.marked_range = otio.opentime.TimeRange(start + record + (marked.start_time - media),
                                                          marked.duration)


TC = r"\d\d:\d\d:\d\d[:;]\d\d"
EVENT = re.compile(rf"^(\d+)\s+(\S+)\s+(\S+)\s+(C|D|W\d+|K|KB|KO)\s+(\d*)\s*({TC})\s+({TC})\s+({TC})\s+({TC})\s*$")


def audio_channel(index: int | None) -> str | None:
    """The channel column of audio track ``index`` (0 for A1): A, A2, A3..."""
    return None if index is None else "A" if index == 0 else f"A{index + 1}"


def _standard_columns(line: str, channels: str | None = None) -> str:
    """Event lines in the CMX 3600 columns: edit, reel (8), channels (4), transition (4), operand (3);
    ``channels``: what the channel column says instead of the adapter's."""
    match = EVENT.match(line)
    if not match:
        return line
    edit, reel, written, transition, operand, *times = match.groups()
    channels = channels or written
    operand = f"{int(operand):03d}" if operand else ""
    return f"{int(edit):03d}  {reel:<8} {channels:<4}  {transition:<4} {operand:>3} {' '.join(times)}"


def _restate_timecodes(line: str, rate: Fraction, drop: bool) -> str:
    if not (EVENT.match(line) or line.startswith("* LOC:")):
        return line
    return re.sub(TC, lambda m: to_timecode(to_frames(m.group(0), rate), rate, drop), line)


def read_edl(text: str, rate: Fraction) -> otio.schema.Timeline:
    return otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=float(rate))
