"""Cues: the rules, line breaking, graphemes, placement on the timeline, and `racines subtitles check`.

The property tests state what the builder guarantees for any speech at human rates, in
Latin, Arabic and Vietnamese (decomposed, with combining marks), over random cuts: every word
kept in order, and the rules that always hold (lines, widths, whole frames, start before end,
the gap, no cue straddling a cut by a few frames, nothing past the film's end). Where the
speech leaves room (pauses of two seconds, no faster than 12 characters a second, cuts in the
pauses) every rule holds, and the check finds nothing.
"""

from __future__ import annotations

import os
import unicodedata
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sound_fixtures import write_wav

from racines.cli import main
from racines.edit.timeline import record_ranges
from racines.film.loader import load_film
from racines.subtitles.check import cue_problems, declared_timeline
from racines.subtitles.cues import Speech, film_cues, lay_out, speech_cues, subtitle_track
from racines.subtitles.model import Word
from racines.subtitles.rules import Rules, characters, nfc, rules_of

RULES = Rules()

LATIN = ["ma", "grand-mère", "est", "arrivée", "à", "Marseille", "en", "1962,", "avec", "une", "valise", "et",
         "la", "photo", "du", "village.", "Elle", "parlait", "arabe", "français", "aujourd'hui?", "Oui!", "de"]
ARABIC = ["وصلت", "جدّتي", "إلى", "مرسيليا", "سنة", "١٩٦٢،", "ومعها", "حقيبة", "وصورة", "قريتها.", "في", "من",
          "كَتَبَ", "الذي", "لماذا؟", "و"]
VIETNAMESE = [unicodedata.normalize("NFD", word) for word in
              ["Mẹ", "tôi", "rời", "Sài", "Gòn", "năm", "1979,", "trên", "một", "chiếc", "thuyền", "nhỏ.", "và",
               "người", "được", "nghĩ", "của", "Việt"]]


# --- counting and lines ---------------------------------------------------------------------------


def test_characters_are_graphemes_of_the_composed_text():
    assert characters("e\u0301t\u00e9") == 3                 # decomposed and composed é alike
    assert characters("كَتَبَ") == 3                            # vowel marks are not characters
    assert characters(unicodedata.normalize("NFD", "Người")) == 5
    assert characters("a b,\nc") == 5                         # spaces and punctuation count, line breaks not
    assert nfc("e\u0301") == "\u00e9"


def test_lines_break_after_punctuation_and_before_conjunctions():
    words = "Ma grand-mère est arrivée en 1962, avec une valise et la photo du village.".split()
    assert lay_out(words, RULES, "fr") == ("Ma grand-mère est arrivée en 1962,",
                                           "avec une valise et la photo du village.")
    words = "Il est venu travailler dans les usines du Nord pour nourrir sa famille".split()
    lines = lay_out(words, RULES, "fr")
    assert len(lines) == 2 and all(characters(line) <= 42 for line in lines)
    assert lines[1].split()[0] in {"dans", "pour", "du"}      # never a line ending on a preposition
    assert lay_out(["court"], RULES) == ("court",)
    assert lay_out(["mot"] * 40, RULES) is None               # 159 characters cannot fit 2 lines of 42


def test_rules_scale_to_the_rate_and_film_yaml_overrides_them(tmp_path):
    assert (Rules.at(Fraction(24)).min_frames, Rules.at(Fraction(24)).max_frames) == (20, 168)
    ntsc = Rules.at(Fraction(24000, 1001))
    assert (ntsc.min_frames, ntsc.max_frames, ntsc.min_gap, ntsc.linger) == (20, 168, 2, 12)
    pal = Rules.at(Fraction(25))
    assert (pal.min_frames, pal.max_frames, pal.min_gap, pal.snap) == (21, 175, 2, 13)
    fifty = Rules.at(Fraction(50))
    assert (fifty.min_frames, fifty.linger, fifty.min_gap) == (42, 25, 2)
    root = _project(tmp_path, film_extra="subtitles: {languages: [fr], max_cps: 15, min_duration: 1s, max_lines: 1}\n")
    rules = rules_of(load_film(root))
    assert (rules.max_cps, rules.min_frames, rules.max_lines, rules.max_line_chars) == (15, 24, 1, 42)


# --- the properties -------------------------------------------------------------------------------


@st.composite
def speeches(draw, roomy: bool = False):
    """Phrases of one or two voices: words with timings at human speech rates, on a 24 fps record."""
    voices = 1 if roomy else draw(st.integers(1, 2))
    found, end = [], 0
    for voice in range(voices):
        alphabet = draw(st.sampled_from([LATIN, ARABIC, VIETNAMESE]))
        at = Fraction(draw(st.integers(0, 48)))
        for phrase in range(draw(st.integers(1, 5))):
            words = []
            for _ in range(draw(st.integers(1, 30))):
                text = draw(st.sampled_from(alphabet))
                cps = draw(st.integers(8, 12 if roomy else 22))
                length = Fraction(characters(text) + 1, cps) * 24     # frames to say it and the space after
                words.append(Word(text, at, at + length))
                at += length + (0 if roomy else Fraction(draw(st.integers(0, 4))))
            found.append(Speech(tuple(words), f"sound/v{voice}.fr.vtt", phrase + 1, f"voice {voice}"))
            at += 48 if roomy else Fraction(draw(st.integers(0, 60)))
        end = max(end, at)
    return found, int(end) + 48


@st.composite
def speech_and_cuts(draw, roomy: bool = False):
    found, film_end = draw(speeches(roomy))
    if roomy:   # cuts only in the pauses, at least a second from any word
        spans = [(speech.words[0].start, speech.words[-1].end) for speech in found]
        allowed = [frame for frame in range(1, film_end)
                   if all(frame <= start - 24 or frame >= end + 24 for start, end in spans)]
        cuts = sorted(set(draw(st.lists(st.sampled_from(allowed), max_size=6)))) if allowed else []
    else:
        cuts = sorted(set(draw(st.lists(st.integers(1, film_end - 1), max_size=12))))
    return found, cuts, film_end


# each example is a whole film's speech (up to 300 words, its cuts): drawing one is slow by
# design, and slower still on a loaded machine, hence no too_slow health check and no deadline;
# RACINES_CUE_EXAMPLES=1000 runs the properties thoroughly (the suite's 100 take a few seconds)
EXAMPLES = int(os.environ.get("RACINES_CUE_EXAMPLES", "100"))

ALWAYS = ("lines (at most", "characters (at most", "the next subtitle starts", "straddles", "before it starts",
          "past the film's end")


def _words_of(cues, source: str) -> list[str]:
    return [word for cue in cues if cue.source == source for line in cue.lines for word in line.split()]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(speech_and_cuts())
def test_every_cue_keeps_the_rules_that_always_hold_and_every_word(case):
    found, cuts, film_end = case
    cues = speech_cues(found, "fr", RULES, cuts, film_end)
    for source in {speech.source for speech in found}:
        said = [nfc(word.text) for speech in found if speech.source == source for word in speech.words]
        assert _words_of(cues, source) == said                  # no word lost, added or reordered
    for before, cue in zip([None, *cues], cues):
        assert isinstance(cue.start, int) and isinstance(cue.end, int) and 0 <= cue.start < cue.end <= film_end
        assert 1 <= len(cue.lines) <= RULES.max_lines
        assert all(characters(line) <= RULES.max_line_chars for line in cue.lines)
        if before is not None:
            assert cue.start - before.end >= RULES.min_gap
        for cut in cuts:
            if cue.start < cut < cue.end:                        # over a cut only well clear of it
                assert cut - cue.start > RULES.snap and cue.end - cut > RULES.snap
    broken = [str(problem) for problem in cue_problems(cues, RULES, cuts, film_end)]
    assert not [text for text in broken if any(rule in text for rule in ALWAYS)]


@settings(max_examples=EXAMPLES * 4 // 5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(speech_and_cuts(roomy=True))
def test_where_the_speech_leaves_room_every_rule_holds(case):
    found, cuts, film_end = case
    cues = speech_cues(found, "fr", RULES, cuts, film_end)
    assert _words_of(cues, found[0].source) == [nfc(word.text) for speech in found for word in speech.words]
    for cue in cues:
        assert RULES.min_frames <= cue.frames <= RULES.max_frames
        assert RULES.cps(cue.text, cue.frames) <= RULES.max_cps
        assert cue.end - cue.speech_end <= max(RULES.linger, RULES.min_frames)
    assert cue_problems(cues, RULES, cuts, film_end) == []


def test_a_short_word_at_a_sentence_end_is_merged_rather_than_cut_short():
    # a phrase opening with a one-word sentence: cut there, the word would have 19 frames before
    # the next cue less the gap (under the 20-frame minimum); the builder merges it instead
    times = [Fraction(1538, 3), 534, 549, 564, 579, 594, 609, 624, 639, 654, Fraction(2002, 3), Fraction(2042, 3),
             *(Fraction(frames, 33) for frames in (22822, 23182, 23677, 24172, 24667, 25162, 25657, 26152, 26647, 27439))]
    texts = ["قريتها.", *["وصلت"] * 19, "مرسيليا"]
    words = tuple(Word(text, Fraction(start), Fraction(end)) for text, start, end in zip(texts, times, times[1:]))
    cues = speech_cues([Speech(words, "sound/v0.ar.vtt", 3, "voice 0")], "ar", RULES, [], 927)
    assert " ".join(line for cue in cues for line in cue.lines) == " ".join(texts)
    assert cues[0].lines[0].startswith("قريتها. وصلت") and cues[0].start == 513
    assert all(RULES.min_frames <= cue.frames <= RULES.max_frames for cue in cues)
    assert cue_problems(cues, RULES, [], 927) == []


def test_speech_too_fast_keeps_its_words_and_the_check_says_so():
    text = "Elle est arrivée à Marseille avec une valise et la photo du village de sa mère."
    words = tuple(Word(word, Fraction(index * 3), Fraction(index * 3 + 3)) for index, word in enumerate(text.split()))
    cues = speech_cues([Speech(words, "sound/a.fr.vtt", 7, "Amina")], "fr", RULES, [], 400)
    assert " ".join(line for cue in cues for line in cue.lines) == text
    problems = [str(problem) for problem in cue_problems(cues, RULES, [], 400)]
    assert problems and all(p.startswith("sound/a.fr.vtt:7: fr cue at ") for p in problems)
    assert any("reading speed" in p and "(at most 17)" in p for p in problems)


def test_a_short_gap_is_chained_and_a_near_cut_is_snapped():
    first = Speech((Word("Bonjour.", Fraction(10), Fraction(40)),), "a.fr.vtt", 1, "")
    second = Speech((Word("Au", Fraction(48), Fraction(60)), Word("revoir.", Fraction(60), Fraction(80))),
                    "a.fr.vtt", 2, "")
    cues = speech_cues([first, second], "fr", RULES, [], 200)
    assert cues[0].end == cues[1].start - 2                    # a gap of 8 frames closed to 2
    # a cut 6 frames before the speech: the subtitle starts on the cut
    cues = speech_cues([second], "fr", RULES, [42], 200)
    assert cues[0].start == 42


# --- on the film's timeline -----------------------------------------------------------------------

FILM = """\
title: Subtitled
frame_rate: 24
resolution: 256x144
cut: [s010, s020]
"""
SHOT = """\
source: {{photo: photos/grid.png, contributor: Amina, consent: granted}}
duration: {duration}
generator: {{kind: still}}
"""
VOICE = """\
sound:
  - file: sound/amina_fr.wav
    speaker: Amina
    language: fr
    consent: granted
    offset: 12
    source_in: {source_in}
"""
FR = """\
WEBVTT
Language: fr
Origin: typed

00:00:00.500 --> 00:00:03.000
Ma grand-mère est arrivée
à Marseille en 1962,

00:00:03.500 --> 00:00:05.500
avec une valise.
"""
AR = """\
WEBVTT
Language: ar
Origin: machine draft, tiny/opus-mt@0123abc
Translated-From: fr

00:00:00.500 --> 00:00:03.000
وصلت جدتي إلى مرسيليا سنة 1962،

00:00:03.500 --> 00:00:05.500
ومعها حقيبة.
"""


def _project(tmp_path: Path, film_extra: str = "", first: str = "3s", source_in: str = "0") -> Path:
    from conftest import make_photos

    root = tmp_path / "film"
    make_photos(root / "shots" / "photos")
    (root / "shots" / "film.yaml").write_text(FILM + film_extra)
    (root / "shots" / "s010.yaml").write_text(SHOT.format(duration=first))
    (root / "shots" / "s020.yaml").write_text(SHOT.format(duration="8s") + VOICE.format(source_in=source_in))
    write_wav(root / "shots" / "sound" / "amina_fr.wav", np.zeros(48000 * 6))
    (root / "shots" / "sound" / "amina_fr.fr.vtt").write_text(FR, encoding="utf-8")
    (root / "shots" / "sound" / "amina_fr.ar.vtt").write_text(AR, encoding="utf-8")
    return root


def test_cues_sit_where_the_timeline_plays_the_voice_and_follow_the_cut(tmp_path):
    film = load_film(_project(tmp_path))
    timeline = declared_timeline(film)
    assert {shot: start for shot, (start, _) in record_ranges(timeline).items()} == film.record_starts()
    cues = film_cues(film, timeline, "fr", rules_of(film))
    # s020 starts at 72, its voice 12 frames later, the phrase 0.5 s into the recording; the gap of
    # 12 frames to the next phrase is closed to 2
    assert [(cue.start, cue.end, cue.lines) for cue in cues] == [
        (96, 166, ("Ma grand-mère est arrivée", "à Marseille en 1962,")),
        (168, 216, ("avec une valise.",))]
    assert {(cue.source, cue.line, cue.speaker) for cue in cues} == {
        ("shots/sound/amina_fr.fr.vtt", 5, "Amina"), ("shots/sound/amina_fr.fr.vtt", 9, "Amina")}
    # the first shot made a second longer: the voice, and its subtitles, follow
    later = load_film(_project(tmp_path / "later", first="4s"))
    moved = film_cues(later, declared_timeline(later), "fr", rules_of(later))
    assert [(cue.start, cue.end) for cue in moved] == [(cue.start + 24, cue.end + 24) for cue in cues]


def test_only_what_the_clip_plays_is_subtitled(tmp_path):
    film = load_film(_project(tmp_path, source_in="3.2s"))   # the clip starts between the two phrases
    cues = film_cues(film, declared_timeline(film), "fr", rules_of(film))
    assert [cue.lines for cue in cues] == [("avec une valise.",)]
    assert cues[0].start == 72 + 12 + round((Fraction(35, 10) - Fraction(32, 10)) * 24)


def test_a_language_without_transcript_is_reported(tmp_path):
    film = load_film(_project(tmp_path))
    track = subtitle_track(film, declared_timeline(film), "vi", rules_of(film))
    assert track.cues == [] and [m.transcript for m in track.missing] == ["shots/sound/amina_fr.vi.vtt"]
    arabic = subtitle_track(film, declared_timeline(film), "ar", rules_of(film))
    assert [draft.relpath for draft in arabic.drafts] == ["shots/sound/amina_fr.ar.vtt"]
    assert arabic.cues[0].lines == ("وصلت جدتي إلى مرسيليا سنة 1962،",)   # logical order, no marks added


# --- racines subtitles check ----------------------------------------------------------------------


def _check(root: Path, *args: str):
    return CliRunner().invoke(main, ["--project", str(root), "subtitles", "check", *args])


def test_check_passes_a_good_film_and_names_the_drafts(tmp_path):
    root = _project(tmp_path, film_extra="subtitles: {languages: [fr, ar]}\n")
    result = _check(root)
    assert result.exit_code == 0, result.output
    assert "ok: fr 2 cues, ar 2 cues" in result.output
    assert "note: shots/sound/amina_fr.ar.vtt: a machine draft (tiny/opus-mt@0123abc) not yet reviewed" in result.output
    reviewed = AR.replace("Origin: machine draft", "Origin: reviewed machine draft")
    (root / "shots" / "sound" / "amina_fr.ar.vtt").write_text(reviewed, encoding="utf-8")
    assert "not yet reviewed" not in _check(root).output


def test_check_lists_every_broken_rule_with_file_and_line(tmp_path):
    root = _project(tmp_path, film_extra="subtitles: {languages: [fr, vi]}\n")
    fast = FR.replace("00:00:03.500 --> 00:00:05.500\navec une valise.",
                      "00:00:03.500 --> 00:00:04.100\navec une valise et la photographie du village natal.")
    (root / "shots" / "sound" / "amina_fr.fr.vtt").write_text(fast, encoding="utf-8")
    result = _check(root)
    assert result.exit_code == 2, result.output
    assert "shots/sound/amina_fr.fr.vtt:9: fr cue at 01:00:07:00: reading speed" in result.output
    assert "shots/sound/amina_fr.vi.vtt: vi: no vi transcript for the voice of Amina" in result.output
    assert _check(root, "--language", "fr").output.count("shots/sound/amina_fr.vi.vtt") == 0


def test_check_refuses_a_broken_transcript_with_its_line(tmp_path):
    root = _project(tmp_path)
    broken = FR.replace("00:00:03.500 --> 00:00:05.500", "00:00:02.000 --> 00:00:05.500")
    (root / "shots" / "sound" / "amina_fr.fr.vtt").write_text(broken, encoding="utf-8")
    result = _check(root, "--language", "fr")
    assert result.exit_code == 2
    assert "shots/sound/amina_fr.fr.vtt:9: timing: the cue starts at 00:00:02.000, before the cue of line 5 ends" \
        in result.output


@pytest.mark.parametrize("language", ["xx", "und"])
def test_check_refuses_a_subtitle_language_that_is_no_language(tmp_path, language):
    root = _project(tmp_path, film_extra=f"subtitles: {{languages: [fr, {language}]}}\n")
    result = _check(root)
    assert result.exit_code == 2 and "shots/film.yaml: subtitles.languages.1:" in result.output
