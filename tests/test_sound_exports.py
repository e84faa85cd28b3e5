"""The sound in the editor's hand-over, read back by tools racines does not write with: OTIO's
readers, lxml over the FCP 7 XML, pyaaf2 over the AAF, pycmx over each audio track's EDL."""

from __future__ import annotations

import io

import aaf2
import opentimelineio as otio
import pycmx
import pytest
from click.testing import CliRunner
from lxml import etree

from racines.cli import main
from racines.edit.audio import sound_reel
from tests.sound_fixtures import music_like, sound_project, speech_like, write_wav

RATE = "24000/1001"
START = "00:59:59:00"
# (recording, track, record frame, frames, samples in the file, channels, role)
CLIPS = [
    # whole frames of the recording: 2 s at 24000/1001 are 47.95 frames, so 47
    ("shots/sound/amina.wav", "A1", 6, 47, 96000, 1, "voice"),      # s010's voice, 6 frames in
    ("shots/sound/bao.wav", "A2", 30, 35, 72000, 1, "voice"),       # over the cut, beside Amina
    ("shots/sound/theme.wav", "A3", 0, 120, 288000, 2, "music"),
]


def run(root, *args):
    result = CliRunner().invoke(main, ["--project", str(root), *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def handed_over(tmp_path_factory):
    root = sound_project(
        tmp_path_factory.mktemp("exports") / "film", RATE, start=START, sound_yaml="""\
voices:
  - {file: sound/bao.wav, speaker: Bao, consent: granted, language: vi, licence: CC BY 4.0, record_in: 30}
music:
  - {file: sound/theme.wav, author: The class, consent: granted, licence: CC0, duration: 120}
""", shot_sound={"s010": "  - {file: sound/amina.wav, speaker: Amina, consent: granted, language: fr, offset: 6}\n"})
    write_wav(root / "shots" / "sound" / "amina.wav", speech_like(2.0))
    write_wav(root / "shots" / "sound" / "bao.wav", speech_like(1.5, seed=4))
    write_wav(root / "shots" / "sound" / "theme.wav", music_like(6.0))
    run(root, "render", "--no-master")
    run(root, "edl")
    return root


def test_the_otio_timeline_has_the_audio_tracks(handed_over):
    timeline = otio.adapters.read_from_file(str(handed_over / "edl" / "sound_test.otio"))
    assert [t.kind for t in timeline.tracks] == ["Video", "Audio", "Audio", "Audio"]
    for relpath, track, record, frames, samples, channels, role in CLIPS:
        (clip,) = {t.name: t for t in timeline.tracks}[track].find_clips()
        assert round(clip.range_in_parent().start_time.value) == record
        assert round(clip.source_range.duration.value) == frames
        assert clip.media_reference.metadata["racines"] == {
            "sample_rate": 48000, "channels": channels, "bits": 16, "samples": samples, "codec": "pcm_s16le"}
        sound = clip.metadata["racines"]["sound"]
        assert (sound["role"], sound["consent"], sound["recording"]) == (role, "granted", relpath)
        assert clip.metadata["cmx_3600"]["reel"] == sound_reel(relpath)


def test_fcp_xml_describes_each_recording_and_reads_back(handed_over):
    path = handed_over / "edl" / "sound_test.xml"
    tree = etree.parse(str(path))
    files = {f.findtext("name"): f for f in tree.iter("file") if f.find("pathurl") is not None}
    for relpath, _, _, _, _, channels, _ in CLIPS:
        audio = files[relpath.rsplit("/", 1)[1]].find("media/audio")
        assert audio.findtext("samplecharacteristics/samplerate") == "48000"
        assert audio.findtext("samplecharacteristics/depth") == "16"
        assert audio.findtext("channelcount") == str(channels)
        assert files[relpath.rsplit("/", 1)[1]].find("media/video") is None
    sequence_audio = tree.find("project/children/sequence/media/audio")
    assert sequence_audio.findtext("format/samplecharacteristics/samplerate") == "48000"
    assert sequence_audio.findtext("numOutputChannels") == "2"
    timeline = otio.adapters.read_from_file(str(path))
    audio = [[(round(c.range_in_parent().start_time.value), round(c.duration().value)) for c in t.find_clips()]
             for t in timeline.audio_tracks()]
    assert audio == [[(record, frames)] for _, _, record, frames, _, _, _ in CLIPS]


def test_aaf_carries_each_recording_at_its_rate_channels_and_exact_length(handed_over):
    path = handed_over / "edl" / "sound_test.aaf"
    with aaf2.open(str(path)) as f:
        (composition,) = f.content.compositionmobs()
        sound = [slot for slot in composition.slots if slot.segment.media_kind == "Sound"]
        assert [slot.name for slot in sound] == ["A1", "A2", "A3"]
        assert [slot.segment.length for slot in sound] == [6 + 47, 30 + 35, 120]
        descriptors = sorted((m.descriptor["Length"].value, m.descriptor["SampleRate"].value,
                              m.descriptor["Channels"].value, m.descriptor["QuantizationBits"].value)
                             for m in f.content.sourcemobs() if isinstance(m.descriptor, aaf2.essence.PCMDescriptor))
    assert descriptors == sorted((samples, 48000, channels, 16) for _, _, _, _, samples, channels, _ in CLIPS)
    timeline = otio.adapters.read_from_file(str(path))
    lengths = sorted(round(c.duration().value) for t in timeline.audio_tracks() for c in t.find_clips())
    assert lengths == sorted(frames for _, _, _, frames, _, _, _ in CLIPS)


def test_each_audio_track_has_an_edl_with_its_channel(handed_over):
    from timecode import Timecode

    start = Timecode("24000/1001", START).frames - 1
    for index, (relpath, track, record, frames, _, _, _) in enumerate(CLIPS):
        text = (handed_over / "edl" / f"sound_test.{track}.edl").read_text()
        (event,) = [e for ev in pycmx.parse_cmx3600(io.StringIO(text)).events for e in ev.edits]
        assert event.source == sound_reel(relpath)
        assert event.channels.get_audio_channel(index + 1) and not event.channels.video
        assert Timecode("24000/1001", event.record_in).frames - 1 == start + record
        assert Timecode("24000/1001", event.record_out).frames - 1 == start + record + frames
        timeline = otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=24000 / 1001)
        (read,) = timeline.audio_tracks()
        assert read.name == ("A1" if index == 0 else track) and round(read.find_clips()[0].duration().value) == frames
    picture = (handed_over / "edl" / "sound_test.edl").read_text()
    assert not any(e.channels.audio for ev in pycmx.parse_cmx3600(io.StringIO(picture)).events for e in ev.edits)


def test_conform_reads_the_cut_back_keeping_the_sound(handed_over, tmp_path):
    import shutil

    root = tmp_path / "film"
    shutil.copytree(handed_over, root, symlinks=True)
    for suffix in ("xml", "otio", "aaf"):
        result = run(root, "conform", str(root / "edl" / f"sound_test.{suffix}"), "--dry-run")
        assert "nothing to change" in result.output, (suffix, result.output)
    # the editor opens s010 4 frames earlier, into its handle: the film's sound keeps its places
    edl = (root / "edl" / "sound_test.edl").read_text()
    timeline = otio.adapters.read_from_string(edl, adapter_name="cmx_3600", rate=24000 / 1001)
    first = timeline.video_tracks()[0].find_clips()[0]
    four = otio.opentime.RationalTime(4, 24000 / 1001)
    first.source_range = otio.opentime.TimeRange(first.source_range.start_time - four,
                                                 first.source_range.duration + four)
    edited = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(edited))
    result = run(root, "conform", str(edited))
    assert "s010" in result.output
    assert "sound:" in (root / "shots" / "s010.yaml").read_text()
    run(root, "edl")
    after = otio.adapters.read_from_file(str(root / "edl" / "sound_test.otio"))
    placed = {c.name: round(c.range_in_parent().start_time.value) for t in after.audio_tracks() for c in t.find_clips()}
    assert placed == {"amina": 6, "bao": 30, "theme": 0}


def test_conform_writes_back_the_sound_the_editor_moved(handed_over, tmp_path):
    import shutil

    root = tmp_path / "film"
    shutil.copytree(handed_over, root, symlinks=True)
    timeline = otio.adapters.read_from_file(str(root / "edl" / "sound_test.otio"))
    rate = 24000 / 1001
    twelve, six = otio.opentime.RationalTime(12, rate), otio.opentime.RationalTime(6, rate)
    # the picture: s010 loses 12 frames at its head; its voice (Amina) stays where it was heard
    first = timeline.video_tracks()[0].find_clips()[0]
    first.source_range = otio.opentime.TimeRange(first.source_range.start_time + twelve,
                                                 first.source_range.duration - twelve)
    tracks = {t.name: t for t in timeline.audio_tracks()}
    gap = tracks["A2"][0]  # Bao comes 6 frames later
    gap.source_range = otio.opentime.TimeRange(gap.source_range.start_time, gap.source_range.duration + six)
    (theme,) = tracks["A3"].find_clips()  # the theme ends with the shorter film
    theme.source_range = otio.opentime.TimeRange(theme.source_range.start_time, theme.source_range.duration - twelve)
    edited = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(edited))
    result = run(root, "conform", str(edited))
    assert "sound: shots/sound.yaml voices.0 (shots/sound/bao.wav): record_in 30 -> 36" in result.output
    assert "sound: shots/sound.yaml music.0 (shots/sound/theme.wav): record_in 0 -> 0, source_in 0 -> 0, 120 -> 108" \
        in result.output
    assert "amina" not in result.output  # it followed nothing: s010 still starts the film
    sound = (root / "shots" / "sound.yaml").read_text()
    assert "record_in: 36" in sound and "duration: 108" in sound
    run(root, "validate")
    run(root, "edl")
    after = otio.adapters.read_from_file(str(root / "edl" / "sound_test.otio"))
    placed = {c.name: (round(c.range_in_parent().start_time.value), round(c.duration().value))
              for t in after.audio_tracks() for c in t.find_clips()}
    assert placed == {"amina": (6, 47), "bao": (36, 35), "theme": (0, 108)}
