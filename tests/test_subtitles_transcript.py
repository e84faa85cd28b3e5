"""Transcript files: WebVTT beside each voice, read back by webvtt-py; every bad file refused
with its file and line; a typed or reviewed transcript never replaced by a machine draft."""

from __future__ import annotations

import io
import unicodedata
from fractions import Fraction
from pathlib import Path

import pytest
import webvtt

from racines.errors import ValidationFailed
from racines.subtitles.model import MACHINE, TYPED, Phrase, Transcript, Word
from racines.subtitles.transcript import (
    format_transcript,
    language_of_name,
    may_replace,
    parse_transcript,
    read_transcript,
    transcript_path,
    write_transcript,
)

F = Fraction


def _draft(relpath: str = "sound/amina_fr.fr.vtt", reviewed: bool = False) -> Transcript:
    words = (Word("Ma", F(1), F(124, 100)), Word("grand-mère", F(124, 100), F(19, 10)),
             Word("est", F(2), F(22, 10)), Word("arrivée.", F(22, 10), F(3)))
    phrases = (Phrase(F(1), F(3), "Ma grand-mère\nest arrivée.", words),
               Phrase(F(7, 2), F(5), "Elle avait <20 ans> & une valise."))
    return Transcript(relpath=relpath, recording="sound/amina_fr.wav", language="fr", origin=MACHINE,
                      reviewed=reviewed, phrases=phrases, model="openai/whisper-large-v3-turbo@41f0bd3")


def test_transcript_path_sits_beside_the_recording():
    assert transcript_path("sound/amina_fr.wav", "fr") == "sound/amina_fr.fr.vtt"
    assert transcript_path("shots/sound/a.take2.flac", "ar") == "shots/sound/a.take2.ar.vtt"
    assert language_of_name("shots/sound/a.take2.ar.vtt") == "ar"


def test_a_written_transcript_reads_back_the_same_in_racines_and_webvtt_py(tmp_path):
    draft = _draft()
    path = write_transcript(tmp_path, draft)
    assert path == tmp_path / "sound" / "amina_fr.fr.vtt"
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[:3] == ["WEBVTT", "Language: fr", "Origin: machine draft, openai/whisper-large-v3-turbo@41f0bd3"]
    assert "Ma <00:00:01.240>grand-mère\n<00:00:02.000>est <00:00:02.200>arrivée." in text
    # an independent reader: the times, the text with its line breaks, the escapes
    cues = list(webvtt.from_buffer(io.StringIO(text)))
    assert [(cue.start, cue.end) for cue in cues] == [("00:00:01.000", "00:00:03.000"), ("00:00:03.500", "00:00:05.000")]
    assert cues[0].text == "Ma grand-mère\nest arrivée."
    assert cues[1].raw_text == "Elle avait &lt;20 ans&gt; &amp; une valise."
    back = read_transcript(tmp_path, "sound/amina_fr.fr.vtt", F(6), "sound/amina_fr.wav")
    # WebVTT keeps when each word starts: a word lasts until the next one starts
    assert [(word.text, word.start) for word in back.phrases[0].words] == \
        [(word.text, word.start) for word in draft.phrases[0].words]
    assert [word.end for word in back.phrases[0].words] == [F(124, 100), F(2), F(22, 10), F(3)]
    assert [(p.start, p.end, p.text, p.line) for p in back.phrases] == [
        (F(1), F(3), "Ma grand-mère\nest arrivée.", 5), (F(7, 2), F(5), "Elle avait <20 ans> & une valise.", 9)]
    assert (back.language, back.origin, back.reviewed, back.model, back.draft) == \
        ("fr", MACHINE, False, "openai/whisper-large-v3-turbo@41f0bd3", True)
    # stable: the same transcript writes the same bytes, ready to merge
    write_transcript(tmp_path, back)
    assert path.read_text(encoding="utf-8") == text


def test_a_cue_whose_word_timestamps_were_partly_deleted_has_no_word_timings():
    data = b"WEBVTT\nLanguage: fr\n\n00:00:01.000 --> 00:00:03.000\nMa <00:00:01.500>grand-m\xc3\xa8re est\n"
    transcript = parse_transcript("a.fr.vtt", data)
    assert transcript.origin == TYPED and not transcript.draft     # no Origin: typed by a person
    assert transcript.phrases[0].text == "Ma grand-mère est" and transcript.phrases[0].words == ()


def test_text_is_composed_and_arabic_kept_in_logical_order():
    decomposed = unicodedata.normalize("NFD", "Người Việt")
    transcript = parse_transcript("a.vi.vtt", f"WEBVTT\nLanguage: vi\n\n00:00:00.000 --> 00:00:01.000\n{decomposed}\n".encode())
    assert transcript.phrases[0].text == unicodedata.normalize("NFC", "Người Việt")
    arabic = "وصلت جدتي إلى مرسيليا سنة 1962"
    transcript = parse_transcript("a.ar.vtt", f"WEBVTT\nLanguage: ar\nTranslated-From: fr\n\n00:00:00.000 --> 00:00:02.000\n"
                                              f"{arabic}\n".encode())
    assert transcript.phrases[0].text == arabic and transcript.translated_from == "fr"


def test_origin_convention_and_may_replace():
    reviewed = parse_transcript("a.fr.vtt", b"WEBVTT\nLanguage: fr\nOrigin: reviewed machine draft, m@1\n\n"
                                            b"00:00:00.000 --> 00:00:01.000\nOui.\n")
    assert (reviewed.origin, reviewed.reviewed, reviewed.model) == (MACHINE, True, "m@1")
    assert not may_replace(reviewed)
    assert may_replace(_draft()) and may_replace(None)
    typed = parse_transcript("a.fr.vtt", b"WEBVTT\nLanguage: fr\nOrigin: typed\n\n00:00:00.000 --> 00:00:01.000\nOui.\n")
    assert not may_replace(typed)


BAD = {
    "overlap": ("WEBVTT\nLanguage: fr\n\n00:00:01.000 --> 00:00:03.000\nun\n\n00:00:02.500 --> 00:00:04.000\ndeux\n",
                "a.fr.vtt:7: timing: the cue starts at 00:00:02.500, before the cue of line 4 ends (00:00:03.000)"),
    "backwards": ("WEBVTT\nLanguage: fr\n\n00:00:03.000 --> 00:00:01.000\nun\n",
                  "a.fr.vtt:4: timing: the cue ends (00:00:01.000) before it starts (00:00:03.000)"),
    "unknown language": ("WEBVTT\nLanguage: xx\n\n00:00:01.000 --> 00:00:02.000\nun\n",
                         "a.fr.vtt:2: Language: 'xx' is not a language tag of the IANA registry (BCP 47)"),
    "no language": ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nun\n",
                    "a.fr.vtt:1: Language: the header has no Language: line"),
    "name disagrees": ("WEBVTT\nLanguage: ar\n\n00:00:01.000 --> 00:00:02.000\nun\n",
                       "a.fr.vtt:2: Language: the header says 'ar' but the file name says 'fr'"),
    "past the recording": ("WEBVTT\nLanguage: fr\n\n00:00:01.000 --> 00:00:09.000\nun\n",
                           "a.fr.vtt:4: timing: the cue ends at 00:00:09.000, past the end of the recording (00:00:06.000)"),
    "bad timing": ("WEBVTT\nLanguage: fr\n\n00:00:01,000 --> 00:00:02,000\nun\n",
                   "a.fr.vtt:4: timing: not a cue timing"),
    "unknown origin": ("WEBVTT\nLanguage: fr\nOrigin: my cousin\n\n00:00:01.000 --> 00:00:02.000\nun\n",
                       "a.fr.vtt:3: Origin: not an origin racines knows"),
    "timestamp outside": ("WEBVTT\nLanguage: fr\n\n00:00:01.000 --> 00:00:02.000\nun <00:00:05.000>deux\n",
                          "a.fr.vtt:4: timestamp: the word timestamp 00:00:05.000 is outside the cue"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_transcripts_are_refused_with_file_and_line(case):
    text, expected = BAD[case]
    with pytest.raises(ValidationFailed) as caught:
        parse_transcript("a.fr.vtt", text.encode("utf-8"), F(6))
    assert any(str(problem).startswith(expected) for problem in caught.value.problems), str(caught.value)


def test_a_file_not_in_utf8_names_the_byte_and_line():
    data = "WEBVTT\nLanguage: fr\n\n00:00:01.000 --> 00:00:02.000\nMa grand-mère\n".encode("latin-1")
    with pytest.raises(ValidationFailed) as caught:
        parse_transcript("a.fr.vtt", data)
    offset = data.index(b"\xe8")
    assert str(caught.value.problems[0]).startswith(
        f"a.fr.vtt:5: (file): not UTF-8: byte 0xe8 at offset {offset} cannot be decoded")


def test_nothing_is_written_for_a_transcript_that_would_not_read_back(tmp_path):
    bad = Transcript(relpath="sound/a.fr.vtt", recording="sound/a.wav", language="fr", origin=TYPED, reviewed=False,
                     phrases=(Phrase(F(1), F(3), "un"), Phrase(F(2), F(4), "deux")))
    with pytest.raises(ValidationFailed):
        write_transcript(tmp_path, bad)
    assert not (tmp_path / "sound").exists() or list((tmp_path / "sound").iterdir()) == []
    outside = Transcript(relpath="../escape.fr.vtt", recording="", language="fr", origin=TYPED, reviewed=False,
                         phrases=(Phrase(F(1), F(3), "un"),))
    with pytest.raises(ValidationFailed):
        write_transcript(tmp_path / "project", outside)
    assert not (tmp_path / "escape.fr.vtt").exists()


def test_a_reviewed_draft_says_so_in_its_header(tmp_path: Path):
    assert "Origin: reviewed machine draft, openai/whisper-large-v3-turbo@41f0bd3\n" in format_transcript(
        _draft(reviewed=True))
