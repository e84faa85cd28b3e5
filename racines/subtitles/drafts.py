"""What machine drafts share: which voices, what a draft may replace, the device, the models,
and the record of how each draft was made.

A draft is made only when asked (``racines subtitles transcribe`` / ``translate``). It never
takes the place of a typed or reviewed transcript (:func:`racines.subtitles.transcript.may_replace`),
and it is made again only when its input (the recording, or the transcript it translates) or
its model changed: ``renders/cache/subtitles/drafts.json`` remembers, for each draft, the
input's SHA-256, the model and revision, the device and the seconds it took. The draft's own
header names the model and revision too; the record only saves work (deleting it loses
nothing but that).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from racines.core.atomic import write_json
from racines.core.lock import short_lock
from racines.errors import ModelUnavailable, Problem, UsageError, ValidationFailed
from racines.film.model import Film, SoundClip
from racines.models.resolve import ModelMissing, ModelRefused, ResolvedModel, UnknownModel, entry_of, resolve
from racines.subtitles.model import TYPED, Transcript
from racines.subtitles.transcript import may_replace, read_transcript

RECORD = Path("renders/cache/subtitles/drafts.json")

WRITTEN = "written"          # a new draft is in place
KEPT = "kept"                # a typed or reviewed transcript is there: never replaced
UP_TO_DATE = "up to date"    # the draft there was made from the same input by the same model
SKIPPED = "skipped"          # nothing to make it from (no consent, no transcript to translate)
REFUSED = "refused"          # the model cannot do it (a language Whisper lacks...): the note says what to do


@dataclass(frozen=True)
class Outcome:
    """What happened to one transcript file."""

    recording: str           # project-relative
    transcript: str          # project-relative path of the transcript file
    language: str
    state: str               # one of WRITTEN, KEPT, UP_TO_DATE, SKIPPED, REFUSED
    note: str = ""
    seconds: float = 0.0     # processing time of a written draft
    audio_seconds: float = 0.0

    def __str__(self) -> str:
        text = f"{self.transcript}: {self.state}"
        if self.state == WRITTEN and self.audio_seconds:
            text += f" ({self.seconds:.1f} s for {self.audio_seconds:.1f} s of speech)"
        elif self.state == WRITTEN:
            text += f" ({self.seconds:.1f} s)"
        return text + (f"; {self.note}" if self.note else "")


def voices(film: Film, recordings: tuple[str, ...] = ()) -> list[SoundClip]:
    """Each voice recording once (its first clip), in the order declared; ``recordings``: only
    these project-relative paths (an unknown one is a usage error naming the known ones)."""
    found: dict[str, SoundClip] = {}
    for clip in film.sound:
        if clip.role == "voice" and clip.recording.relpath not in found:
            found[clip.recording.relpath] = clip
    unknown = [r for r in recordings if r not in found]
    if unknown:
        raise UsageError(f"--voice: no voice recording {', '.join(map(repr, unknown))} in the film; "
                         f"its voices: {', '.join(found) or '(none)'}")
    return [clip for path, clip in found.items() if not recordings or path in recordings]


def recording_seconds(clip: SoundClip) -> Fraction:
    return Fraction(clip.recording.samples, clip.recording.rate)


def existing(film: Film, relpath: str, clip: SoundClip) -> Transcript | None:
    """The transcript at ``relpath`` if there is one; a file racines cannot read is reported
    (:class:`ValidationFailed`), never overwritten."""
    if not (film.root / relpath).exists():
        return None
    return read_transcript(film.root, relpath, recording_seconds(clip), clip.recording.relpath)


def kept(film: Film, relpath: str, clip: SoundClip, language: str) -> Outcome | None:
    """A typed or reviewed transcript at ``relpath``, which no draft replaces (no model needed to say so)."""
    there = existing(film, relpath, clip)
    if there is None or may_replace(there):
        return None
    what = "typed" if there.origin == TYPED else "reviewed"
    return Outcome(clip.recording.relpath, relpath, language, KEPT, f"{what}: a draft never replaces it")


def up_to_date(film: Film, relpath: str, clip: SoundClip, language: str, model: str, source_hash: str,
               redo: bool) -> Outcome | None:
    """The draft at ``relpath`` was made from the same input by the same model: nothing to do."""
    there = existing(film, relpath, clip)
    made = read_record(film.root).get(relpath, {})
    if redo or there is None or there.model != model or made.get("input_sha256") != source_hash:
        return None
    return Outcome(clip.recording.relpath, relpath, language, UP_TO_DATE, f"made by {model}")



def read_record(root: Path) -> dict[str, dict]:
    try:
        data = json.loads((root / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    drafts = data.get("drafts") if isinstance(data, dict) else None
    return drafts if isinstance(drafts, dict) else {}


def remember(root: Path, relpath: str, **made) -> None:
    """Add how the draft at ``relpath`` was made to the record (written whole, atomically)."""
    with short_lock(root / RECORD.with_name(".drafts.lock")):  # two runs at once each keep their entries
        drafts = read_record(root)
        drafts[relpath] = {**made, "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_json(root / RECORD, {"schema_version": 1, "drafts": drafts})


def choose_device(device: str) -> str:
    """'auto': CUDA when there is a GPU, else the CPU; 'cpu' and 'cuda[:N]' as given."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA device on this machine; use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise UsageError(f"--device: unknown device {device!r}; use auto, cpu or cuda")
    return device


def model_of(film: Film, name: str, families: tuple[str, ...], what: str) -> ResolvedModel:
    """Resolve ``name`` offline and check it is a transformers model of one of ``families``
    (its config's model_type); missing, refused or of another family: a clear error."""
    try:
        import transformers  # noqa: F401 - the extra that machine drafts need
    except ImportError:
        raise UsageError(f"{what} needs transformers: pip install 'racines[speech]'") from None
    try:
        entry = entry_of(film, name)
    except UnknownModel as exc:
        raise UsageError(f"--model: {exc}") from None
    if entry.library != "transformers":
        raise ValidationFailed([Problem(file="models.yaml", field=f"models.{name}.library",
                                        message=f"{what} needs a transformers model",
                                        fix="write library: transformers for this model", value=entry.library,
                                        has_value=True)])
    try:
        model = resolve(name, entry, film.root)
    except (ModelMissing, ModelRefused) as exc:
        raise ModelUnavailable(f"{what}: {exc}\n    fix: {exc.fix}") from None
    family = model.kind.removeprefix("transformers:")
    if family not in families:
        raise UsageError(f"the model '{name}' ({model.source}) is a {family or 'model of unknown type'} model; "
                         f"{what} needs one of: {', '.join(families)}")
    return model


__all__ = ["KEPT", "RECORD", "REFUSED", "SKIPPED", "UP_TO_DATE", "WRITTEN", "Outcome", "choose_device", "existing", "kept",
           "model_of", "read_record", "recording_seconds", "remember", "up_to_date", "voices"]
