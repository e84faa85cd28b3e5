"""The film's sound: recordings refused or converted with a note, every problem located, the
mix in the master (24-bit PCM) and the review copy (AAC), to the sample, at the loudness asked
for as measured by meters racines does not mix with, and a change of sound that only remuxes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from racines.cli import main
from racines.film.audio import NotAudio, read_info
from tests.conftest import ffprobe, framemd5, top_boxes, tree_digest
from tests.sound_fixtures import (
    decoded,
    ebur128,
    music_like,
    pyloudnorm_lufs,
    sound_project,
    speech_like,
    write_wav,
)

FRAMES = 48 + 48 + 24


def run(root, *args):
    return CliRunner().invoke(main, ["--project", str(root), *args])


def recordings(root: Path) -> None:
    folder = root / "shots" / "sound"
    write_wav(folder / "amina_fr.wav", speech_like(2.0, seed=1))                 # 48 kHz mono
    write_wav(folder / "bao_vi.wav", speech_like(1.5, 8000, seed=2), 8000)       # a telephone
    write_wav(folder / "theme.wav", music_like(5.0, 44100), 44100)              # 44.1 kHz stereo
    write_wav(folder / "room.wav", music_like(5.0, channels=6) * 0.3)           # 5.1


SOUND_YAML = """\
voices:
  - file: sound/bao_vi.wav     # runs over the cut from s010 into s020
    speaker: Bao
    consent: granted
    language: vi
    licence: CC BY 4.0
    record_in: 40
    gain: -2
music:
  - {file: sound/theme.wav, author: The class, consent: granted, licence: CC0, duration: 120, fade_in: 12, fade_out: 24}
  - {file: sound/room.wav, author: The class, consent: granted, licence: CC0, record_in: "01:00:01:00", duration: 48,
     duck: false, gain: -12}
"""
SHOT_SOUND = {"s020": "  - {file: sound/amina_fr.wav, speaker: Amina, consent: granted, language: fr, offset: 6}\n"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    root = sound_project(tmp_path_factory.mktemp("sound") / "film", sound_yaml=SOUND_YAML, shot_sound=SHOT_SOUND)
    recordings(root)
    result = run(root, "render")
    assert result.exit_code == 0, result.output
    return root


# --- recordings -------------------------------------------------------------------------------

def test_headers_of_poor_but_real_recordings_are_read(tmp_path):
    write_wav(tmp_path / "phone.wav", speech_like(1.0, 8000), 8000)
    write_wav(tmp_path / "surround.wav", music_like(0.5, channels=6))
    assert read_info(tmp_path / "phone.wav") == read_info(tmp_path / "phone.wav")
    phone, surround = read_info(tmp_path / "phone.wav"), read_info(tmp_path / "surround.wav")
    assert (phone.codec, phone.rate, phone.channels, phone.samples) == ("pcm_s16le", 8000, 1, 8000)
    assert (surround.channels, surround.samples) == (6, 24000)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "phone.wav"), str(tmp_path / "phone.flac")], check=True)
    flac = read_info(tmp_path / "phone.flac")
    assert (flac.codec, flac.rate, flac.channels, flac.samples) == ("flac", 8000, 1, 8000)


@pytest.mark.parametrize("name, content, words", [
    ("notes.wav", b"these are my notes, not a recording\n", "not a WAV or FLAC file"),
    ("empty.wav", b"", "empty"),
    ("song.mp3", b"ID3\x03\x00", "'.mp3' files are not accepted"),
])
def test_files_that_are_no_recordings_are_refused(tmp_path, name, content, words):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(NotAudio, match=words):
        read_info(tmp_path / name)


def test_a_truncated_wav_is_refused_with_what_it_holds(tmp_path):
    whole = write_wav(tmp_path / "whole.wav", speech_like(1.0)).read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[:len(whole) // 3])
    with pytest.raises(NotAudio, match=r"truncated: its header promises 48000 samples, the file holds 159\d\d"):
        read_info(tmp_path / "cut.wav")


# --- validation: exit 2, every problem located, renders/ untouched ------------------------------

def test_bad_sound_is_refused_all_at_once_and_nothing_is_written(tmp_path):
    root = sound_project(tmp_path / "film", sound_yaml="""\
music:
  - {file: sound/notes.wav, author: X, consent: granted}
  - {file: sound/cut.wav, author: X, consent: granted}
  - {file: sound/long.wav, author: X, consent: granted, record_in: 100}
""", shot_sound={"s010": "  - {file: sound/missing.wav, speaker: A, consent: granted, language: fr}\n"})
    folder = root / "shots" / "sound"
    folder.mkdir()
    (folder / "notes.wav").write_text("a text file named .wav\n")
    whole = write_wav(folder / "whole.wav", speech_like(1.0)).read_bytes()
    (folder / "cut.wav").write_bytes(whole[:len(whole) // 2])
    write_wav(folder / "long.wav", music_like(2.0))
    (root / "renders").mkdir()
    (root / "renders" / "keep.txt").write_text("untouched")
    before = tree_digest(root / "renders")
    result = run(root, "render")
    assert result.exit_code == 2, result.output
    text = result.output
    assert "shots/sound.yaml:2: music.0.file: not a usable recording: not a WAV or FLAC file" in text
    assert "shots/sound.yaml:3: music.1.file: not a usable recording: the file is truncated" in text
    assert "shots/sound.yaml:4: music.2.record_in: the clip (frames 100 to 148 of the record) runs 28 frames past " \
           "the film's end (frame 120)" in text and "fix: shorten it (duration: 20)" in text
    assert "shots/s010.yaml:5: sound.0.file:" in text and "missing.wav" in text
    assert "4 problems" in text
    assert tree_digest(root / "renders") == before


def test_a_withdrawn_voice_stops_the_render_or_is_left_out(tmp_path):
    root = sound_project(tmp_path / "film", shot_sound={
        "s010": "  - {file: sound/a.wav, speaker: Amina, consent: granted, language: fr}\n",
        "s020": "  - file: sound/b.wav\n    speaker: Bao\n    consent: withdrawn\n    language: vi\n"})
    write_wav(root / "shots" / "sound" / "a.wav", speech_like(1.0))
    write_wav(root / "shots" / "sound" / "b.wav", speech_like(1.0, seed=3))
    validated = run(root, "validate")
    assert validated.exit_code == 0 and "not heard: shots/sound/b.wav (shots/s020.yaml, sound.0)" in validated.output
    before = tree_digest(root / "renders")
    refused = run(root, "render")
    assert refused.exit_code == 2
    assert "shots/s020.yaml:5: sound.0.consent: the voice of Bao (shots/sound/b.wav) has consent 'withdrawn'" \
        in refused.output and "--skip-unconsented" in refused.output
    assert tree_digest(root / "renders") == before and not (root / "renders" / "takes").exists()
    skipped = run(root, "render", "--skip-unconsented")
    assert skipped.exit_code == 0, skipped.output
    assert "left out shots/sound/b.wav (shots/s020.yaml, sound.0): consent is 'withdrawn' for Bao" in skipped.output
    clips = [c for t in json.loads((root / "edl" / "sound_test.otio").read_text())["tracks"]["children"]
             if t["kind"] == "Audio" for c in t["children"] if c["OTIO_SCHEMA"].startswith("Clip")]
    assert [c["metadata"]["racines"]["sound"]["person"] for c in clips] == ["Amina"]


def test_poor_recordings_are_converted_with_a_note(rendered):
    result = run(rendered, "validate")
    assert result.exit_code == 0, result.output
    assert "note: sound: shots/sound/bao_vi.wav (shots/sound.yaml, voices.0): 8000 Hz, resampled to 48000 Hz; mono, " \
           "placed in the centre" in result.output
    assert "shots/sound/theme.wav (shots/sound.yaml, music.0): 44100 Hz, resampled to 48000 Hz" in result.output
    assert "shots/sound/room.wav (shots/sound.yaml, music.1): 6 channels, folded down to stereo" in result.output


# --- the mix in the deliverables ------------------------------------------------------------------

def test_the_master_carries_24_bit_pcm_to_the_sample_at_minus_23_lufs(rendered):
    master = rendered / "renders" / "sound_test_master.mov"
    streams = ffprobe(master)["streams"]
    video = next(s for s in streams if s["codec_type"] == "video")
    (audio,) = [s for s in streams if s["codec_type"] == "audio"]
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("pcm_s24le", "48000", 2)
    assert int(video["nb_frames"]) == FRAMES
    assert int(audio["duration_ts"]) == FRAMES * 2000 and audio["duration"] == video["duration"]
    assert len(decoded(master)) == FRAMES * 2000
    integrated, peak = ebur128(master)
    assert abs(integrated + 23) <= 0.5 and peak <= -1.0
    assert abs(pyloudnorm_lufs(master) + 23) <= 0.5


def test_the_review_copy_carries_aac_made_once_at_minus_16_lufs(rendered):
    review = rendered / "renders" / "sound_test_review.mp4"
    (audio,) = [s for s in ffprobe(review)["streams"] if s["codec_type"] == "audio"]
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("aac", "48000", 2)
    assert int(audio["duration_ts"]) == FRAMES * 2000
    integrated, peak = ebur128(review)
    assert abs(integrated + 16) <= 1.0 and peak <= -0.5  # AAC's own overshoot is a few tenths
    assert abs(pyloudnorm_lufs(review) + 16) <= 1.0
    # the review's sound is the master's, louder: in place to the sample
    master, copy = decoded(rendered / "renders" / "sound_test_master.mov"), decoded(review)
    # Debian's ffmpeg 5.1 decodes the encoder's padding after the end that the edit list cuts
    assert len(copy) - len(master) in range(0, 1024)
    copy = copy[:len(master)]
    spectrum = np.fft.rfft(copy[:, 0], 2 * len(copy)) * np.conj(np.fft.rfft(master[:, 0], 2 * len(copy)))
    lag = int(np.argmax(np.fft.irfft(spectrum)))
    assert min(lag, 2 * len(copy) - lag) == 0


def test_the_mix_manifest_records_what_was_measured_and_the_stems_lie_beside_the_master(rendered):
    manifest = json.loads((rendered / "renders" / "sound_test_mix.json").read_text())
    assert manifest["samples"] == FRAMES * 2000 and manifest["sample_rate"] == 48000
    assert manifest["master"]["normalization"] == "linear" and abs(manifest["master"]["measured"]["integrated"] + 23) < .5
    assert abs(manifest["review"]["measured"]["integrated"] + 16) <= 1
    # the theme from the start, the room tone at 01:00:01:00, Bao at frame 40, Amina 6 frames into s020
    assert [(c["role"], c["record_in"], c["record_sample"]) for c in manifest["clips"]] == \
        [("music", 0, 0), ("music", 24, 48000), ("voice", 40, 80000), ("voice", 54, 108000)]
    reference = 86400 * 2000  # 01:00:00:00 at 24 fps, in samples since midnight
    for name in ("dialogue", "music"):
        path = rendered / "renders" / f"sound_test_{name}.wav"
        (stream,) = ffprobe(path)["streams"]
        assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("pcm_s24le", "48000", 2)
        assert int(stream["duration_ts"]) == FRAMES * 2000
        assert ffprobe(path)["format"]["tags"]["time_reference"] == str(reference)
        assert manifest["stems"][name]["time_reference"] == reference
    # the dialogue is silent where no voice speaks, and the music is ducked under the voices
    dialogue, music = (decoded(rendered / "renders" / f"sound_test_{n}.wav") for n in ("dialogue", "music"))
    assert np.abs(dialogue[:40 * 2000]).max() == 0 and np.abs(dialogue[60 * 2000:80 * 2000]).max() > 0.01
    alone, under = (np.sqrt(np.mean(music[a * 2000:b * 2000] ** 2)) for a, b in ((20, 24), (45, 50)))
    assert 20 * np.log10(alone / under) > 6


def test_a_change_of_one_voice_remixes_and_remuxes_without_encoding_a_frame(rendered, tmp_path):
    import shutil

    root = tmp_path / "film"
    shutil.copytree(rendered, root, symlinks=True)
    master, review = root / "renders" / "sound_test_master.mov", root / "renders" / "sound_test_review.mp4"
    pictures = framemd5(master), framemd5(review)
    sound_before = decoded(master)
    shot = root / "shots" / "s020.yaml"
    shot.write_text(shot.read_text().replace("offset: 6}", "offset: 6, gain: -6}"))
    result = run(root, "render")
    assert result.exit_code == 0, result.output
    assert "new sound in renders/sound_test_master.mov" in result.output
    assert "0 piece(s) of the film encoded" in result.output
    assert (framemd5(master), framemd5(review)) == pictures
    sound_after = decoded(master)
    assert len(sound_after) == len(sound_before) and not np.array_equal(sound_after, sound_before)
    # the master's sound was swapped in place (its old index retired), and is the new mix to the bit
    (mix,) = (root / "renders" / "cache" / "sound").glob("*/mix.wav")
    assert "free" in top_boxes(master) and np.array_equal(sound_after, decoded(mix))
    assert abs(ebur128(master)[0] + 23) <= 0.5
    again = run(root, "render")
    assert "unchanged renders/sound_test_master.mov" in again.output
    # a shot patched into that master afterwards leaves its new sound as it is
    shot = root / "shots" / "s030.yaml"
    shot.write_text(shot.read_text().replace("photos/grid.png", "photos/bloom.png"))
    patched = run(root, "render")
    assert patched.exit_code == 0, patched.output
    assert np.array_equal(decoded(master), sound_after) and framemd5(master) != pictures[0]


def test_the_end_credits_list_voices_and_music_by_the_rules_of_photographs(tiny_project):
    from racines.pipeline import derived_for, load
    from racines.takes.store import TakeStore

    write_wav(tiny_project / "shots" / "sound" / "a.wav", speech_like(0.5))
    shot = tiny_project / "shots" / "s010.yaml"
    shot.write_text(shot.read_text() + "sound:\n"
                    "  - {file: sound/a.wav, speaker: Amina, credit: Amina B., consent: granted, language: fr}\n"
                    "  - {file: sound/a.wav, speaker: Bao, consent: pending, language: vi, offset: 2}\n")
    (tiny_project / "shots" / "sound.yaml").write_text(
        "music:\n  - {file: sound/a.wav, author: The class, consent: granted, licence: CC0, duration: 6}\n"
        "  - {file: sound/a.wav, author: The class, consent: granted, licence: CC0, record_in: 20, duration: 6}\n")
    film = load(tiny_project)
    lines = derived_for(film, TakeStore(tiny_project), film.shots["s040"])
    text = [line for _, line in lines]
    assert text[text.index("Voices") + 1:text.index("Music")] == ["Amina B. (Amina)", ""]  # a gap before Music
    assert text[text.index("Music") + 1] == "The class, CC0" and text.count("The class, CC0") == 1
    assert "Bao" not in " ".join(text)  # consent pending: not heard, not credited


def test_provenance_lists_the_shot_s_voices(rendered):
    result = run(rendered, "provenance", "s020")
    assert result.exit_code == 0, result.output
    assert "voice        shots/sound/amina_fr.wav sha256 " in result.output
    assert "Amina (fr; consent: granted; licence: -; credit: Amina)" in result.output
    data = json.loads(run(rendered, "provenance", "s020", "--json").output)
    assert [v["person"] for v in data["sound"]] == ["Amina"] and len(data["sound"][0]["sha256"]) == 64


# --- pure parts: samples from frames, loudness reports ------------------------------------------

def test_samples_are_exact_rationals_rounded_once_and_clips_tile_the_record():
    from fractions import Fraction
    from pathlib import Path

    from racines.edit.audio import PlacedSound, samples_at
    from racines.sound.place import span, total_samples

    assert [samples_at(1, Fraction(r)) for r in ("24", "25", "24000/1001", "48000/1001")] == [2000, 1920, 2002, 1001]
    rate = Fraction(30000, 1001)  # 1601.6 samples a frame
    assert [samples_at(n, rate) for n in range(6)] == [0, 1602, 3203, 4805, 6406, 8008]
    assert total_samples(121, rate) == 193794  # 193793.6, rounded once
    clips = [PlacedSound(Path("x.wav"), "voice", start, 0, 7, 0.0, 2, 3, False, 1, 48000) for start in range(0, 70, 7)]
    spans = [span(clip, rate) for clip in clips]
    assert all(a.record + a.samples == b.record for a, b in zip(spans, spans[1:]))  # no gap, no overlap
    assert spans[-1].record + spans[-1].samples == samples_at(70, rate)
    assert all(s.fade_in in (3203, 3204) and s.fade_out in (4804, 4805) for s in spans)


def test_ebur128_summaries_and_a_loudnorm_that_went_dynamic_are_read():
    from racines.errors import RenderFailed
    from racines.sound.loudness import MASTER, check_linear, summaries

    log = """[Parsed_ebur128_0 @ 0x5] Summary:

  Integrated loudness:
    I:         -19.1 LUFS
    Threshold: -29.3 LUFS

  Loudness range:
    LRA:         6.8 LU
    Threshold:  -39.4 LUFS
    LRA low:    -23.8 LUFS
    LRA high:   -17.0 LUFS

  True peak:
    Peak:       -3.0 dBFS
"""
    (found,) = summaries(log)
    assert (found.integrated, found.threshold, found.lra, found.true_peak) == (-19.1, -29.3, 6.8, -3.0)
    assert not found.meets(MASTER) and found.silent is False
    check_linear({"normalization_type": "linear"}, "the mix")
    with pytest.raises(RenderFailed, match="dynamic"):
        check_linear({"normalization_type": "dynamic"}, "the mix")


def test_a_film_voice_can_end_at_a_record_out_and_offsets_follow_their_shot(tmp_path):
    from racines.film.loader import load_film

    root = sound_project(tmp_path / "film", sound_yaml="""\
voices:
  - {file: sound/a.wav, speaker: A, consent: granted, language: fr, record_in: "01:00:01:06", record_out: 54}
music:
  - {file: sound/a.wav, author: B, consent: granted, record_in: 2s, duration: 1s, source_in: 0.5s, fade_out: 6}
""", shot_sound={"s030": "  - {file: sound/a.wav, speaker: C, consent: granted, language: vi, offset: 0.25s, "
                           "duration: 0.5s}\n"})
    write_wav(root / "shots" / "sound" / "a.wav", speech_like(2.0))
    film = load_film(root)
    placed = {clip.field if clip.shot is None else clip.shot: (clip.start, clip.frames, clip.source_in, clip.fade_out)
              for clip in film.sound}
    assert placed == {"voices.0": (30, 24, 0, 0), "music.0": (48, 24, 12, 6), "s030": (6, 12, 0, 0)}
    assert film.record_starts() == {"s010": 0, "s020": 48, "s030": 96}
    both = (root / "shots" / "sound.yaml").read_text().replace("record_out: 54}", "record_out: 54, duration: 3}")
    (root / "shots" / "sound.yaml").write_text(both)
    result = run(root, "validate")
    assert result.exit_code == 2 and "voices.0.record_out: both duration and record_out say how long it plays" \
        in result.output
