"""Machine drafts of what each voice says: Whisper, run locally through transformers.

For each consented voice recording with no typed or reviewed transcript in its language, the
recording is decoded to 16 kHz mono by racines' ffmpeg and transcribed by Whisper with the
language forced to the voice's (never detected), with word timestamps (eager attention, whose
cross-attentions align words with the audio). The words become phrases at sentence ends and
pauses, every time clamped to the recording (Whisper can place words past its end), and the
draft is written beside the recording (``sound/amina_fr.fr.vtt``, ``Origin: machine draft,
MODEL@REVISION``) for a person to review.

The model comes from racines' registry like the generators': resolved offline from the
Hugging Face cache, safetensors only, no custom code; its feature extractor is the checkpoint's
own (large-v3 and its turbo take 128 mel bins, earlier Whispers 80). A voice in a language
Whisper has no token for (Wolof, Kabyle, Fula, Tamazight, Bambara, Twi, Kurdish, Tigrinya...)
is refused with the file to type instead.
"""

from __future__ import annotations

import math
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from racines.core.reading import sha256_of
from racines.errors import ModelUnavailable
from racines.film.model import Film, SoundClip
from racines.models.resolve import ResolvedModel
from racines.subtitles import drafts
from racines.subtitles.drafts import REFUSED, SKIPPED, WRITTEN, Outcome
from racines.subtitles.model import MACHINE, Phrase, Transcript, Word
from racines.subtitles.transcript import transcript_path, write_transcript

DEFAULT_MODEL = "whisper-large-v3-turbo"
SAMPLE_RATE = 16000           # what every Whisper hears
CHUNK_SECONDS = 30            # Whisper's window; a longer recording is read in overlapping windows
MAX_PHRASE_SECONDS = Fraction(7)
PAUSE_SECONDS = Fraction(4, 5)   # a silence this long between two words ends a phrase
SENTENCE_END = re.compile(r"[.!?…。！？؟]['\"»”’)]*$")
#: BCP 47 primary subtags that Whisper spells otherwise
WHISPER_CODES = {"jv": "jw", "iw": "he", "zh": "zh", "yue": "yue"}


def whisper_language(language: str) -> str | None:
    """Whisper's code for a voice's BCP 47 tag (``fr-FR`` -> ``fr``), or None where Whisper has none."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    primary = language.split("-")[0].lower()
    code = WHISPER_CODES.get(primary, primary)
    return code if code in LANGUAGES else None


def refusal(clip: SoundClip) -> str:
    relpath = transcript_path(clip.recording.relpath, clip.language)
    return (f"Whisper cannot transcribe the language '{clip.language}' (it has no such language token); "
            f"type the transcript in {relpath} (Origin: typed), see docs/subtitles.md")


@dataclass
class Whisper:
    """A loaded Whisper and its checkpoint's processor, on one device."""

    model: ResolvedModel
    device: str
    asr: object                # transformers' automatic-speech-recognition pipeline

    @property
    def name(self) -> str:
        return self.model.source   # repo@commit, or the folder

    def knows(self, code: str) -> bool:
        lang_to_id = getattr(self.asr.model.generation_config, "lang_to_id", None) or {}
        return f"<|{code}|>" in lang_to_id


def load_whisper(model: ResolvedModel, device: str) -> Whisper:
    """Load a checked Whisper folder offline; the feature extractor from the checkpoint's own
    preprocessor config (its mel bins), never transformers' defaults."""
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor, pipeline

    folder = str(model.folder)     # safety: safetensors only, no auto_map code
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    network = WhisperForConditionalGeneration.from_pretrained(
        folder, local_files_only=True, use_safetensors=True, dtype=dtype, attn_implementation="eager")
    processor = WhisperProcessor.from_pretrained(folder, local_files_only=True)
    mels = processor.feature_extractor.feature_size
    if mels != network.config.num_mel_bins:
        raise ModelUnavailable(f"the model '{model.name}' ({model.source}): its preprocessor gives {mels} mel bins "
                               f"but the network takes {network.config.num_mel_bins}; download the model again")
    network.to(device).eval()
    asr = pipeline("automatic-speech-recognition", model=network, tokenizer=processor.tokenizer,
                   feature_extractor=processor.feature_extractor, device=device, dtype=dtype)
    return Whisper(model=model, device=device, asr=asr)


def decode_16k(path: Path) -> np.ndarray:
    """The recording as 16 kHz mono float32 samples, decoded and resampled (soxr) by racines' ffmpeg."""
    import ffmpeg

    from racines.media.ffmpeg import run

    with tempfile.TemporaryDirectory(prefix="racines-asr-") as tmp:
        raw = Path(tmp, "voice.f32")
        run(ffmpeg.input(str(path)).output(str(raw), f="f32le", acodec="pcm_f32le", ac=1,
                                           af=f"aresample={SAMPLE_RATE}:resampler=soxr"),
            f"decoding {path.name} for transcription")
        return np.fromfile(raw, dtype="<f4")


def recognise(whisper: Whisper, samples, language: str) -> list[dict]:
    """Whisper's words with their (start, end) seconds, the language forced."""
    seconds = len(samples) / SAMPLE_RATE
    options = {"chunk_length_s": CHUNK_SECONDS, "batch_size": 1} if seconds > CHUNK_SECONDS else {}
    out = whisper.asr({"raw": samples, "sampling_rate": SAMPLE_RATE}, return_timestamps="word",
                      generate_kwargs={"language": language, "task": "transcribe"}, **options)
    return list(out.get("chunks") or [])


def _clean(text: str) -> str:
    """A word as a transcript line can hold it: no control characters, no cue-timing arrow."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    return text.replace("-->", "\u2192")


def within(duration: Fraction) -> Fraction:
    """The last millisecond a transcript can name inside a recording of ``duration`` seconds
    (WebVTT counts milliseconds: 5.6328 s rounds to 5.633, past the end)."""
    return Fraction(math.floor(duration * 1000), 1000)


def _ms(seconds: float | None, fallback: Fraction, limit: Fraction) -> Fraction:
    value = fallback if seconds is None else Fraction(round(float(seconds) * 1000), 1000)
    return min(max(value, Fraction(0)), limit)


def words_of(chunks: list[dict], duration: Fraction) -> tuple[list[Word], bool]:
    """Whisper's word chunks as words in order, each within the recording and none before the
    one before it ends; and whether the language separates words by spaces (Whisper's word
    texts then start with one)."""
    duration = within(duration)
    words: list[Word] = []
    spaced = sum(str(c.get("text", "")).startswith(" ") for c in chunks) * 2 >= len(chunks)
    previous_end = Fraction(0)
    for chunk in chunks:
        start_s, end_s = (tuple(chunk.get("timestamp") or (None, None)) + (None, None))[:2]
        start = max(_ms(start_s, previous_end, duration), previous_end)
        end = max(_ms(end_s, start, duration), start)
        for part in _clean(str(chunk.get("text", ""))).split():
            words.append(Word(part, start, end))
        previous_end = end
    return words, spaced


def phrases_of(words: list[Word], duration: Fraction, spaced: bool) -> list[Phrase]:
    """Words grouped into phrases: a new one after a sentence's end, a pause, or 7 seconds.
    Every phrase lasts (a word of no length takes a fifth of a second where there is room)
    and none overlaps the next; a phrase that cannot last joins the one before."""
    duration = within(duration)
    groups: list[list[Word]] = []
    for word in words:
        if groups:
            last = groups[-1][-1]
            if (SENTENCE_END.search(last.text) or word.start - last.end >= PAUSE_SECONDS
                    or word.end - groups[-1][0].start > MAX_PHRASE_SECONDS):
                groups.append([word])
                continue
            groups[-1].append(word)
        else:
            groups.append([word])
    spans = [[group, group[0].start, group[-1].end] for group in groups]
    kept: list[list] = []
    for index, span in enumerate(spans):
        group, start, end = span
        if end <= start:
            room = spans[index + 1][1] if index + 1 < len(spans) else duration
            end = min(room, start + Fraction(1, 5))
            if end <= start:
                start = max(kept[-1][2] if kept else Fraction(0), end - Fraction(1, 5))
        if end <= start and kept:
            kept[-1][0] = kept[-1][0] + group
            kept[-1][2] = max(kept[-1][2], end)
            continue
        if end > start:
            kept.append([group, start, end])
    joiner = " " if spaced else ""
    return [Phrase(start=start, end=end, text=joiner.join(w.text for w in group),
                   words=tuple(Word(w.text, min(max(w.start, start), end), min(max(w.end, start), end)) for w in group))
            for group, start, end in kept]


def transcribe_film(film: Film, model_name: str = DEFAULT_MODEL, device: str = "auto",
                    recordings: tuple[str, ...] = (), redo: bool = False,
                    on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Draft the transcript of every consented voice (or of ``recordings``) in its language.

    Returns one :class:`Outcome` a voice: written, kept (typed or reviewed), up to date,
    skipped (no consent) or refused (a language Whisper lacks). The model is loaded only if a
    draft is to be made."""
    outcomes: list[Outcome] = []
    whisper: Whisper | None = None
    model: ResolvedModel | None = None

    def report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    for clip in drafts.voices(film, recordings):
        relpath = transcript_path(clip.recording.relpath, clip.language)
        if not clip.consented:
            report(Outcome(clip.recording.relpath, relpath, clip.language, SKIPPED,
                           f"consent '{clip.consent}': a voice is transcribed only with its speaker's consent"))
            continue
        code = whisper_language(clip.language)
        if code is None:
            report(Outcome(clip.recording.relpath, relpath, clip.language, REFUSED, refusal(clip)))
            continue
        if (done := drafts.kept(film, relpath, clip, clip.language)) is not None:
            report(done)
            continue
        source_hash = sha256_of(clip.recording.path)
        if model is None:   # resolved once, only when a voice may need it
            model = drafts.model_of(film, model_name, ("whisper",), "transcription")
        if (done := drafts.up_to_date(film, relpath, clip, clip.language, model.source, source_hash, redo)):
            report(done)
            continue
        if whisper is None:
            whisper = load_whisper(model, drafts.choose_device(device))
        if not whisper.knows(code):
            report(Outcome(clip.recording.relpath, relpath, clip.language, REFUSED,
                           refusal(clip).replace("Whisper", f"the model '{model.name}'", 1)))
            continue
        report(transcribe_voice(film, clip, whisper, code, source_hash))
    return outcomes


def transcribe_voice(film: Film, clip: SoundClip, whisper: Whisper, code: str, source_hash: str) -> Outcome:
    relpath = transcript_path(clip.recording.relpath, clip.language)
    duration = drafts.recording_seconds(clip)
    began = time.perf_counter()
    samples = decode_16k(clip.recording.path)
    words, spaced = words_of(recognise(whisper, samples, code), duration)
    phrases = phrases_of(words, duration, spaced)
    seconds = time.perf_counter() - began
    transcript = Transcript(relpath=relpath, recording=clip.recording.relpath, language=clip.language,
                            origin=MACHINE, reviewed=False, phrases=tuple(phrases), model=whisper.name)
    write_transcript(film.root, transcript)
    drafts.remember(film.root, relpath, kind="transcription", model=whisper.name, device=whisper.device,
                    seconds=round(seconds, 3), audio_seconds=round(float(duration), 3),
                    input=clip.recording.relpath, input_sha256=source_hash)
    note = "" if phrases else "Whisper heard no words"
    return Outcome(clip.recording.relpath, relpath, clip.language, WRITTEN, note, seconds, float(duration))


__all__ = ["DEFAULT_MODEL", "Whisper", "decode_16k", "load_whisper", "phrases_of", "recognise", "refusal",
           "transcribe_film", "transcribe_voice", "whisper_language", "words_of"]
