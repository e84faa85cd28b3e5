"""Write the timeline for the NLEs: .otio (Resolve reads it natively), CMX 3600 .edl, FCP 7
.xml (Premiere, Resolve). OTIO's adapters do the writing, on copies, since they mutate what
they are given; racines mends the EDL (see racines.edit.edl)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from racines.edit.edl import edl_text
from racines.takes.atomic import atomic_path

FORMATS = ("otio", "edl", "xml")


def with_media_urls(timeline: otio.schema.Timeline, url_of: Callable[[str], str]) -> otio.schema.Timeline:
    """A copy whose media references are rewritten (relative for bundles, file URLs for XML)."""
    copied = copy.deepcopy(timeline)
    for clip in copied.find_clips():
        reference = clip.media_reference
        if isinstance(reference, otio.schema.ExternalReference):
            reference.target_url = url_of(reference.target_url)
    return copied


def export_texts(timeline: otio.schema.Timeline, rate: Fraction, drop_frame: bool,
                 media_base: Path, portable: bool) -> dict[str, str]:
    """The timeline in every text format. Media URLs in the .otio and the EDL stay relative to
    ``media_base``; the XML gets absolute file URLs (what Premiere relinks) unless ``portable``."""
    xml_timeline = timeline if portable else with_media_urls(
        timeline, lambda url: (media_base / url).resolve().as_uri())
    return {
        "otio": otio.adapters.write_to_string(timeline, "otio_json"),
        "edl": edl_text(timeline, rate, drop_frame),
        "xml": otio.adapters.write_to_string(copy.deepcopy(xml_timeline), "fcp_xml"),
    }


def write_if_changed(path: Path, text: str) -> bool:
    """Leave an identical file alone, so an NLE watching it sees no change."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return True
