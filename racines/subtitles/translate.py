"""Machine drafts of translations: each voice's transcript into the film's subtitle languages.

The source is the voice's transcript in its own language, typed or drafted
(``sound/karim_ar.ar.vtt``). Each phrase is translated on its own by a local sequence-to-sequence
model through ``generate`` (transformers 5 has no translation pipeline) and keeps its times, so
the translation lines up with the voice as the original does. The result is a machine draft
(``sound/karim_ar.fr.vtt``, ``Origin: machine draft, MODEL@REVISION``, ``Translated-From: ar``)
for a person to review; a typed or reviewed translation is never replaced.

Models, resolved offline from racines' registry (safetensors only, no custom code):

* a Marian pair (Helsinki-NLP/opus-mt-SRC-TGT, mostly Apache-2.0), used for its pair when the
  film's models.yaml names it ``opus-mt-SRC-TGT``;
* otherwise M2M100 (facebook/m2m100_418M, MIT), one model for 100 languages, the target forced
  as the first generated token;
* NLLB-200 (CC-BY-NC-4.0, non-commercial) only when the film's models.yaml names it and the
  command is given its name (``--model``); it is the one that has Wolof, Kabyle, Fula...
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from racines.core.reading import sha256_of
from racines.errors import UsageError
from racines.film.model import Film, SoundClip
from racines.models.resolve import ResolvedModel
from racines.subtitles import drafts
from racines.subtitles.drafts import REFUSED, SKIPPED, WRITTEN, Outcome
from racines.subtitles.model import MACHINE, Phrase, Transcript
from racines.subtitles.transcript import transcript_path, write_transcript

DEFAULT_MODEL = "m2m100-418m"
FAMILIES = ("marian", "m2m_100")
BATCH = 16                      # phrases translated together
UNTRANSLATED = "\u2026"         # what a phrase the model returned nothing for holds, for the reviewer
#: NLLB-200's codes where ISO 639-3 + the usual script is not its choice (macrolanguages)
NLLB_CODES = {"ar": "arb_Arab", "fa": "pes_Arab", "zh": "zho_Hans", "zh-Hant": "zho_Hant", "ms": "zsm_Latn",
              "sw": "swh_Latn", "ku": "kmr_Latn", "ber": "tzm_Tfng", "ff": "fuv_Latn", "et": "est_Latn",
              "lv": "lvs_Latn", "uz": "uzn_Latn", "mn": "khk_Cyrl", "om": "gaz_Latn", "ne": "npi_Deva",
              "no": "nob_Latn", "az": "azj_Latn", "ps": "pbt_Arab", "qu": "quy_Latn", "sq": "als_Latn"}


def model_for(film: Film, source: str, target: str, chosen: str | None) -> str:
    """The registry name that translates ``source`` into ``target``: ``chosen``, else the Marian
    pair ``opus-mt-SRC-TGT`` where the film's models.yaml names one, else the default (M2M100)."""
    if chosen:
        return chosen
    pair = f"opus-mt-{source.split('-')[0].lower()}-{target.split('-')[0].lower()}"
    return pair if pair in film.models else DEFAULT_MODEL


def nllb_code(language: str) -> str:
    """NLLB-200's code for a BCP 47 tag (``fr`` -> ``fra_Latn``): ISO 639-3 and the likely script."""
    import langcodes

    if language in NLLB_CODES or language.split("-")[0] in NLLB_CODES:
        return NLLB_CODES.get(language) or NLLB_CODES[language.split("-")[0]]
    tag = langcodes.Language.get(language).maximize()
    return f"{tag.to_alpha3()}_{tag.script}"


@dataclass
class Translator:
    """A loaded translation model and how it is told the languages."""

    model: ResolvedModel
    device: str
    network: object
    tokenizer: object

    @property
    def name(self) -> str:
        return self.model.source

    @property
    def family(self) -> str:
        """marian, m2m100 or nllb (NLLB-200 is M2M100's architecture with its own tokenizer)."""
        if self.model.kind == "transformers:marian":
            return "marian"
        return "nllb" if "Nllb" in type(self.tokenizer).__name__ else "m2m100"

    def prepare(self, source: str, target: str) -> tuple[str, dict]:
        """(a prefix for each source text, generate's extra arguments) for this pair; raise
        :class:`UsageError` where the model has no token for a language."""
        if self.family == "marian":
            return self._marian(source, target)
        if self.family == "nllb":
            codes = nllb_code(source), nllb_code(target)
            unknown = self.tokenizer.convert_tokens_to_ids("<unk>")
            for language, code in zip((source, target), codes):
                if self.tokenizer.convert_tokens_to_ids(code) in (None, unknown):
                    raise UsageError(f"the model '{self.model.name}' has no language code {code} (for '{language}')")
            self.tokenizer.src_lang = codes[0]
            return "", {"forced_bos_token_id": self.tokenizer.convert_tokens_to_ids(codes[1])}
        codes = source.split("-")[0].lower(), target.split("-")[0].lower()
        for language, code in zip((source, target), codes):
            if code not in getattr(self.tokenizer, "lang_code_to_token", {}):
                raise UsageError(f"the model '{self.model.name}' cannot translate '{language}': it has no "
                                 f"language token __{code}__; name another model with --model")
        self.tokenizer.src_lang = codes[0]
        return "", {"forced_bos_token_id": self.tokenizer.get_lang_id(codes[1])}

    def _marian(self, source: str, target: str) -> tuple[str, dict]:
        # a pair's repo names its languages: refuse a pair model asked for another pair
        named = re.search(r"opus-mt-([a-z]{2,3})-([a-z]{2,3})$", self.model.entry.repo or self.model.name)
        wanted = source.split("-")[0].lower(), target.split("-")[0].lower()
        if named and named.groups() != wanted:
            raise UsageError(f"the model '{self.model.name}' translates {named.group(1)} to {named.group(2)}, "
                             f"not {wanted[0]} to {wanted[1]}; leave out --model, or name opus-mt-{wanted[0]}-{wanted[1]}")
        token = f">>{wanted[1]}<<"    # a multi-target Marian model is told its target by a first token
        return (f"{token} " if token in self.tokenizer.get_vocab() else ""), {}

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        import torch

        prefix, extra = self.prepare(source, target)
        out: list[str] = []
        for at in range(0, len(texts), BATCH):
            batch = [prefix + text for text in texts[at:at + BATCH]]
            inputs = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True).to(self.device)
            longest = int(inputs["input_ids"].shape[1])
            with torch.no_grad():
                ids = self.network.generate(**inputs, **extra, do_sample=False, max_new_tokens=4 * longest + 16)
            out += [" ".join(self.tokenizer.decode([i for i in row.tolist() if i not in self._language_ids],
                                                   skip_special_tokens=True).split()) for row in ids]
        return out

    @property
    def _language_ids(self) -> set[int]:
        # M2M100's slow tokenizer does not count its __fr__ tokens as special: never text
        return set(getattr(self.tokenizer, "id_to_lang_token", {}))


def load_translator(model: ResolvedModel, device: str) -> Translator:
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    folder = str(model.folder)      # safety: safetensors only, no auto_map code
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    network = AutoModelForSeq2SeqLM.from_pretrained(folder, local_files_only=True, use_safetensors=True, dtype=dtype)
    return Translator(model=model, device=device, network=network.to(device).eval(), tokenizer=tokenizer)


def _clean(text: str) -> str:
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    return " ".join(text.replace("-->", "\u2192").split()) or UNTRANSLATED


def subtitle_languages(film: Film, languages: tuple[str, ...]) -> tuple[str, ...]:
    chosen = languages or tuple(film.subtitles.languages)
    if not chosen:
        raise UsageError("no subtitle languages: add 'subtitles: {languages: [fr, ar]}' to shots/film.yaml, "
                         "or pass --language")
    return chosen


def translate_film(film: Film, languages: tuple[str, ...] = (), model_name: str | None = None, device: str = "auto",
                   recordings: tuple[str, ...] = (), redo: bool = False,
                   on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Draft each voice's transcript in every subtitle language other than its own.

    ``languages``: these (default: film.yaml's ``subtitles: languages:``). One :class:`Outcome`
    a voice and language."""
    targets = subtitle_languages(film, languages)
    outcomes: list[Outcome] = []
    loaded: dict[str, Translator] = {}
    resolved: dict[str, ResolvedModel] = {}
    chosen_device = None

    def report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    for clip in drafts.voices(film, recordings):
        source_path = transcript_path(clip.recording.relpath, clip.language)
        for target in targets:
            if target.lower() == clip.language.lower():
                continue
            relpath = transcript_path(clip.recording.relpath, target)
            if not clip.consented:
                report(Outcome(clip.recording.relpath, relpath, target, SKIPPED,
                               f"consent '{clip.consent}': a voice is translated only with its speaker's consent"))
                continue
            if (done := drafts.kept(film, relpath, clip, target)) is not None:
                report(done)
                continue
            original = drafts.existing(film, source_path, clip)
            if original is None:
                report(Outcome(clip.recording.relpath, relpath, target, SKIPPED,
                               f"no transcript {source_path} to translate: type it, or run racines subtitles transcribe"))
                continue
            name = model_for(film, clip.language, target, model_name)
            if name not in resolved:
                resolved[name] = drafts.model_of(film, name, FAMILIES, "translation")
            model = resolved[name]
            source_hash = sha256_of(film.root / source_path)
            if (done := drafts.up_to_date(film, relpath, clip, target, model.source, source_hash, redo)):
                report(done)
                continue
            if name not in loaded:
                chosen_device = chosen_device or drafts.choose_device(device)
                loaded[name] = load_translator(model, chosen_device)
            try:
                report(translate_voice(film, clip, original, target, loaded[name], source_hash))
            except UsageError as exc:
                report(Outcome(clip.recording.relpath, relpath, target, REFUSED, str(exc)))
    return outcomes


def translate_voice(film: Film, clip: SoundClip, original: Transcript, target: str, translator: Translator,
                    source_hash: str) -> Outcome:
    relpath = transcript_path(clip.recording.relpath, target)
    began = time.perf_counter()
    texts = [" ".join(phrase.text.split()) for phrase in original.phrases]
    translated = translator.translate(texts, original.language, target) if texts else []
    phrases = tuple(Phrase(start=p.start, end=p.end, text=_clean(text)) for p, text in zip(original.phrases, translated))
    seconds = time.perf_counter() - began
    transcript = Transcript(relpath=relpath, recording=clip.recording.relpath, language=target, origin=MACHINE,
                            reviewed=False, phrases=phrases, model=translator.name, translated_from=original.language)
    write_transcript(film.root, transcript)
    drafts.remember(film.root, relpath, kind="translation", model=translator.name, device=translator.device,
                    seconds=round(seconds, 3), input=original.relpath, input_sha256=source_hash)
    empty = sum(p.text == UNTRANSLATED for p in phrases)
    note = f"{empty} of {len(phrases)} phrases came back empty (marked {UNTRANSLATED})" if empty else ""
    return Outcome(clip.recording.relpath, relpath, target, WRITTEN, note, seconds)


__all__ = ["DEFAULT_MODEL", "Translator", "load_translator", "model_for", "nllb_code", "subtitle_languages",
           "translate_film", "translate_voice"]
