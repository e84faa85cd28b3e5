"""Write the timeline as a CMX 3600 EDL through OTIO's adapter, mending what it gets wrong.

The adapter (otio-cmx3600-adapter 1.x) ignores ``global_start_time`` (OTIO issue #1385),
writes no FCM line, and mutates the timeline it is given. We pass it a copy whose track is
offset into record time, and add the FCM header ourselves.
"""

from __future__ import annotations

import copy
from fractions import Fraction

import opentimelineio as otio

DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))


def edl_text(timeline: otio.schema.Timeline, rate: Fraction, drop_frame: bool = False) -> str:
    writable = copy.deepcopy(timeline)
    track = writable.video_tracks()[0]
    start = timeline.global_start_time or otio.opentime.RationalTime(0, float(rate))
    # A negative track start is how the adapter itself reads a record offset back.
    track.source_range = otio.opentime.TimeRange(-start, track.duration())
    text = otio.adapters.write_to_string(writable, adapter_name="cmx_3600", rate=float(rate), style="avid")
    fcm = "FCM: DROP FRAME" if drop_frame and rate in DROP_FRAME_RATES else "FCM: NON-DROP FRAME"
    lines = text.splitlines()
    at = 1 if lines and lines[0].startswith("TITLE:") else 0
    lines.insert(at, fcm)
    return "\n".join(lines).rstrip() + "\n"


def read_edl(text: str, rate: Fraction) -> otio.schema.Timeline:
    return otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=float(rate))
