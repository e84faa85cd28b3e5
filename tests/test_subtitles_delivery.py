"""The film's subtitles delivered: SRT, WebVTT and IMSC TTML sidecars read back by libraries
racines does not write with (srt, webvtt-py, ttconv, the IMSC HRM validator), the review copy's
mov_text tracks probed and extracted by Debian's ffmpeg, burn-ins drawn or refused, and cues
that follow their voices through the editor's cut."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import srt
import webvtt
from click.testing import CliRunner

from racines.cli import main
from racines.subtitles.formats import PDF, RLE, frame_ms, srt_text, track_language, ttml_text, vtt_text
from racines.subtitles.model import Cue
from tests.conftest import decode_frames, ffprobe, framemd5, top_boxes
from tests.sound_fixtures import sound_project, speech_like, write_wav

W, H = 256, 144
NTSC = Fraction(24000, 1001)

FR = "Ma grand-mère est arrivée à Marseille en 1962, avec une valise."
AR = "وصلت جدتي إلى مرسيليا سنة 1962."


def cues_at(language: str, lines_of: list[tuple[str, ...]], frames: list[tuple[int, int]]) -> list[Cue]:
    return [Cue(start, end, lines, language) for (start, end), lines in zip(frames, lines_of)]


FRAMES = [(1, 49), (86, 120), (121, 400), (86399, 86423)]  # 86399 at 24000/1001: past an hour
LINES = [("Ma grand-mère est arrivée", "à Marseille en 1962."), ("Bonjour & <à bientôt>",), ("« Déjà ? »",),
         ("Fin.",)]


def plain(text: str) -> str:
    return text.replace(RLE, "").replace(PDF, "")


# --- the writers, read back -------------------------------------------------------------------

@pytest.mark.parametrize("rate", [Fraction(24), NTSC, Fraction(25)])
def test_srt_reads_back_with_exact_frame_times(rate):
    cues = cues_at("fr", LINES, FRAMES)
    parsed = list(srt.parse(srt_text(cues, rate)))
    assert len(parsed) == len(cues)
    for subtitle, cue in zip(parsed, cues):
        start_ms, end_ms = (round(t.total_seconds() * 1000) for t in (subtitle.start, subtitle.end))
        assert (start_ms, end_ms) == (frame_ms(cue.start, rate), frame_ms(cue.end, rate))
        # each time falls inside the frame before it: the cue's frame is ceil(ms x rate / 1000), exactly
        assert [math.ceil(Fraction(ms) * rate / 1000) for ms in (start_ms, end_ms)] == [cue.start, cue.end]
        assert subtitle.content.split("\n") == list(cue.lines)


def test_frame_times_round_down_to_the_millisecond():
    assert [frame_ms(f, Fraction(24)) for f in (0, 1, 2, 24)] == [0, 41, 83, 1000]
    assert frame_ms(86, NTSC) == 3586  # 3586.9166...: rounding to the nearest would land in frame 87
    assert srt_text([Cue(86, 87, ("x",), "fr")], NTSC).splitlines()[1] == "00:00:03,586 --> 00:00:03,628"


@pytest.mark.parametrize("rate", [Fraction(24), NTSC])
def test_webvtt_reads_back_with_webvtt_py(rate):
    cues = cues_at("fr", LINES, FRAMES)
    text = vtt_text(cues, rate, "fr")
    captions = webvtt.from_buffer(io.StringIO(text)).captions
    assert len(captions) == len(cues)
    for caption, cue in zip(captions, cues):
        assert (caption.start_in_seconds * 1000 + caption.start_time.milliseconds,
                caption.end_in_seconds * 1000 + caption.end_time.milliseconds) \
            == (frame_ms(cue.start, rate), frame_ms(cue.end, rate))
    # & and < are escaped in the file; a reader gives the text back
    assert "Bonjour &amp; &lt;à bientôt&gt;" in text
    assert captions[1].raw_text == "Bonjour &amp; &lt;à bientôt&gt;"
    assert text.startswith("WEBVTT\nLanguage: fr\n")


def test_right_to_left_lines_are_embedded_in_srt_and_vtt_and_marked_in_ttml():
    cues = [Cue(24, 72, (AR, "Amina, 1962."), "ar")]
    subtitle = next(srt.parse(srt_text(cues, Fraction(24))))
    assert subtitle.content.split("\n") == [f"{RLE}{AR}{PDF}", f"{RLE}Amina, 1962.{PDF}"]
    assert [plain(line) for line in subtitle.content.split("\n")] == list(cues[0].lines)
    ttml = ttml_text(cues, Fraction(24), "ar")
    assert 'tts:direction="rtl"' in ttml and RLE not in ttml
    latin = srt_text([Cue(24, 72, ("Amina",), "fr")], Fraction(24))
    assert RLE not in latin


@pytest.mark.parametrize("rate", [Fraction(24), NTSC])
def test_ttml_is_an_imsc1_document_ttconv_reads_and_the_hrm_accepts(rate, tmp_path):
    import imschrm.hrm
    from imschrm.doc_sequence import iter_isd
    from ttconv.imsc.reader import to_model

    cues = cues_at("fr", LINES, FRAMES)
    text = ttml_text(cues, rate, "fr", "01:00:00:00")
    root = ET.fromstring(text)
    ttp = "{http://www.w3.org/ns/ttml#parameter}"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
    assert root.get(f"{ttp}profile") == "http://www.w3.org/ns/ttml/profile/imsc1/text"
    assert root.get(f"{ttp}frameRate") == "24"
    assert root.get(f"{ttp}frameRateMultiplier") == ("1000 1001" if rate == NTSC else None)
    document = to_model(ET.ElementTree(root))
    assert document.get_lang() == "fr"
    paragraphs = list(document.get_body().first_child())
    assert len(paragraphs) == len(cues)
    for paragraph, cue in zip(paragraphs, cues):
        # ttconv's times are exact seconds: the frames over the rate, no rounding anywhere
        assert (paragraph.get_begin(), paragraph.get_end()) == (cue.start / rate, cue.end / rate)

    class Failed(imschrm.hrm.EventHandler):
        errors: list[str] = []

        def error(self, msg, *args):
            self.errors.append(msg)

    handler = Failed()
    imschrm.hrm.validate(iter_isd([(0, None, text)]), handler, 0)
    assert handler.errors == []


def test_languages_are_tagged_as_mp4_tracks_expect():
    assert [track_language(t) for t in ("fr", "ar", "vi", "fr-FR", "zh-Hant", "fra", "xx")] == \
        ["fra", "ara", "vie", "fra", "zho", "fra", "und"]


def test_bad_cues_are_refused_naming_the_cue():
    with pytest.raises(ValueError, match="from frame 10 to 10"):
        srt_text([Cue(10, 10, ("x",), "fr", source="sound/a.fr.vtt", line=4)], Fraction(24))


# --- a film with a voice and its transcripts, rendered ---------------------------------------

VOICE = "  - {file: sound/amina_fr.wav, speaker: Amina, consent: granted, language: fr, offset: 6}\n"


def transcript(language: str, text: str, translated_from: str = "") -> str:
    header = f"WEBVTT\nLanguage: {language}\nOrigin: typed\n" + (f"Translated-From: {translated_from}\n"
                                                                if translated_from else "")
    return header + f"\n00:00:00.000 --> 00:00:01.400\n{text}\n"


def run(root: Path, *args: str, code: int = 0):
    result = CliRunner().invoke(main, ["--project", str(root), *args])
    assert result.exit_code == code, result.output
    return result


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    root = sound_project(tmp_path_factory.mktemp("subtitles") / "film", shots={"s010": 48, "s020": 48, "s030": 24, "s040": 24},
                         shot_sound={"s020": VOICE})
    film = root / "shots" / "film.yaml"
    film.write_text(film.read_text().replace("64x64", f"{W}x{H}") + "subtitles: {languages: [fr, ar]}\n")
    write_wav(root / "shots" / "sound" / "amina_fr.wav", speech_like(1.5, seed=1))
    (root / "shots" / "sound" / "amina_fr.fr.vtt").write_text(transcript("fr", "Bonjour, je m'appelle Amina."))
    (root / "shots" / "sound" / "amina_fr.ar.vtt").write_text(transcript("ar", "مرحبا، اسمي أمينة.", "fr"))
    run(root, "render", "--no-master")
    return root


def film_cues_of(root: Path, language: str) -> list[Cue]:
    from racines.pipeline import cut_timeline, load, selected_takes
    from racines.subtitles.cues import film_cues
    from racines.subtitles.rules import rules_of

    film = load(root)
    return film_cues(film, cut_timeline(film, selected_takes(film)), language, rules_of(film))


def test_sidecars_beside_the_edl_hold_the_films_cues(rendered):
    edl = rendered / "edl"
    for language in ("fr", "ar"):
        cues = film_cues_of(rendered, language)
        assert len(cues) == 1 and cues[0].start >= 48  # the voice starts 6 frames into s020
        parsed = list(srt.parse((edl / f"sound_test.{language}.srt").read_text(encoding="utf-8")))
        assert [(round(s.start.total_seconds() * 1000), round(s.end.total_seconds() * 1000)) for s in parsed] == \
            [(frame_ms(c.start, Fraction(24)), frame_ms(c.end, Fraction(24))) for c in cues]
        captions = webvtt.read(str(edl / f"sound_test.{language}.vtt")).captions
        assert [plain(c.text) for c in captions] == [c.text for c in cues]
        from ttconv.imsc.reader import to_model

        document = to_model(ET.parse(edl / f"sound_test.{language}.ttml"))
        assert document.get_lang() == language
        assert [(p.get_begin(), p.get_end()) for p in document.get_body().first_child()] == \
            [(Fraction(c.start, 24), Fraction(c.end, 24)) for c in cues]
    assert "Bonjour" in (edl / "sound_test.fr.srt").read_text() and "أمينة" in (edl / "sound_test.ar.srt").read_text()
    timeline = otio.adapters.read_from_file(str(edl / "sound_test.otio"))
    assert timeline.metadata["racines"]["subtitles"]["ar"]["ttml"] == "sound_test.ar.ttml"


def test_the_editors_bundle_carries_the_sidecars_beside_its_timeline(rendered, tmp_path):
    run(rendered, "edl", "--bundle", str(tmp_path / "handover"))
    for language in ("fr", "ar"):
        for suffix in ("srt", "vtt", "ttml"):
            name = f"sound_test.{language}.{suffix}"
            assert (tmp_path / "handover" / name).read_bytes() == (rendered / "edl" / name).read_bytes()
    bundled = otio.adapters.read_from_file(str(tmp_path / "handover" / "sound_test.otio"))
    assert bundled.metadata["racines"]["subtitles"]["fr"]["srt"] == "sound_test.fr.srt"

def test_a_voice_without_a_transcript_in_a_language_is_said_by_the_export(rendered, tmp_path):
    root = tmp_path / "film"
    shutil.copytree(rendered, root, symlinks=True)
    film = root / "shots" / "film.yaml"
    film.write_text(film.read_text().replace("languages: [fr, ar]", "languages: [fr, ar, vi]"))
    result = run(root, "edl")
    assert "no vi transcript for the voice of" in result.stderr and "sound/amina_fr.vi.vtt" in result.stderr
    assert not (root / "edl" / "sound_test.vi.srt").exists()

def subtitle_streams(path: Path) -> list[dict]:
    return [s for s in ffprobe(path)["streams"] if s["codec_type"] == "subtitle"]


def extracted_srt(path: Path, index: int, folder: Path) -> list[srt.Subtitle]:
    out = folder / f"track{index}.srt"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-map", f"0:s:{index}", str(out)], check=True)
    return list(srt.parse(out.read_text(encoding="utf-8")))


def test_the_review_copy_carries_a_mov_text_track_per_language(rendered, tmp_path):
    review = rendered / "renders" / "sound_test_review.mp4"
    streams = subtitle_streams(review)
    assert [(s["codec_name"], s["codec_tag_string"], s["tags"]["language"], s["disposition"]["default"])
            for s in streams] == [("mov_text", "tx3g", "fra", 1), ("mov_text", "tx3g", "ara", 0)]
    for index, language in enumerate(("fr", "ar")):
        sidecar = list(srt.parse((rendered / "edl" / f"sound_test.{language}.srt").read_text(encoding="utf-8")))
        assert extracted_srt(review, index, tmp_path) == sidecar
    assert not subtitle_streams(rendered / "renders" / "sound_test_review.mp4") == []


def test_new_subtitles_alone_remux_the_review_copy_without_encoding(rendered, tmp_path):
    root = tmp_path / "film"
    shutil.copytree(rendered, root, symlinks=True)
    review = root / "renders" / "sound_test_review.mp4"
    picture, sound = framemd5(review), subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(review), "-map", "0:a", "-c", "copy", "-f", "md5", "-"],
        capture_output=True, text=True, check=True).stdout
    vtt = root / "shots" / "sound" / "amina_fr.ar.vtt"
    vtt.write_text(vtt.read_text(encoding="utf-8").replace("مرحبا", "أهلا"), encoding="utf-8")
    result = run(root, "render", "--no-master")
    assert "wrote edl/sound_test.ar.srt" in result.output and "edl/sound_test.fr.srt" not in result.output
    assert "new subtitles in renders/sound_test_review.mp4" in result.output
    assert "0 piece(s) of the film encoded" in result.output
    assert framemd5(review) == picture
    assert subprocess.run(["ffmpeg", "-v", "error", "-i", str(review), "-map", "0:a", "-c", "copy", "-f", "md5", "-"],
                          capture_output=True, text=True, check=True).stdout == sound
    assert "أهلا" in extracted_srt(review, 1, tmp_path)[0].content
    assert "unchanged renders/sound_test_review.mp4" in run(root, "render", "--no-master").output
    # a shot patched in place afterwards keeps the tracks as they are
    shot = root / "shots" / "s030.yaml"
    shot.write_text(shot.read_text().replace("photos/grid.png", "photos/bloom.png"))
    run(root, "render", "--no-master")
    assert "free" in top_boxes(review) and framemd5(review) != picture
    assert [s["tags"]["language"] for s in subtitle_streams(review)] == ["fra", "ara"]
    assert "أهلا" in extracted_srt(review, 1, tmp_path)[0].content
    # and a new sound alone remuxes it with its tracks
    voiced = root / "shots" / "s020.yaml"
    voiced.write_text(voiced.read_text().replace("offset: 6}", "offset: 6, gain: -6}"))
    result = run(root, "render", "--no-master")
    assert "new sound in renders/sound_test_review.mp4" in result.output and "edl/sound_test.ar.srt" not in result.output
    assert [s["tags"]["language"] for s in subtitle_streams(review)] == ["fra", "ara"]
    assert "أهلا" in extracted_srt(review, 1, tmp_path)[0].content


def bottom_change(a: Path, b: Path, frame: int) -> tuple[float, float]:
    """The share of pixels that differ by more than 40 grey levels at ``frame``: in the bottom
    third, and in the top half."""
    one, two = (np.frombuffer(decode_frames(p, "gray", W, H)[frame], np.uint8).reshape(H, W).astype(int)
                for p in (a, b))
    changed = np.abs(one - two) > 40
    return changed[2 * H // 3:].mean(), changed[:H // 2].mean()


def test_burn_in_draws_the_arabic_where_the_subtitle_is(rendered, tmp_path):
    root = tmp_path / "film"
    shutil.copytree(rendered, root, symlinks=True)
    result = run(root, "render", "--no-master", "--burn-in", "ar")
    burned = root / "renders" / "sound_test_review.ar.mp4"
    assert "wrote renders/sound_test_review.ar.mp4 (ar subtitles burned in)" in result.output
    assert subtitle_streams(burned) == []
    (cue,) = film_cues_of(root, "ar")
    inside, above = bottom_change(root / "renders" / "sound_test_review.mp4", burned, (cue.start + cue.end) // 2)
    assert inside > 0.01 and above < 0.002
    before, _ = bottom_change(root / "renders" / "sound_test_review.mp4", burned, cue.start - 2)
    assert before < 0.002
    assert "unchanged renders/sound_test_review.ar.mp4" in run(root, "render", "--no-master", "--burn-in", "ar").output
    refused = run(root, "render", "--no-master", "--burn-in", "de", code=2)
    assert "--burn-in de" in refused.output and "fr, ar" in refused.output


def test_burn_in_of_a_script_no_font_covers_fails_and_names_it(rendered, tmp_path):
    from racines.errors import RenderFailed
    from racines.subtitles.deliver import burn_in, write_sidecars

    (sidecar,), _ = write_sidecars(tmp_path, "film", {"zh": [Cue(50, 80, ("我的祖母来自越南",), "zh")]}, Fraction(24))
    output = tmp_path / "film_review.zh.mp4"
    with pytest.raises(RenderFailed) as error:
        burn_in(rendered / "renders" / "sound_test_review.mp4", sidecar, output)
    message = str(error.value)
    assert "'zh'" in message and "U+6211 我" in message and "fonts-noto-cjk" in message
    assert not output.exists() and not list(tmp_path.glob("*.partial*"))


# --- the editor's cut ------------------------------------------------------------------------

def test_cues_follow_their_voice_when_the_editor_moves_the_shot(rendered, tmp_path):
    root = tmp_path / "film"
    shutil.copytree(rendered, root, symlinks=True)
    (before,) = film_cues_of(root, "fr")
    timeline = otio.adapters.read_from_file(str(root / "edl" / "sound_test.otio"))
    video = timeline.video_tracks()[0]
    s020, s030 = video[1], video[2]
    video.remove(s030)
    video.insert(1, s030)  # s030 (24 frames) now plays before s020
    assert [c.name for c in video.find_clips()][1:3] == [s030.name, s020.name]
    for track in timeline.audio_tracks():  # the voice moves with its shot, as an editor's NLE moves it
        for item in track:
            if isinstance(item, otio.schema.Gap) and track.index(item) + 1 < len(track) \
                    and "amina" in track[track.index(item) + 1].name:
                item.source_range = otio.opentime.TimeRange(item.source_range.start_time,
                                                            item.source_range.duration + otio.opentime.RationalTime(24, 24))
    edited = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(edited))
    run(root, "conform", str(edited))
    assert "cut: [s010, s030, s020, s040]" in (root / "shots" / "film.yaml").read_text()
    run(root, "render", "--no-master")
    (after,) = film_cues_of(root, "fr")
    assert (after.start - before.start, after.end - before.end) == (24, 24), (before, after)
    (subtitle,) = srt.parse((root / "edl" / "sound_test.fr.srt").read_text(encoding="utf-8"))
    assert round(subtitle.start.total_seconds() * 1000) == frame_ms(before.start + 24, Fraction(24))
    review = root / "renders" / "sound_test_review.mp4"
    assert round(extracted_srt(review, 0, tmp_path)[0].start.total_seconds() * 1000) == frame_ms(after.start, Fraction(24))
