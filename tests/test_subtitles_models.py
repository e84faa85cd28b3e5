"""Machine drafts on tiny random-weight models: Whisper (128 mel bins, as large-v3 turbo), a Marian
pair, M2M100 and an NLLB-style model, built offline into a Hugging Face cache, resolved and loaded by
racines' own code, run on the CPU on the demo's real recordings. Their words are random (the weights
are); the files, headers, times, languages and what is kept are what the tests read back, with
racines' transcript reader and with webvtt-py."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import pytest
import webvtt
from click.testing import CliRunner

from racines.cli import main
from racines.subtitles import tiny
from racines.subtitles.model import MACHINE
from racines.subtitles.transcript import read_transcript
from tests.conftest import REPO, TINY_FILM, hf_cache_at, write_tiny_project

pytestmark = pytest.mark.timeout(120)

MODELS_YAML = """\
models:
  whisper-large-v3-turbo: {repo: racines-tiny/whisper, licence: test-only, library: transformers}
  m2m100-418m: {repo: racines-tiny/m2m100, licence: test-only, library: transformers}
  opus-mt-fr-ar: {repo: racines-tiny/opus-mt-fr-ar, licence: test-only, library: transformers}
  nllb: {repo: racines-tiny/nllb, licence: cc-by-nc-4.0, library: transformers}
"""
SOUND_YAML = """\
voices:
  - {file: sound/amina_fr.wav, speaker: Amina, consent: granted, language: fr, record_in: 0, duration: 2s}
  - {file: sound/karim_ar.wav, speaker: Karim, consent: granted, language: ar, record_in: 0, duration: 2s}
  - {file: sound/awa_wo.wav, speaker: Awa, consent: granted, language: wo, record_in: 0, duration: 2s}
  - {file: sound/linh_vi.wav, speaker: Linh, consent: pending, language: vi, record_in: 0, duration: 2s}
"""
TYPED_AR = ("WEBVTT\nLanguage: ar\nOrigin: typed\n\n00:00:00.200 --> 00:00:01.500\nوصلت جدتي إلى مرسيليا\n\n"
            "00:00:01.700 --> 00:00:03.000\nسنة 1962\n")
REPOS = {"whisper": "whisper", "marian": "opus-mt-fr-ar", "m2m100": "m2m100", "nllb": "nllb"}


@pytest.fixture(scope="module")
def speech_hub(tmp_path_factory):
    """The tiny speech and translation models, saved once into a Hugging Face cache."""

    hub = tmp_path_factory.mktemp("speech-hub")
    commits = {name: tiny.into_hf_cache(tiny.BUILDERS[name](), hub, f"racines-tiny/{repo}") for name, repo in REPOS.items()}
    with hf_cache_at(hub):
        yield commits


@pytest.fixture
def voices_project(tmp_path, speech_hub) -> Path:
    """A tiny film with the demo's French and Arabic voices, a Wolof one (which Whisper lacks) and
    one without consent; the Arabic voice has a typed transcript."""
    root = write_tiny_project(tmp_path / "film", film=TINY_FILM + "subtitles: {languages: [fr, ar]}\n")
    sound = root / "shots" / "sound"
    sound.mkdir()
    for name in ("amina_fr", "karim_ar", "linh_vi"):
        shutil.copy(REPO / "shots" / "sound" / f"{name}.wav", sound / f"{name}.wav")
    shutil.copy(REPO / "shots" / "sound" / "linh_vi.wav", sound / "awa_wo.wav")
    (root / "shots" / "sound.yaml").write_text(SOUND_YAML)
    (root / "models.yaml").write_text(MODELS_YAML)
    (sound / "karim_ar.ar.vtt").write_text(TYPED_AR, encoding="utf-8")
    return root


def run(root: Path, *args: str):
    return CliRunner().invoke(main, ["--project", str(root), "subtitles", *args])


def seconds_of(root: Path, wav: str) -> Fraction:
    from scipy.io import wavfile

    rate, data = wavfile.read(root / "shots" / "sound" / wav)
    return Fraction(len(data), rate)


def clock(seconds: Fraction) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


def test_transcribe_drafts_each_voice_and_keeps_typed_ones(voices_project, speech_hub):
    root = voices_project
    typed = (root / "shots/sound/karim_ar.ar.vtt").read_bytes()
    result = run(root, "transcribe", "--device", "cpu")
    # the Wolof voice is refused, so the command says so and fails; the others are done first
    assert result.exit_code == 2, result.output
    assert "shots/sound/amina_fr.fr.vtt: written" in result.output
    assert "shots/sound/karim_ar.ar.vtt: kept; typed" in result.output
    assert "Whisper cannot transcribe the language 'wo'" in result.output
    assert "type the transcript in shots/sound/awa_wo.wo.vtt" in result.output
    assert "shots/sound/linh_vi.vi.vtt: skipped; consent 'pending'" in result.output
    assert not (root / "shots/sound/awa_wo.wo.vtt").exists() and not (root / "shots/sound/linh_vi.vi.vtt").exists()
    assert (root / "shots/sound/karim_ar.ar.vtt").read_bytes() == typed

    length = seconds_of(root, "amina_fr.wav")
    draft = read_transcript(root, "shots/sound/amina_fr.fr.vtt", length)
    assert (draft.language, draft.origin, draft.reviewed) == ("fr", MACHINE, False)
    assert draft.model == f"racines-tiny/whisper@{speech_hub['whisper']}"
    assert draft.phrases, "the random Whisper still says something"
    for before, after in zip(draft.phrases, draft.phrases[1:]):
        assert before.end <= after.start
    assert all(0 <= p.start < p.end <= length for p in draft.phrases)
    assert all(p.start <= w.start <= w.end <= p.end for p in draft.phrases for w in p.words)
    # an independent reader agrees on the cues
    cues = webvtt.read(str(root / "shots/sound/amina_fr.fr.vtt"))
    assert [(c.start, c.end) for c in cues] == [(clock(p.start), clock(p.end)) for p in draft.phrases]

    made = json.loads((root / "renders/cache/subtitles/drafts.json").read_text())["drafts"]["shots/sound/amina_fr.fr.vtt"]
    assert made["device"] == "cpu" and made["kind"] == "transcription" and made["model"] == draft.model
    assert made["seconds"] > 0 and made["audio_seconds"] == pytest.approx(float(length), abs=0.001)

    # again: nothing to do for the draft, which stays as it was
    written = (root / "shots/sound/amina_fr.fr.vtt").read_bytes()
    again = run(root, "transcribe", "--device", "cpu", "--voice", "shots/sound/amina_fr.wav")
    assert again.exit_code == 0, again.output
    assert "amina_fr.fr.vtt: up to date" in again.output
    assert (root / "shots/sound/amina_fr.fr.vtt").read_bytes() == written


def test_translate_keeps_times_and_never_replaces_typed(voices_project, speech_hub):
    root = voices_project
    assert run(root, "transcribe", "--device", "cpu", "--voice", "shots/sound/amina_fr.wav").exit_code == 0
    typed_fr = "WEBVTT\nLanguage: fr\nOrigin: typed\n\n00:00:00.200 --> 00:00:03.000\nMa grand-mère\n"
    result = run(root, "translate", "--device", "cpu")
    assert result.exit_code == 0, result.output
    # French -> Arabic by the Marian pair models.yaml names; Arabic -> French by the default, M2M100
    fr_ar = read_transcript(root, "shots/sound/amina_fr.ar.vtt")
    source = read_transcript(root, "shots/sound/amina_fr.fr.vtt")
    assert (fr_ar.language, fr_ar.origin, fr_ar.translated_from) == ("ar", MACHINE, "fr")
    assert fr_ar.model == f"racines-tiny/opus-mt-fr-ar@{speech_hub['marian']}"
    assert [(p.start, p.end) for p in fr_ar.phrases] == [(p.start, p.end) for p in source.phrases]
    ar_fr = read_transcript(root, "shots/sound/karim_ar.fr.vtt")
    assert (ar_fr.language, ar_fr.translated_from) == ("fr", "ar")
    assert ar_fr.model == f"racines-tiny/m2m100@{speech_hub['m2m100']}"
    assert [(p.start, p.end) for p in ar_fr.phrases] == [(Fraction(1, 5), Fraction(3, 2)), (Fraction(17, 10), Fraction(3))]
    assert not any("__" in p.text for p in ar_fr.phrases), "M2M100's language tokens are not text"
    assert "awa_wo.fr.vtt: skipped; no transcript shots/sound/awa_wo.wo.vtt" in result.output

    # a typed translation is kept byte for byte; a machine one is redone with another model
    (root / "shots/sound/amina_fr.ar.vtt").write_text(typed_fr.replace("fr", "ar", 1), encoding="utf-8")
    typed = (root / "shots/sound/amina_fr.ar.vtt").read_bytes()
    again = run(root, "translate", "--device", "cpu", "--language", "ar", "--language", "fr", "--model", "nllb",
                "--voice", "shots/sound/amina_fr.wav", "--voice", "shots/sound/karim_ar.wav")
    assert again.exit_code == 0, again.output
    assert "amina_fr.ar.vtt: kept; typed" in again.output
    assert (root / "shots/sound/amina_fr.ar.vtt").read_bytes() == typed
    nllb = read_transcript(root, "shots/sound/karim_ar.fr.vtt")
    assert nllb.model == f"racines-tiny/nllb@{speech_hub['nllb']}" and nllb.origin == MACHINE


def test_nllb_is_told_the_target_language(voices_project):
    from racines import pipeline
    from racines.subtitles import drafts
    from racines.subtitles.translate import load_translator

    film = pipeline.load(voices_project, "draft")
    translator = load_translator(drafts.model_of(film, "nllb", ("m2m_100",), "translation"), "cpu")
    prefix, extra = translator.prepare("ar", "fr")
    assert translator.family == "nllb" and prefix == ""
    assert translator.tokenizer.convert_ids_to_tokens(extra["forced_bos_token_id"]) == "fra_Latn"
    assert translator.tokenizer.src_lang == "arb_Arab"
    from racines.errors import UsageError

    with pytest.raises(UsageError, match="opus-mt-fr-ar.*translates fr to ar, not ar to fr"):
        load_translator(drafts.model_of(film, "opus-mt-fr-ar", ("marian",), "translation"), "cpu").prepare("ar", "fr")


def test_words_become_phrases_within_the_recording():
    from racines.subtitles.transcribe import phrases_of, words_of

    chunks = [{"text": " Ma", "timestamp": (0.0, 0.3)}, {"text": " grand-mère", "timestamp": (0.25, 0.9)},
              {"text": " est\x07 arrivée.", "timestamp": (0.9, 1.6)}, {"text": " -->", "timestamp": (3.0, None)},
              {"text": " Marseille", "timestamp": (7.5, 9.0)}, {"text": " fin", "timestamp": (9.0, 9.0)}]
    duration = Fraction(50004, 10000)   # 5.0004 s: a time of 5.000 is the last a transcript can name
    words, spaced = words_of(chunks, duration)
    phrases = phrases_of(words, duration, spaced)
    assert [w.text for w in words] == ["Ma", "grand-mère", "est", "arrivée.", "\u2192", "Marseille", "fin"]
    assert [p.text for p in phrases] == ["Ma grand-mère est arrivée.", "\u2192", "Marseille fin"]
    # a phrase of no length takes a fifth of a second: after its start where there is room, else before its end
    assert [(p.start, p.end) for p in phrases] == [(0, Fraction(8, 5)), (3, Fraction(16, 5)), (Fraction(24, 5), 5)]
    assert all(0 <= w.start <= w.end <= 5 for w in words)


def test_refusals_and_missing_models(voices_project, empty_hub):
    result = run(voices_project, "transcribe", "--device", "cpu", "--voice", "shots/sound/amina_fr.wav")
    assert result.exit_code == 3, result.output
    assert "racines-tiny/whisper at main) is not in the Hugging Face cache" in result.output
    assert "hf download racines-tiny/whisper" in result.output
    # a typed transcript is kept without asking for the model
    typed = run(voices_project, "transcribe", "--voice", "shots/sound/karim_ar.wav")
    assert typed.exit_code == 0 and "karim_ar.ar.vtt: kept; typed" in typed.output, typed.output
    assert run(voices_project, "transcribe", "--voice", "sound/nope.wav").exit_code == 2
    bad = run(voices_project, "transcribe", "--model", "nllb")
    assert bad.exit_code in (2, 3), bad.output


def test_models_lists_the_speech_models_and_their_licences(voices_project):
    lines = CliRunner().invoke(main, ["--project", str(voices_project), "models"]).output.splitlines()
    licences = {line.split()[0]: lines[i + 1].split("licence:")[1].strip()
                for i, line in enumerate(lines[:-1]) if line[:1].strip() and "licence:" in lines[i + 1]}
    assert licences["nllb"] == "cc-by-nc-4.0"           # the film named it; never a default
    assert licences["whisper-large-v3-turbo"] == "test-only"   # models.yaml overrides the built-in name
    assert licences["whisper-small"] == "apache-2.0" and licences["m2m100-418m"] == "test-only"


def test_safety_refuses_pickles_and_custom_tokenizers(tmp_path):
    from racines.models.safety import ModelRefused, check_transformers_folder

    folder = tiny.save(tiny.BUILDERS["whisper"](), tmp_path / "whisper")
    assert check_transformers_folder(folder) == "whisper"
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "auto_map": {"AutoTokenizer": ["x.Tok", None]}}))
    with pytest.raises(ModelRefused, match="auto_map in tokenizer_config.json"):
        check_transformers_folder(folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ModelRefused, match="only pickle weights"):
        check_transformers_folder(folder)


def test_download_advice_takes_what_the_speech_and_translation_models_load():
    """The files `hf download` takes with the advice's patterns (huggingface_hub's own filter)."""
    import re
    import shlex

    from huggingface_hub.utils import filter_repo_objects

    from racines.film.schema import ModelEntry
    from racines.models.catalogue import BUILTIN
    from racines.models.resolve import how_to_get

    def downloaded(name: str, entry: ModelEntry, files: list[str]) -> set[str]:
        words = shlex.split(re.search(r"hf download (.*?);", how_to_get(name, entry)).group(1))
        include = words[words.index("--include") + 1:words.index("--exclude")]
        return set(filter_repo_objects(files, allow_patterns=include, ignore_patterns=words[words.index("--exclude") + 1:]))

    whisper = ["config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json",
               "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "added_tokens.json",
               "special_tokens_map.json", "normalizer.json", "README.md", "flax_model.msgpack", "pytorch_model.bin"]
    assert downloaded("whisper-large-v3-turbo", BUILTIN["whisper-large-v3-turbo"], whisper) == set(whisper) - {
        "flax_model.msgpack", "pytorch_model.bin"}
    marian = ["config.json", "generation_config.json", "model.safetensors", "source.spm", "target.spm", "vocab.json",
              "tokenizer_config.json", "pytorch_model.bin", "tf_model.h5", "rust_model.ot"]
    entry = ModelEntry(repo="Helsinki-NLP/opus-mt-ar-fr", library="transformers")
    assert downloaded("opus-mt-ar-fr", entry, marian) == {"config.json", "generation_config.json", "model.safetensors",
                                                           "source.spm", "target.spm", "vocab.json", "tokenizer_config.json"}


def test_a_recording_longer_than_whispers_window(voices_project, speech_hub):
    """Past 30 s, Whisper reads overlapping windows: the words still come in order, inside the recording."""
    import numpy as np

    from racines import pipeline
    from racines.subtitles import drafts
    from racines.subtitles.transcribe import SAMPLE_RATE, decode_16k, load_whisper, phrases_of, recognise, words_of

    film = pipeline.load(voices_project, "draft")
    whisper = load_whisper(drafts.model_of(film, "whisper-large-v3-turbo", ("whisper",), "transcription"), "cpu")
    assert whisper.asr.feature_extractor.feature_size == 128     # the checkpoint's, not the default 80
    voice = decode_16k(voices_project / "shots/sound/amina_fr.wav")
    assert abs(len(voice) / SAMPLE_RATE - 6.2394) < 0.01
    samples = np.tile(voice, 6)                                   # 37.4 s
    duration = Fraction(len(samples), SAMPLE_RATE)
    words, spaced = words_of(recognise(whisper, samples, "fr"), duration)
    phrases = phrases_of(words, duration, spaced)
    assert words and phrases
    assert all(0 <= a.start <= a.end <= b.start for a, b in zip(words, words[1:]))
    assert all(0 <= p.start < p.end <= duration for p in phrases)
