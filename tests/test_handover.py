"""The editor's hand-over read by tools racines does not write with: pycmx and the `timecode`
library over the EDL, lxml over the FCP 7 XML, pyaaf2 over the AAF, ffprobe over the takes.

For each rate, one tiny film rendered through the CLI: every reader must give the same reels
and the same record and source timecodes for every shot, and the same marker positions on the
record timeline. The drop-frame film starts at 01:00:59;20 so that it crosses 01:01:00;02,
where the frame numbers ;00 and ;01 do not exist.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse

import aaf2
import pycmx
import pytest
from click.testing import CliRunner
from lxml import etree
from timecode import Timecode

from racines.cli import main
from tests.conftest import ffprobe, write_tiny_project

FILMS = {  # id: (frame_rate, timecode_start)
    "24": ("24", "01:00:00:00"),
    "25": ("25", "10:00:00:00"),
    "23.976": ("24000/1001", "00:59:59:00"),   # crosses the hour
    "29.97DF": ("30000/1001", "01:00:59;20"),  # crosses a dropped frame
}
WIDTH, HEIGHT, HANDLES = 112, 64, 4  # 7:4, so that a 16:9 default shows
SHOTS = {  # frames, dissolve into the next
    "s010": (12, 4),
    "s020": (12, 0),
    "s030": (10, 0),
}
UMID_LABEL = [0x06, 0x0A, 0x2B, 0x34]  # a SMPTE UMID starts with this universal label


def run(root, *args):
    return CliRunner().invoke(main, ["--project", str(root), *args])


def project(root: Path, rate: str, start: str) -> Path:
    film = (f'title: Hand Over\nframe_rate: "{rate}"\nresolution: {WIDTH}x{HEIGHT}\n'
            f'timecode_start: "{start}"\nhandles: {HANDLES}\ncut: [{", ".join(SHOTS)}]\n')
    photos = ["grid", "bloom", "grid"]
    shots = {}
    for (shot, (frames, dissolve)), photo in zip(SHOTS.items(), photos):
        transition = f"transition: {{dissolve: {dissolve}}}\n" if dissolve else ""
        shots[shot] = (f"source: {{photo: photos/{photo}.png, contributor: Amina, consent: granted}}\n"
                       f"duration: {frames}\ngenerator: {{kind: still}}\n{transition}")
    return write_tiny_project(root, shots, film)


# --- timecode, through the `timecode` library only ------------------------------------------

TC_RATES = {Fraction(24): "24", Fraction(25): "25", Fraction(24000, 1001): "23.976", Fraction(30000, 1001): "29.97"}


@dataclass(frozen=True)
class Clock:
    rate: Fraction
    drop: bool

    def frames(self, text: str) -> int:
        assert (";" in text) == self.drop, f"{text}: drop-frame is {self.drop}"
        return Timecode(TC_RATES[self.rate], text, force_non_drop_frame=not self.drop).frame_number

    def text(self, frames: int) -> str:
        return str(Timecode(TC_RATES[self.rate], frames=frames + 1, force_non_drop_frame=not self.drop))


@dataclass(frozen=True)
class Span:
    """What a shot shows, dissolves included: its reel, record and source timecodes."""

    reel: str
    record_in: str
    record_out: str
    source_in: str
    source_out: str


@dataclass(frozen=True)
class Handover:
    root: Path
    clock: Clock
    start: str
    stem: str
    takes: dict[str, dict]      # shot -> ffprobe of its take's media

    def path(self, suffix: str) -> Path:
        return self.root / "edl" / f"{self.stem}.{suffix}"


@pytest.fixture(scope="module", params=list(FILMS))
def handover(request, tmp_path_factory) -> Handover:
    rate, start = FILMS[request.param]
    root = project(tmp_path_factory.mktemp("handover") / "film", rate, start)
    result = run(root, "render", "--no-master")
    assert result.exit_code == 0, result.output
    result = run(root, "edl")  # the AAF
    assert result.exit_code == 0, result.output
    takes = {shot: ffprobe(root / "renders" / "takes" / shot / "v001" / f"{shot}_v001.mov") for shot in SHOTS}
    return Handover(root, Clock(Fraction(rate), ";" in start), start, "hand_over", takes)


def tmcd(probe: dict) -> dict:
    return next(s for s in probe["streams"] if s["codec_tag_string"] == "tmcd")["tags"]


def expected(h: Handover) -> tuple[list[Span], list[str]]:
    """From the shot files alone: each shot shows its take's frames after the head handle, and
    overlaps the next shot by the dissolve; its marker sits at its cut, mid-dissolve."""
    clock, spans, markers = h.clock, [], []
    record = clock.frames(h.start)
    incoming = 0
    for shot, (frames, dissolve) in SHOTS.items():
        tags = tmcd(h.takes[shot])
        source = clock.frames(tags["timecode"]) + HANDLES
        spans.append(Span(tags["reel_name"], clock.text(record), clock.text(record + frames),
                          clock.text(source), clock.text(source + frames)))
        markers.append(clock.text(record + incoming // 2))
        record += frames - dissolve
        incoming = dissolve
    return spans, markers


# --- the readers ---------------------------------------------------------------------------

def edl_spans(text: str, clock: Clock) -> list[Span]:
    """A dissolve is a zero-length cut on the outgoing reel then a D event: the outgoing shot
    goes on under the dissolve for its length."""
    raw: list[list] = []
    for event in pycmx.parse_cmx3600(io.StringIO(text)).events:
        for edit in event.edits:
            fields = [edit.source, *(clock.frames(t) for t in (edit.record_in, edit.record_out,
                                                               edit.source_in, edit.source_out))]
            if edit.transition.kind == pycmx.Transition.Dissolve:
                length = edit.transition.effect_duration
                raw[-1][2] += length
                raw[-1][4] += length
            if fields[1] != fields[2]:
                raw.append(fields)
    return [Span(reel, *(clock.text(f) for f in rest)) for reel, *rest in raw]


def edl_markers(text: str, clock: Clock) -> list[str]:
    found = re.findall(r"^\* LOC: (\d\d:\d\d:\d\d[:;]\d\d) ", text, flags=re.M)
    return [clock.text(clock.frames(t)) for t in found]


def xml_timecode(element, clock: Clock) -> int:
    """A <timecode>'s frame, after checking its string, display format and rate agree with it."""
    frame = int(element.findtext("frame"))
    assert element.findtext("displayformat") == ("DF" if clock.drop else "NDF")
    assert element.findtext("string") == clock.text(frame)
    assert int(element.findtext("rate/timebase")) == round(clock.rate)
    assert element.findtext("rate/ntsc") == ("TRUE" if clock.rate.denominator == 1001 else "FALSE")
    return frame


def xml_spans(path: Path, clock: Clock) -> tuple[list[Span], list[str], list]:
    tree = etree.parse(str(path))
    sequence = tree.find(".//sequence")
    start = xml_timecode(sequence.find("timecode"), clock)
    files = {f.get("id"): f for f in tree.iter("file") if f.find("pathurl") is not None}
    items = list(sequence.find("media/video/track"))
    spans, markers = [], []
    for index, item in enumerate(items):
        if item.tag != "clipitem":
            continue
        record_in, record_out = int(item.findtext("start")), int(item.findtext("end"))
        if record_in == -1:  # it starts under a transition
            record_in = int(items[index - 1].findtext("start"))
        if record_out == -1:
            record_out = int(items[index + 1].findtext("end"))
        file = files[item.find("file").get("id")]
        source = xml_timecode(file.find("timecode"), clock)
        source_in, source_out = int(item.findtext("in")), int(item.findtext("out"))
        reel = file.findtext("timecode/reel/name")
        spans.append(Span(reel, clock.text(start + record_in), clock.text(start + record_out),
                          clock.text(source + source_in), clock.text(source + source_out)))
        # clip markers count in the clip's media frames
        markers += [clock.text(start + record_in + int(m.findtext("in")) - source_in) for m in item.iter("marker")]
    return spans, markers, list(files.values())


def tape_of(clip) -> tuple:
    """The tape SourceMob a clip comes from, and the clip's start on it."""
    offset = clip.start
    while not (isinstance(clip.mob, aaf2.mobs.SourceMob) and isinstance(clip.mob.descriptor, aaf2.essence.TapeDescriptor)):
        clip = clip.mob.slot_at(clip.slot_id).segment
        offset += clip.start
    return clip.mob, offset


def aaf_spans(path: Path, clock: Clock) -> tuple[list[Span], int]:
    """Record timecode from the composition's Timecode; source timecode from the tape's,
    following CompositionMob -> MasterMob -> file SourceMob -> tape SourceMob."""
    with aaf2.open(str(path), "r") as f:
        composition = next(f.content.compositionmobs())
        picture = next(s for s in composition.slots if s.media_kind == "Picture")
        timecode = next(s for s in composition.slots if s.media_kind == "Timecode").segment
        assert timecode["Drop"].value == clock.drop and timecode["FPS"].value == round(clock.rate)
        assert picture.edit_rate == clock.rate
        sequence = picture.segment
        spans, position = [], 0
        for component in sequence.components:
            if isinstance(component, aaf2.components.Transition):
                position -= component.length
                continue
            tape, offset = tape_of(component)
            tape_tc = next(s for s in tape.slots if s.media_kind == "Timecode").segment
            assert tape_tc["Drop"].value == clock.drop and tape_tc["FPS"].value == round(clock.rate)
            source = tape_tc["Start"].value + offset
            record = timecode["Start"].value + position
            spans.append(Span(tape.name, clock.text(record), clock.text(record + component.length),
                              clock.text(source), clock.text(source + component.length)))
            position += component.length
        return spans, sequence.length


# --- every reader agrees ----------------------------------------------------------------------

def test_every_reader_gives_the_same_reels_and_timecodes(handover):
    h = handover
    spans, _ = expected(h)
    assert edl_spans(h.path("edl").read_text(), h.clock) == spans
    assert xml_spans(h.path("xml"), h.clock)[0] == spans
    aaf, _ = aaf_spans(h.path("aaf"), h.clock)
    assert aaf == spans


def test_locators_sit_on_the_record_timeline(handover):
    """NLEs place an EDL's LOC on the record timeline: at each shot's cut, where the XML's
    clip markers (counted in media frames) land too."""
    h = handover
    _, markers = expected(h)
    assert edl_markers(h.path("edl").read_text(), h.clock) == markers
    assert xml_spans(h.path("xml"), h.clock)[1] == markers


def test_takes_carry_drop_frame_timecode_when_the_film_does(handover):
    h = handover
    for probe in h.takes.values():
        video = next(s for s in probe["streams"] if s["codec_type"] == "video")
        for tags in (tmcd(probe), video["tags"]):
            assert (";" in tags["timecode"]) == h.clock.drop, tags
    head = h.path("edl").read_text().splitlines()[1]
    assert head == ("FCM: DROP FRAME" if h.clock.drop else "FCM: NON-DROP FRAME")


def test_aaf_sequence_descriptors_and_mob_ids(handover):
    h = handover
    _, length = aaf_spans(h.path("aaf"), h.clock)
    film_frames = sum(frames - dissolve for frames, dissolve in SHOTS.values())
    assert length == film_frames
    probes = {p["format"]["filename"]: p for p in h.takes.values()}
    with aaf2.open(str(h.path("aaf")), "r") as f:
        for mob in f.content.mobs:
            assert list(mob.mob_id.SMPTELabel[:4]) == UMID_LABEL, (mob.name, mob.mob_id)
        masters = list(f.content.mastermobs())
        assert sorted(m.name for m in masters) == [f"{s}_v001" for s in SHOTS]
        descriptors = [m.descriptor for m in f.content.sourcemobs()
                       if isinstance(m.descriptor, aaf2.essence.CDCIDescriptor)]
        assert len(descriptors) == len(SHOTS)
        for descriptor in descriptors:
            url = descriptor["Locator"].value[0]["URLString"].value
            assert url.startswith("file:///")
            probe = probes[unquote(urlparse(url).path)]
            video = next(s for s in probe["streams"] if s["codec_type"] == "video")
            assert (descriptor["StoredWidth"].value, descriptor["StoredHeight"].value) == (video["width"], video["height"])
            assert descriptor["ComponentWidth"].value == int(video["bits_per_raw_sample"]) == 10
            assert video["pix_fmt"] == "yuv422p10le" and descriptor["HorizontalSubsampling"].value == 2
            assert descriptor["ImageAspectRatio"].value == Fraction(video["width"], video["height"])
            assert descriptor["SampleRate"].value == h.clock.rate


def test_xml_names_reels_sizes_and_absolute_file_urls(handover):
    h = handover
    _, _, files = xml_spans(h.path("xml"), h.clock)
    reels = {tmcd(p)["reel_name"] for p in h.takes.values()}
    assert {f.findtext("timecode/reel/name") for f in files} == reels
    for file in files:
        url = file.findtext("pathurl")
        assert url.startswith("file:///")
        probe = ffprobe(Path(unquote(urlparse(url).path)))
        video = next(s for s in probe["streams"] if s["codec_type"] == "video")
        assert int(file.findtext("media/video/samplecharacteristics/width")) == video["width"]
        assert int(file.findtext("media/video/samplecharacteristics/height")) == video["height"]
    sequence = etree.parse(str(h.path("xml"))).find(".//sequence")
    assert sequence.findtext("timecode/string") == h.start
    assert int(sequence.findtext("media/video/format/samplecharacteristics/width")) == WIDTH


@pytest.mark.parametrize("suffix", ["edl", "xml", "otio", "aaf"])
def test_conform_reads_every_export_back_as_the_same_cut(handover, suffix):
    result = run(handover.root, "conform", str(handover.path(suffix)), "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "the cut matches the shot files: nothing to change"


@pytest.mark.parametrize("handover", ["29.97DF"], indirect=True)
def test_bundle_points_its_xml_and_aaf_at_its_own_media(handover, tmp_path):
    h = handover
    bundle = tmp_path / "hand over"  # a space, to be percent-encoded
    result = run(h.root, "edl", "--bundle", str(bundle))
    assert result.exit_code == 0, result.output
    _, _, files = xml_spans(bundle / f"{h.stem}.xml", h.clock)
    for file in files:
        url = file.findtext("pathurl")
        assert url.startswith("file:///") and " " not in url and "hand%20over" in url
        path = Path(unquote(urlparse(url).path))
        assert path.parent == bundle / "media" and path.is_file()
    with aaf2.open(str(bundle / f"{h.stem}.aaf"), "r") as f:
        urls = [m.descriptor["Locator"].value[0]["URLString"].value for m in f.content.sourcemobs()
                if isinstance(m.descriptor, aaf2.essence.CDCIDescriptor)]
    assert urls and all(Path(unquote(urlparse(u).path)).parent == bundle / "media" for u in urls)
    result = run(h.root, "conform", str(bundle / f"{h.stem}.xml"), "--dry-run")
    assert result.output.strip() == "the cut matches the shot files: nothing to change"


def test_a_drop_frame_start_is_labelled_drop_frame_in_the_xml_and_the_aaf(tmp_path):
    """01:00:40;00 is frame 109092, which non-drop-frame labels 01:00:36:12."""
    import opentimelineio as otio

    from racines.edit.exports import export_texts, write_aaf

    rate = Fraction(30000, 1001)
    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    timeline = otio.schema.Timeline("DF", global_start_time=otio.opentime.from_timecode("01:00:40;00", float(rate)))
    timeline.metadata["racines"] = {"frame_rate": "30000/1001", "timecode_start": "01:00:40;00",
                                    "width": WIDTH, "height": HEIGHT}
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    media = otio.schema.ExternalReference(target_url="a.mov", available_range=TR(RT(0, float(rate)), RT(20, float(rate))))
    clip = otio.schema.Clip(name="s010_v001", media_reference=media, source_range=TR(RT(4, float(rate)), RT(12, float(rate))))
    clip.metadata["cmx_3600"] = {"reel": "RTEST001"}
    track.append(clip)
    xml = export_texts(timeline, rate, True, tmp_path)["xml"]
    timecode = etree.fromstring(xml.encode()).find(".//sequence/timecode")
    assert (timecode.findtext("string"), timecode.findtext("frame"), timecode.findtext("displayformat")) == \
        ("01:00:40;00", "109092", "DF")
    write_aaf(timeline, tmp_path / "f.aaf")
    with aaf2.open(str(tmp_path / "f.aaf"), "r") as f:
        composition = next(f.content.compositionmobs())
        segment = next(s for s in composition.slots if s.media_kind == "Timecode").segment
        assert (segment["Start"].value, segment["FPS"].value, segment["Drop"].value) == (109092, 30, True)
        assert [m.name for m in f.content.sourcemobs() if isinstance(m.descriptor, aaf2.essence.TapeDescriptor)] == \
            ["RTEST001"]
