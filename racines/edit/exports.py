"""Write the timeline for the NLEs: .otio (Resolve reads it natively), CMX 3600 .edl, FCP 7
.xml (Premiere, Resolve) and .aaf (Avid). OTIO's adapters do the writing, on copies, since
they mutate what they are given; racines mends what they get wrong (the EDL: see
racines.edit.edl) or leave out:

- FCP 7 XML (otio-fcp-adapter 1.0): every timecode is written non-drop-frame (it takes the
  drop flag only from an XML it read), so a drop-frame film's sequence reads
  ``01:00:36:12 NDF`` for 01:00:40;00 (frame 109092); files carry no reel; every file is said
  to have sound, and no frame size is given. racines restates every ``<timecode>`` from its
  frame count, adds ``<reel><name>`` to each file's timecode, and the frame size and rate as
  ``<samplecharacteristics>`` of each file and of the sequence's format. Media paths are
  absolute, percent-encoded ``file://`` URLs: NLEs do not relink relative ones reliably.
- AAF (otio-aaf-adapter 2.0): the composition's video Sequence is left at Length 0; tape
  mobs are named after the clip, not the reel; their Timecode is drop-frame at every
  non-integer rate (23.976 included) and the composition's never is; file descriptors say
  1920x1080 8-bit 16:9 unless told. racines gives the adapter a dissolve's operation
  definition, each take's descriptor (its size, 10-bit 4:2:2) and a MasterMob ID per take
  derived from its reel (a SMPTE UMID, so that exports are stable), then sets the Sequence's
  length, the tape names and every Timecode's drop flag in the written file with pyaaf2.
"""

from __future__ import annotations

import copy
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from racines.core.atomic import atomic_path
from racines.edit.edl import edl_text
from racines.edit.sound_exports import (
    aaf_descriptor,
    audio_edl_suffixes,
    recordings_by_url,
    xml_audio_media,
    xml_sequence_audio,
)
from racines.edit.timecode import is_drop_frame, nominal_fps, to_timecode

FORMATS = ("otio", "edl", "xml")

# takes are ProRes 422 HQ in yuv422p10le (racines.media.presets.prores_hq): 10 bits, 4:2:2
TAKE_COMPONENT_BITS = 10
TAKE_HORIZONTAL_SUBSAMPLING = 2
# 10-bit video range, as the takes are tagged (range=tv)
TAKE_BLACK, TAKE_WHITE, TAKE_COLOR_RANGE = 64, 940, 897


def with_media_urls(timeline: otio.schema.Timeline, url_of: Callable[[str], str]) -> otio.schema.Timeline:
    """A copy whose media references are rewritten (relative for bundles, file URLs for XML)."""
    copied = copy.deepcopy(timeline)
    for clip in copied.find_clips():
        reference = clip.media_reference
        if isinstance(reference, otio.schema.ExternalReference):
            reference.target_url = url_of(reference.target_url)
    return copied


def file_url(url: str, media_base: Path) -> str:
    """An absolute, percent-encoded file URL for a path relative to ``media_base``."""
    return url if "://" in url else (media_base / url).resolve().as_uri()


def export_texts(timeline: otio.schema.Timeline, rate: Fraction, drop_frame: bool,
                 media_base: Path, portable: bool = False) -> dict[str, str]:
    """The timeline in every text format. Media URLs in the .otio and the EDL stay as they are
    (relative to ``media_base``); the XML gets them as absolute file URLs under ``media_base``.
    ``portable`` (a bundle) changes nothing: a bundle's XML points at its own media folder."""
    return {
        "otio": otio.adapters.write_to_string(timeline, "otio_json"),
        "edl": edl_text(timeline, rate, drop_frame),
        "xml": xml_text(timeline, rate, drop_frame, media_base),
        # each audio track has its EDL (the adapter writes one track of a stack)
        **{suffix: edl_text(timeline, rate, drop_frame, audio=index)
           for index, suffix in enumerate(audio_edl_suffixes(timeline))},
    }


def write_if_changed(path: Path, text: str) -> bool:
    """Leave an identical file alone, so an NLE watching it sees no change."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return True


def _reel(clip: otio.schema.Clip) -> str | None:
    return (clip.metadata.get("racines") or {}).get("reel") or (clip.metadata.get("cmx_3600") or {}).get("reel")


def _frame_size(timeline: otio.schema.Timeline) -> tuple[int, int] | None:
    meta = timeline.metadata.get("racines") or {}
    return (int(meta["width"]), int(meta["height"])) if "width" in meta and "height" in meta else None


# --- FCP 7 XML ------------------------------------------------------------------------------

def xml_text(timeline: otio.schema.Timeline, rate: Fraction, drop_frame: bool, media_base: Path) -> str:
    absolute = with_media_urls(timeline, lambda url: file_url(url, media_base))
    reels = {clip.media_reference.target_url: _reel(clip) for clip in absolute.find_clips()
             if isinstance(clip.media_reference, otio.schema.ExternalReference)}
    text = otio.adapters.write_to_string(absolute, "fcp_xml")
    return _mend_xml(text, rate, is_drop_frame(rate, drop_frame), reels, _frame_size(timeline),
                     recordings_by_url(absolute))


def _mend_xml(text: str, rate: Fraction, drop: bool, reels: dict[str, str | None],
              size: tuple[int, int] | None, recordings: dict[str, dict] | None = None) -> str:
    """``recordings``: the audio clips' media by URL (racines.edit.sound_exports)."""
    recordings = recordings or {}
    root = ET.fromstring(text)
    for timecode in root.iter("timecode"):
        frame = int(timecode.findtext("frame", "0"))
        timecode.find("string").text = to_timecode(frame, rate, drop)
        timecode.find("displayformat").text = "DF" if drop else "NDF"
    for file in root.iter("file"):
        url = file.findtext("pathurl")
        if url is None:  # a later mention of a file, by id
            continue
        reel = reels.get(url)
        if reel and file.find("timecode") is not None:
            ET.SubElement(ET.SubElement(file.find("timecode"), "reel"), "name").text = reel
        media = file.find("media")
        if url in recordings and media is not None:
            xml_audio_media(media, recordings[url])
        elif size and media is not None:
            media.clear()  # the takes have no sound
            _sample_characteristics(ET.SubElement(media, "video"), rate, size)
    if recordings:
        xml_sequence_audio(root)
    if size:
        for video_format in root.iterfind("./project/children/sequence/media/video/format"):
            video_format.clear()
            _sample_characteristics(video_format, rate, size)
    ET.indent(root, space="    ")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n'
            + ET.tostring(root, encoding="unicode") + "\n")


def _sample_characteristics(parent: ET.Element, rate: Fraction, size: tuple[int, int]) -> None:
    characteristics = ET.SubElement(parent, "samplecharacteristics")
    rate_element = ET.SubElement(characteristics, "rate")
    ET.SubElement(rate_element, "timebase").text = str(nominal_fps(rate))
    ET.SubElement(rate_element, "ntsc").text = "FALSE" if rate.denominator == 1 else "TRUE"
    for tag, value in (("width", size[0]), ("height", size[1]), ("anamorphic", "FALSE"),
                       ("pixelaspectratio", "square"), ("fielddominance", "none")):
        ET.SubElement(characteristics, tag).text = str(value)


# --- AAF ------------------------------------------------------------------------------------

def _umid(reel: str) -> str:
    """A MasterMob ID that names the reel: a SMPTE UMID label, a material number from it."""
    import aaf2

    mob_id = aaf2.mobid.MobID.new()
    mob_id.material = uuid.uuid5(uuid.NAMESPACE_URL, f"racines:reel:{reel}")
    return str(mob_id)


def write_aaf(timeline: otio.schema.Timeline, path: Path, media_base: Path | None = None,
              drop_frame: bool | None = None) -> Path:
    """``media_base``: the folder the media URLs are relative to (default: the AAF's own);
    ``drop_frame``: default, from the film's start timecode in the timeline's metadata."""
    from aaf2.model.datadefs import OperationDefs

    meta = timeline.metadata.get("racines") or {}
    rate = Fraction(meta["frame_rate"]) if "frame_rate" in meta else \
        Fraction(next(iter(timeline.find_clips())).duration().rate).limit_denominator(1001)
    if drop_frame is None:
        drop_frame = ";" in meta.get("timecode_start", "")
    drop = is_drop_frame(rate, drop_frame)
    size = _frame_size(timeline)

    dissolve = next(key for key, (name, _) in OperationDefs.items() if name == "OperationDef_VideoDissolve")
    ready = with_media_urls(timeline, lambda url: file_url(url, media_base or path.parent))
    for transition in ready.find_children(descended_from_type=otio.schema.Transition):
        transition.metadata["AAF"] = {
            "PointList": [{"Value": 0.0, "Time": 0.0}, {"Value": 1.0, "Time": 1.0}],
            "OperationGroup": {"Operation": {
                "DataDefinition": {"Name": "Picture"}, "Description": "Video Dissolve", "Name": "VideoDissolve",
                "Identification": dissolve, "IsTimeWarp": False, "Bypass": 1, "NumberInputs": 2,
                "OperationCategory": "OperationCategory_Effect"}},
            "CutPoint": round(transition.in_offset.value),
        }
    reels = {}
    recordings = recordings_by_url(ready)
    for clip in ready.find_clips():
        reel = _reel(clip) or clip.name
        mob_id = _umid(reel)
        reels[mob_id] = reel
        clip.metadata["AAF"] = {"MobID": mob_id}
        if clip.media_reference.target_url in recordings:
            clip.media_reference.metadata["AAF"] = {
                "EssenceDescription": aaf_descriptor(recordings[clip.media_reference.target_url])}
        elif size:
            width, height = size
            clip.media_reference.metadata["AAF"] = {"EssenceDescription": {
                "StoredWidth": width, "StoredHeight": height, "SampledWidth": width, "SampledHeight": height,
                "DisplayWidth": width, "DisplayHeight": height,
                "ImageAspectRatio": str(Fraction(width, height)), "FrameLayout": "FullFrame",
                "ComponentWidth": TAKE_COMPONENT_BITS, "HorizontalSubsampling": TAKE_HORIZONTAL_SUBSAMPLING,
                "BlackReferenceLevel": TAKE_BLACK, "WhiteReferenceLevel": TAKE_WHITE,
                "ColorRange": TAKE_COLOR_RANGE}}
    with atomic_path(path) as tmp:
        written = tmp.with_suffix(".aaf")
        otio.adapters.write_to_file(ready, str(written), adapter_name="AAF")
        _mend_aaf(written, reels, drop, nominal_fps(rate))
        written.replace(tmp)
    return path


def _mend_aaf(path: Path, reels: dict[str, str], drop: bool, fps: int) -> None:
    import aaf2

    def timecodes(mob):
        return [slot.segment for slot in mob.slots if isinstance(slot.segment, aaf2.components.Timecode)]

    with aaf2.open(str(path), "rw") as f:
        for composition in f.content.compositionmobs():
            for slot in composition.slots:
                segment = slot.segment
                if isinstance(segment, aaf2.components.Sequence) and segment.media_kind == "Picture":
                    # transitions overlap their neighbours: they take their length back
                    segment.length = sum(-c.length if isinstance(c, aaf2.components.Transition) else c.length
                                         for c in segment.components)
            for timecode in timecodes(composition):
                timecode["Drop"].value, timecode["FPS"].value = drop, fps
        for master in f.content.mastermobs():
            reel = reels.get(str(master.mob_id))
            clip = master.slots[0].segment
            while isinstance(clip, aaf2.components.SourceClip) and clip.mob is not None:
                mob = clip.mob
                if isinstance(mob, aaf2.mobs.SourceMob) and isinstance(mob.descriptor, aaf2.essence.TapeDescriptor):
                    if reel:
                        mob.name = reel  # what the EDL and the media's timecode track call it
                    for timecode in timecodes(mob):
                        timecode["Drop"].value, timecode["FPS"].value = drop, fps
                    break
                clip = mob.slot_at(clip.slot_id).segment
