"""The resolved film: pure data that every later layer reads.

Loading turns the YAML models into these: paths are absolute and confined to the project,
durations are whole frames at the film's exact rate, and the cut is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from racines.film.schema import Ducking, FinalBase, KindSettings, ModelEntry, SubtitleSettings


@dataclass(frozen=True)
class SourcePhoto:
    path: Path          # absolute, inside the project
    relpath: str        # as a project-relative POSIX path, for manifests and credits
    contributor: str
    consent: str
    credit: str
    name_in_captions: bool = False  # the contributor chose to be named in training captions


@dataclass(frozen=True)
class Shot:
    id: str
    file: str                       # project-relative path of the shot file
    frames: int                     # frames generated for the shot (handles excluded)
    generator: KindSettings         # the settings this run renders with (draft or final)
    source: SourcePhoto | None
    dissolve_frames: int = 0        # 0 means a cut into the next shot
    notes: str = ""
    assets: dict[str, Path] = field(default_factory=dict)   # the images its settings name, by field
    trim_head: int = 0              # frames the cut leaves out at the start (negative: into the handle)
    trim_tail: int = 0
    profile: str = "draft"          # the profile this run renders the shot at
    # the final: block with the draft's prompt, seed and target filled in; None without one.
    # Kept at any profile so that validation checks it everywhere.
    final: FinalBase | None = None
    weights: dict[str, Path] = field(default_factory=dict)  # LoRA files, by the path the shot file writes
    # why consent is missing beyond the photograph's own: a LoRA it names learned from a photograph
    # whose consent was withdrawn (racines.training.consent fills it in)
    withheld: tuple[str, ...] = ()

    @property
    def shown(self) -> int:
        """Frames of the shot the cut shows, dissolves included."""
        return self.frames - self.trim_head - self.trim_tail

    @property
    def renders_final(self) -> bool:
        """True when this run makes the shot with its diffusion generator."""
        return self.final is not None and self.generator is self.final

    @property
    def kind(self) -> str:
        return self.generator.kind

    @property
    def needs_consent(self) -> bool:
        return self.generator.photograph

    @property
    def consented(self) -> bool:
        return not self.withheld and (not self.needs_consent or (self.source is not None
                                                                 and self.source.consent == "granted"))

    def consent_reasons(self) -> tuple[str, ...]:
        """Why the shot cannot be rendered for want of consent (empty when it can)."""
        own = (f"consent is '{self.source.consent}' for {self.source.contributor}",) if (
            self.needs_consent and self.source is not None and self.source.consent != "granted") else ()
        return own + self.withheld


#: the sample rate of every mix, stem and deliverable's sound
MIX_RATE = 48000


@dataclass(frozen=True)
class Recording:
    """A sound file as its header describes it (racines.film.audio read it)."""

    path: Path          # absolute, inside the project
    relpath: str        # project-relative POSIX path
    codec: str          # pcm_s16le, pcm_s24le, pcm_f32le, flac...
    rate: int           # samples a second
    channels: int
    bits: int
    samples: int        # per channel

    def frames(self, rate: Fraction) -> int:
        """Whole frames of the film's ``rate`` the recording fills."""
        return self.samples * rate.numerator // (self.rate * rate.denominator)

    def notes(self) -> list[str]:
        """What the mix does to a recording that is not 48 kHz stereo: said, never refused."""
        found = []
        if self.rate != MIX_RATE:
            found.append(f"{self.rate} Hz, resampled to {MIX_RATE} Hz")
        if self.channels == 1:
            found.append("mono, placed in the centre")
        elif self.channels > 2:
            found.append(f"{self.channels} channels, folded down to stereo")
        if self.bits < 16:
            found.append(f"{self.bits}-bit")
        return found


@dataclass(frozen=True)
class SoundClip:
    """A voice or a piece of music on the film's timeline: the recording, who it comes from and
    may it be heard, and where it plays, in whole frames of the film's rate."""

    role: str               # "voice" or "music"
    file: str               # the project-relative YAML file that declares it
    field: str              # where in that file, e.g. "sound.0" or "music.1"
    line: int | None
    recording: Recording
    person: str             # the speaker of a voice, the author of music
    consent: str            # granted | pending | withdrawn
    credit: str
    licence: str
    language: str
    shot: str | None        # a shot's voice starts with the shot; None: placed on the film's record
    start: int              # frames after the shot's first frame, or from the film's first frame
    source_in: int          # first frame of the recording heard
    frames: int             # frames it plays
    gain: float = 0.0       # dB
    fade_in: int = 0        # frames
    fade_out: int = 0
    duck: bool = False      # music: lowered under the voices

    @property
    def consented(self) -> bool:
        return self.consent == "granted"


@dataclass(frozen=True)
class Film:
    root: Path
    title: str
    rate: Fraction
    width: int
    height: int
    timecode_start: str
    cut: tuple[str, ...]
    shots: dict[str, Shot]
    handles: int = 8
    profile: str = "draft"                                   # the film's default (film.yaml)
    models: dict[str, ModelEntry] = field(default_factory=dict)  # models.yaml; racines.models adds built-ins
    sound: tuple[SoundClip, ...] = ()                        # voices and music (shot files, shots/sound.yaml)
    ducking: Ducking = field(default_factory=Ducking)        # how music is lowered under voices
    subtitles: SubtitleSettings = field(default_factory=SubtitleSettings)  # film.yaml subtitles:: languages, rules

    @property
    def drop_frame(self) -> bool:
        """Drop-frame timecode, chosen as NLEs do by the ';' of the start timecode."""
        return ";" in self.timecode_start

    def duration(self) -> int:
        """Frames of the film: what the shots show minus the dissolve overlaps."""
        shots = self.shots_in_cut()
        return sum(s.shown for s in shots) - sum(s.dissolve_frames for s in shots[:-1])

    @property
    def rate_text(self) -> str:
        """The rate as ffmpeg and humans read it exactly: '24' or '24000/1001'."""
        return str(self.rate.numerator) if self.rate.denominator == 1 else f"{self.rate.numerator}/{self.rate.denominator}"

    def record_starts(self) -> dict[str, int]:
        """Each shot's first frame on the record, from the film's first: where its cut in falls
        (a dissolve straddles its cut, so the shot owns the second half of its incoming one), as
        racines.edit.timeline.record_ranges finds it on the timeline."""
        starts, position, incoming = {}, 0, 0
        for shot in self.shots_in_cut():
            starts[shot.id] = position + incoming // 2
            position += shot.shown - shot.dissolve_frames
            incoming = shot.dissolve_frames
        return starts

    def sound_in_cut(self) -> list[SoundClip]:
        """The clips heard: a shot's voices only while the shot is in the cut."""
        return [clip for clip in self.sound if clip.shot is None or clip.shot in self.cut]

    def shots_in_cut(self) -> list[Shot]:
        return [self.shots[shot_id] for shot_id in self.cut]

    def slug(self) -> str:
        keep = "".join(c if c.isalnum() else "_" for c in self.title.lower())
        return "_".join(part for part in keep.split("_") if part) or "film"
