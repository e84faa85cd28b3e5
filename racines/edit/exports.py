"""Write the timeline for the NLEs: .otio (Resolve reads it natively), CMX 3600 .edl, FCP 7
.xml (Premiere, Resolve) and .aaf (Avid). OTIO's adapters do the writing, on copies, since
they mutate what they are given; racines mends the EDL (see racines.edit.edl) and gives the
AAF writer what it needs but cannot make itself: a dissolve's operation definition, and a
MobID per take derived from its reel, so that exports are stable."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from racines.edit.edl import edl_text
from racines.core.atomic import atomic_path

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
    # the XML adapter mutates what it writes: a copy either way
    xml_timeline = copy.deepcopy(timeline) if portable else with_media_urls(
        timeline, lambda url: (media_base / url).resolve().as_uri())
    return {
        "otio": otio.adapters.write_to_string(timeline, "otio_json"),
        "edl": edl_text(timeline, rate, drop_frame),
        "xml": otio.adapters.write_to_string(xml_timeline, "fcp_xml"),
    }


def write_if_changed(path: Path, text: str) -> bool:
    """Leave an identical file alone, so an NLE watching it sees no change."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return True


def write_aaf(timeline: otio.schema.Timeline, path: Path) -> Path:
    import aaf2
    from aaf2.model.datadefs import OperationDefs

    dissolve = next(key for key, (name, _) in OperationDefs.items() if name == "OperationDef_VideoDissolve")
    ready = copy.deepcopy(timeline)
    for transition in ready.find_children(descended_from_type=otio.schema.Transition):
        transition.metadata["AAF"] = {
            "PointList": [{"Value": 0.0, "Time": 0.0}, {"Value": 1.0, "Time": 1.0}],
            "OperationGroup": {"Operation": {
                "DataDefinition": {"Name": "Picture"}, "Description": "Video Dissolve", "Name": "VideoDissolve",
                "Identification": dissolve, "IsTimeWarp": False, "Bypass": 1, "NumberInputs": 2,
                "OperationCategory": "OperationCategory_Effect"}},
            "CutPoint": round(transition.in_offset.value),
        }
    for clip in ready.find_clips():
        mob = aaf2.mobid.MobID()
        mob.material = uuid.uuid5(uuid.NAMESPACE_URL, f"racines:reel:{clip.metadata['racines']['reel']}")
        clip.metadata["AAF"] = {"SourceID": str(mob)}
    with atomic_path(path) as tmp:
        otio.adapters.write_to_file(ready, str(tmp.with_suffix(".aaf")), adapter_name="AAF")
        tmp.with_suffix(".aaf").replace(tmp)
    return path
