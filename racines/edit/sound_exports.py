"""The sound in the editor's hand-over: what OTIO's adapters write of the audio tracks, mended.

- FCP 7 XML (otio-fcp-adapter 1.0) leaves every file's ``<media>`` empty of sound (racines'
  mending of the video side gave it the takes' picture): a recording's file gets
  ``<audio>`` with its ``<samplecharacteristics>`` (depth, rate) and ``<channelcount>``, and the
  sequence's sound its format (48 kHz, 24-bit, stereo out), what the mix is.
- AAF (otio-aaf-adapter 2.0) describes every recording as 16-bit mono, and its ``Length`` as
  the media's frames rescaled to 48 kHz by a float truncation (one sample short at
  24000/1001): each recording gets a PCM descriptor of its own rate, channels, depth and exact
  length in samples, from the header racines read.
- CMX 3600 (otio-cmx3600-adapter 1.0) writes only a stack's first track: each audio track has
  its EDL (racines.edit.edl, ``audio=``), named ``<film>.A1.edl``, ``<film>.A2.edl``...
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import opentimelineio as otio

#: what the mix is, as the sequence's sound format says
MIX_RATE, MIX_DEPTH, MIX_CHANNELS = 48000, 24, 2


def recordings_by_url(timeline: otio.schema.Timeline) -> dict[str, dict]:
    """Each audio clip's media URL -> the recording's rate, channels, bits and samples."""
    found = {}
    for track in timeline.audio_tracks():
        for clip in track.find_clips():
            reference = clip.media_reference
            if isinstance(reference, otio.schema.ExternalReference):
                found[reference.target_url] = dict(reference.metadata.get("racines", {}))
    return found


def audio_edl_suffixes(timeline: otio.schema.Timeline) -> list[str]:
    """The suffix of each audio track's EDL, in track order: A1.edl, A2.edl..."""
    return [f"A{index + 1}.edl" for index in range(len(timeline.audio_tracks()))]


def xml_audio_media(media: ET.Element, recording: dict) -> None:
    """A recording's ``<file><media>`` as FCP 7 reads it: sound only."""
    media.clear()
    audio = ET.SubElement(media, "audio")
    characteristics = ET.SubElement(audio, "samplecharacteristics")
    ET.SubElement(characteristics, "depth").text = str(recording.get("bits", 16))
    ET.SubElement(characteristics, "samplerate").text = str(recording.get("sample_rate", MIX_RATE))
    ET.SubElement(audio, "channelcount").text = str(recording.get("channels", 1))


def xml_sequence_audio(root: ET.Element) -> None:
    """The sequence's sound: the mix's format and outputs."""
    for audio in root.iterfind("./project/children/sequence/media/audio"):
        for old in audio.findall("format") + audio.findall("numOutputChannels"):
            audio.remove(old)
        audio.insert(0, ET.Element("numOutputChannels"))
        audio[0].text = str(MIX_CHANNELS)
        sound_format = ET.Element("format")
        characteristics = ET.SubElement(sound_format, "samplecharacteristics")
        ET.SubElement(characteristics, "depth").text = str(MIX_DEPTH)
        ET.SubElement(characteristics, "samplerate").text = str(MIX_RATE)
        audio.insert(1, sound_format)


def aaf_descriptor(recording: dict) -> dict:
    """The PCM descriptor of a recording, its length exact in samples of its own rate."""
    rate, channels, bits = (int(recording.get(key, default)) for key, default in
                            (("sample_rate", MIX_RATE), ("channels", 1), ("bits", 16)))
    align = channels * max(1, bits // 8)
    return {"SampleRate": rate, "AudioSamplingRate": rate, "Channels": channels, "QuantizationBits": bits,
            "BlockAlign": align, "AverageBPS": rate * align, "Length": int(recording.get("samples", 0))}
