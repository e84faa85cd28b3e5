"""The shot-file format, as pydantic models: data only, no I/O.

Two kinds of file live in ``shots/``: ``film.yaml`` (settings for the whole film) and one
YAML file per shot, named after the shot id. ``racines schema`` prints these models as
JSON Schema so that YAML editors can complete and check the files.

A shot's ``generator:`` and ``final:`` blocks belong to the generators: each defines its
settings model on :class:`GeneratorBase` or :class:`FinalBase`, and :class:`Kinds` joins the
installed ones into the shot file's model. This module names no generator.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib.metadata import entry_points
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

SHOT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(s|f)?\s*$"
TIMECODE_PATTERN = r"^\d\d:\d\d:\d\d[:;]\d\d$"
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
REPO_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"
# a commit, branch or tag: parts that never start with '.', so never '..' (the revision names a
# file under the HF cache's refs/)
REVISION_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$"
#: a language tag (BCP 47's shape): fr, ar, vi, fr-FR, zh-Hant
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$"

Profile = Literal["draft", "final"]

#: bounds on text: a prompt reaches the take's media tags and the manifest, a name the credits
#: and the exports; past these a value is a slip (a pasted file), refused with the field named
MAX_TEXT = 4000
MAX_NAME = 200

Duration = (
    Annotated[int, Field(ge=1, description="A whole number of frames.")]
    | Annotated[
        str,
        Field(
            pattern=DURATION_PATTERN,
            max_length=32,
            description="Frames ('120' or '120f') or seconds ('5s', '4.5s'). Seconds are converted "
            "to frames with exact rational arithmetic at the film's rate, rounded to the nearest frame.",
        ),
    ]
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, str_max_length=MAX_TEXT)


def pixel_settings(model: BaseModel) -> dict:
    """The settings as JSON data, without the fields marked as not changing the pixels
    (``json_schema_extra={"pixels": False}``, e.g. CPU offload): what a cache key hashes."""
    dumped, data = model.model_dump(mode="json"), {}
    for name, info in type(model).model_fields.items():
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("pixels") is False:
            continue
        value = getattr(model, name)
        data[name] = pixel_settings(value) if isinstance(value, BaseModel) else dumped[name]
    return data


# --- film.yaml ---------------------------------------------------------------------------


class SubtitleSettings(Strict):
    """``subtitles:`` of film.yaml: the languages subtitled and the timed-text rules (Netflix's
    numbers by default; see docs/subtitles.md). Times are frames of the film ('20f') or seconds
    ('0.5s'); left out, a rule given at 24 fps is scaled to the film's rate."""

    languages: list[Annotated[str, Field(pattern=LANGUAGE_PATTERN)]] = Field(
        default_factory=list, max_length=50,
        description="The subtitle languages, e.g. [fr, ar]; default: every language a voice speaks.")
    max_line_chars: int = Field(42, ge=10, le=100, description="Characters a line holds (graphemes).")
    max_lines: int = Field(2, ge=1, le=3, description="Lines a subtitle holds.")
    max_cps: float = Field(17, ge=5, le=40, description="Reading speed: characters a second, spaces and "
                           "punctuation counted.")
    min_duration: Duration | None = Field(None, description="Shortest subtitle (default 20 frames at 24 fps: 5/6 s).")
    max_duration: Duration = Field("7s", description="Longest subtitle.")
    min_gap: Duration = Field("2f", description="Shortest gap between two subtitles (2 frames at any rate).")
    linger: Duration | None = Field(None, description="How long a subtitle may stay after its speech ends, and the "
                                    "gap closed to min_gap (default 12 frames at 24 fps: 0.5 s).")
    snap: Duration | None = Field(None, description="A subtitle starting or ending this close to a cut moves to the "
                                  "cut (default 12 frames at 24 fps: 0.5 s).")


class FilmSettings(Strict):
    """``shots/film.yaml``: settings shared by every shot."""

    title: str = Field(min_length=1, max_length=MAX_NAME, description="The film's title, used in file names and the EDL.")
    frame_rate: int | str = Field(
        24,
        description="Exact rate: 24, 25, 30, 48, 50, 60 or a rational such as '24000/1001' "
        "(never 23.976, which is not exact).",
        json_schema_extra={"examples": [24, "24000/1001", 25, "30000/1001"]},
    )
    resolution: str | list[int] = Field(
        "1280x720", description="'WIDTHxHEIGHT' or [WIDTH, HEIGHT]; both even.", examples=["1920x1080"]
    )
    timecode_start: str = Field(
        "01:00:00:00",
        pattern=TIMECODE_PATTERN,
        description="Record timecode of the film's first frame (';' before frames for drop-frame).",
    )
    cut: list[Annotated[str, Field(pattern=SHOT_ID_PATTERN)]] = Field(
        min_length=1, description="Shot ids in screen order; each names a file shots/<id>.yaml."
    )
    handles: int = Field(
        8, ge=0, le=240,
        description="Frames rendered beyond each end of every take, for the editor to trim into.",
    )
    profile: Profile = Field(
        "draft",
        description="'draft' renders every shot with its weightless generator (any machine); 'final' renders "
        "shots that have a final: block with their diffusion generator (GPU and model weights). A shot's own "
        "profile: and racines render --profile override it.",
    )
    subtitles: SubtitleSettings = Field(default_factory=SubtitleSettings,
                                        description="Subtitle languages and timed-text rules.")


# --- shot files --------------------------------------------------------------------------


class Source(Strict):
    """The archive photograph a shot is made from, and the permission to use it."""

    photo: str = Field(
        min_length=1,
        description="Path to the photograph, relative to this shot file; it must stay inside the project.",
    )
    contributor: str = Field(min_length=1, max_length=MAX_NAME, description="Who brought the photograph.")
    consent: Literal["granted", "pending", "withdrawn"] = Field(
        description="Only 'granted' photographs are ever rendered."
    )
    credit: str = Field("", max_length=MAX_NAME,
                        description="Credit line for the end credits; defaults to the contributor.")
    name_in_captions: bool = Field(False, description="The contributor chose to be named in the captions of a "
                                   "training set made from this photograph (racines dataset); never by default.")


# --- generator settings: what the film layer knows of a kind -----------------------------
# Each generator module defines its settings model beside its frames, on GeneratorBase (a
# shot's generator: block, the draft) or FinalBase (its final: block), with ``kind`` a Literal
# of its name. The loader reads nothing else of a generator: the hooks below are how a kind
# says what it needs checked, without the film layer naming any kind.

#: (location inside the block, message, bad value, fix): a problem of a kind's own rules
KindProblem = tuple[tuple, str, Any, str]


class KindSettings(Strict):
    """The settings of one generator kind, as the loader sees them (a ``kind`` field of the
    subclass names the kind)."""

    #: False for a kind that draws no archive photograph: its shots need no source: nor consent
    photograph: ClassVar[bool] = True
    #: fields holding an image path relative to the shot file: checked like the photograph,
    #: resolved into the shot's assets under the field's name, hashed into the cache key
    images: ClassVar[tuple[str, ...]] = ()

    def problems(self, frames: int) -> list[KindProblem]:
        """Rules across the values of a block in a shot of ``frames`` frames (located inside it)."""
        return []

    @classmethod
    def explain(cls, error: dict, loc: tuple) -> tuple[str, str] | None:
        """A pydantic error at ``loc`` inside the block in the director's terms: (message, fix);
        None keeps the generic wording."""
        return None

    def image_files(self) -> list[tuple[tuple, str]]:
        """Images the block names: (location inside it, path relative to the shot file). Its
        ``images`` fields that hold a path; a kind whose block nests another (a keyframe target
        with its mask) adds the nested ones. The shot's assets key them by location ('target.mask')."""
        return [((name,), text) for name in self.images if isinstance(text := getattr(self, name), str)]

    def weight_files(self) -> list[tuple[tuple, str]]:
        """Weights files the block names: (location inside it, path relative to the shot file).
        The loader confines them to the project and accepts only .safetensors."""
        return []

    def model_names(self) -> list[str]:
        """Every model name the block uses (racines models), for validation and the cache key."""
        return []


class GeneratorBase(KindSettings):
    """A shot's ``generator:`` block: weightless, any machine."""

    prompt: str = Field("", max_length=MAX_TEXT, description="What the shot should show; kept in the take's manifest.")
    negative_prompt: str = Field("", max_length=MAX_TEXT)
    seed: int = Field(0, ge=0, le=2**63 - 1, description="Seed for any randomness in the generator.")


class FinalBase(KindSettings):
    """A shot's ``final:`` block: the generator of the final profile. What it leaves unset of
    ``inherits`` is taken from the draft."""

    prompt: str | None = Field(None, max_length=MAX_TEXT, description="Default: the draft's prompt.")
    negative_prompt: str | None = Field(None, max_length=MAX_TEXT, description="Default: the draft's negative_prompt.")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="Default: the draft's seed.")

    inherits: ClassVar[tuple[str, ...]] = ("prompt", "negative_prompt", "seed")

    def inherit(self, draft: GeneratorBase) -> FinalBase:
        """This block with its unset ``inherits`` fields taken from the draft, where the draft has them."""
        update = {name: getattr(draft, name) for name in self.inherits
                  if getattr(self, name) is None and getattr(draft, name, None) is not None}
        return self.model_copy(update=update)


def models_of(settings: KindSettings) -> list[str]:
    """Every model name a block uses (see :meth:`KindSettings.model_names`)."""
    return settings.model_names()


class Dissolve(Strict):
    dissolve: Duration = Field(description="Length of the dissolve into the next shot.")


class Trim(Strict):
    """Frames the cut leaves out at each end of the shot (negative: taken from the handles).

    Trims are editorial: changing them never makes a new take. ``racines conform`` writes them.
    """

    head: int = 0
    tail: int = 0


# --- sound: voices and music ----------------------------------------------------------------

#: a place on the film's record: frames or seconds from its first frame, or a record timecode
POSITION_PATTERN = r"^(\s*\d+(\.\d+)?\s*(s|f)?\s*|\d\d:\d\d:\d\d[:;]\d\d)$"

Offset = (
    Annotated[int, Field(ge=0, description="A whole number of frames.")]
    | Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32,
                           description="Frames ('12', '12f') or seconds ('0.5s'), rounded to the nearest frame.")]
)
Position = (
    Annotated[int, Field(ge=0, description="Frames from the film's first frame.")]
    | Annotated[str, Field(pattern=POSITION_PATTERN, max_length=32,
                           description="Frames or seconds from the film's first frame ('120', '5s'), or a record "
                           "timecode ('01:00:05:00').")]
)


class SoundBase(Strict):
    """A recording and the permission to use it; what of it plays, and how loud."""

    file: str = Field(min_length=1, description="The recording (WAV or FLAC), relative to this file; it must stay "
                      "inside the project.")
    consent: Literal["granted", "pending", "withdrawn"] = Field(
        description="Only 'granted' recordings are ever heard.")
    credit: str = Field("", max_length=MAX_NAME, description="Credit line for the end credits; defaults to the "
                        "speaker or author.")
    licence: str = Field("", max_length=MAX_NAME, description="Under what terms it is used, e.g. 'CC BY 4.0'.")
    source_in: Offset = Field(0, description="Where in the recording to start.")
    duration: Duration | None = Field(None, description="How long it plays; default: to the recording's end.")
    gain: float = Field(0.0, ge=-60, le=24, description="Level change in dB.")
    fade_in: Offset = Field(0, description="Fade in from silence over this long.")
    fade_out: Offset = Field(0, description="Fade out to silence over this long.")


class ShotVoice(SoundBase):
    """A voice that starts with its shot (an entry of a shot file's ``sound:`` list); it may
    run on over the shots after it."""

    speaker: str = Field(min_length=1, max_length=MAX_NAME, description="Who speaks.")
    language: str = Field(pattern=LANGUAGE_PATTERN, description="The language spoken, e.g. fr, ar, vi.")
    offset: Offset = Field(0, description="Starts this long after the shot's first frame on the record.")


class FilmVoice(SoundBase):
    """A voice placed on the film's record (``voices:`` of shots/sound.yaml)."""

    speaker: str = Field(min_length=1, max_length=MAX_NAME, description="Who speaks.")
    language: str = Field(pattern=LANGUAGE_PATTERN, description="The language spoken, e.g. fr, ar, vi.")
    record_in: Position = Field(description="Where on the record it starts.")
    record_out: Position | None = Field(None, description="Where on the record it ends (the frame after its last); "
                                        "instead of duration.")


class Music(SoundBase):
    """A piece of music placed on the film's record (``music:`` of shots/sound.yaml)."""

    author: str = Field(min_length=1, max_length=MAX_NAME, description="Who made it.")
    language: str = Field("", pattern=r"^$|" + LANGUAGE_PATTERN[1:], description="The language sung, if any.")
    record_in: Position = Field(0, description="Where on the record it starts.")
    record_out: Position | None = Field(None, description="Where on the record it ends (the frame after its last); "
                                        "instead of duration.")
    duck: bool = Field(True, description="Lower it under the voices (see ducking:).")


class Ducking(Strict):
    """How music is lowered under the voices: a compressor on the music keyed by the voices,
    the voices measured at -23 LUFS."""

    threshold_db: float = Field(-34, ge=-60, le=0, description="Voice level (dBFS) above which music is lowered.")
    ratio: float = Field(12, ge=1, le=20, description="How hard: 1 leaves the music alone.")
    attack_ms: float = Field(15, ge=0.01, le=2000, description="How fast the music goes down when a voice starts.")
    release_ms: float = Field(350, ge=0.01, le=9000, description="How fast it comes back after.")


class SoundFile(Strict):
    """``shots/sound.yaml``: the voices that run across shots, and the music."""

    voices: list[FilmVoice] = Field(default_factory=list, max_length=1000)
    music: list[Music] = Field(default_factory=list, max_length=1000)
    ducking: Ducking = Field(default_factory=Ducking)


FINAL_DESCRIPTION = "The diffusion generator used when the shot's profile is 'final' (see racines models)."


class ShotFile(Strict):
    """``shots/<id>.yaml``: one shot, owned by one person, so files merge well in git."""

    source: Source | None = Field(None, description="Required for every generator that draws from a photograph.")
    duration: Duration
    # the installed kinds' settings, tagged by kind: see Kinds.shot_file
    generator: GeneratorBase
    transition: Literal["cut"] | Dissolve = Field(
        "cut", description="'cut', or {dissolve: N} frames/seconds into the next shot in the cut."
    )
    trim: Trim = Field(default_factory=Trim, description="Editorial trims written by racines conform.")
    final: FinalBase | None = Field(None, description=FINAL_DESCRIPTION)
    profile: Profile | None = Field(None, description="This shot's profile; default: the film's.")
    notes: str = ""
    sound: list[ShotVoice] = Field(default_factory=list, max_length=100,
                                   description="Voices that start with this shot.")


# --- the installed kinds -------------------------------------------------------------------

#: the entry-point group generators are installed under, racines' own included; each entry
#: names a class whose ``settings`` attribute is its kind's settings model
GENERATORS_GROUP = "racines.generators"
SLOTS = {"generator": GeneratorBase, "final": FinalBase}


@dataclass(frozen=True, eq=False)
class Kinds:
    """The generator kinds a shot file can name, by name: their settings models."""

    settings: Mapping[str, type[KindSettings]]

    def names(self, slot: str) -> list[str]:
        """The kinds a ``generator:`` or ``final:`` block can name."""
        return sorted(name for name, model in self.settings.items() if issubclass(model, SLOTS[slot]))

    @cached_property
    def shot_file(self) -> type[ShotFile]:
        """The shot file's model for these kinds: each block a union tagged by ``kind``."""
        without = [repr(name) for name, model in sorted(self.settings.items()) if not model.photograph]
        source = "Required for every generator" + (f" but {', '.join(without)}." if without else ".")
        fields: dict[str, Any] = {"source": (Source | None, Field(None, description=source))}
        drafts, finals = ([self.settings[name] for name in self.names(slot)] for slot in SLOTS)
        if drafts:
            fields["generator"] = (_tagged(drafts), ...)
        if finals:
            fields["final"] = (_tagged(finals) | None, Field(None, description=FINAL_DESCRIPTION))
        return create_model("ShotFile", __base__=ShotFile, __doc__=ShotFile.__doc__, **fields)


def _tagged(models: list[type[KindSettings]]) -> Any:
    return Annotated[Union[tuple(models)], Field(discriminator="kind")]  # noqa: UP007 - a union built at run time


@lru_cache(maxsize=1)
def installed_kinds() -> Kinds:
    """The kinds of the generators installed (``GENERATORS_GROUP``): read through the entry
    points alone, so that this layer imports no generator, and a generator another package
    installs is named in shot files like racines' own."""
    found = {}
    for entry in entry_points(group=GENERATORS_GROUP):
        model = getattr(entry.load(), "settings", None)
        tag = model.model_fields.get("kind") if isinstance(model, type) and issubclass(model, KindSettings) else None
        if tag is None or typing.get_args(tag.annotation) != (entry.name,) or not issubclass(model, tuple(SLOTS.values())):
            raise TypeError(f"the generator '{entry.name}' ({entry.value}) needs a 'settings' attribute: a pydantic "
                            f"model derived from GeneratorBase or FinalBase (racines.film.schema) whose field "
                            f"'kind' is Literal['{entry.name}']")
        found[entry.name] = model
    return Kinds(found)


# --- models.yaml ---------------------------------------------------------------------------


class Native(Strict):
    """What a model was trained on: the defaults of the shots that use it."""

    width: int | None = Field(None, ge=16, le=8192)
    height: int | None = Field(None, ge=16, le=8192)
    frames: int | None = Field(None, ge=1, le=1025)
    fps: int | None = Field(None, ge=1, le=120)


class ModelEntry(Strict):
    """One model: a Hugging Face repo id at a revision (found in the local HF cache, never downloaded), or a
    folder inside the project. Weights must be safetensors; custom code is never run."""

    repo: str | None = Field(None, pattern=REPO_ID_PATTERN, description="Hugging Face repo id, e.g. "
                                "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers.")
    revision: str | None = Field(None, min_length=1, max_length=MAX_NAME, pattern=REVISION_PATTERN,
                                 description="A commit hash (pinned) or a branch/tag, resolved offline through "
                                 "the HF cache; default: main.")
    path: str | None = Field(None, min_length=1, description="A pipeline folder relative to the project "
                                "(or inside the HF cache).")
    variant: str | None = Field(None, pattern=r"^[A-Za-z0-9_]+$", description="Weights variant, e.g. fp16.")
    library: Literal["diffusers", "transformers"] = Field(
        "diffusers", description="'diffusers': a pipeline folder (model_index.json); 'transformers': a language "
        "model for enhance_prompt, or a speech or translation model for subtitle drafts.")
    licence: str = Field("", description="The weights' licence (the model card's, when present, is shown too).")
    description: str = ""
    native: Native = Field(default_factory=Native)


class ModelsFile(Strict):
    """``models.yaml`` at the project root: names for the models shots use (added to the built-in list)."""

    models: dict[Annotated[str, Field(pattern=MODEL_NAME_PATTERN)], ModelEntry] = Field(default_factory=dict)


def parse_duration_text(text: str) -> tuple[str, str]:
    """Split '4.5s' into ('4.5', 's'); frames are the default unit."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([sf]?)\s*", text)
    if not match:
        raise ValueError(text)
    return match.group(1), match.group(2) or "f"
