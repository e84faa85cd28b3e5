"""The film's sound on the timeline: audio tracks of clips referencing the recordings (pure: no I/O).

Voices come first, music after, each on as many tracks as their overlaps need (A1, A2, ...),
a clip per voice or piece of music at its record position in whole frames, with who it comes
from, its consent and licence, its gain, fades and ducking in the clip's ``racines``
metadata, and the recording's rate, channels and length (in samples) in its media
reference's. The mix (racines.sound) is made from these tracks, as the film is made from the
video track, so that what an editor is handed and what is heard are one thing.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from racines.edit.text import clean
from racines.film.model import Film, SoundClip

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
PROVENANCE = ("recording", "declared_in", "field", "person", "consent", "credit", "licence", "language")


def sound_reel(relpath: str) -> str:
    """A reel name of 8 characters for a recording, as takes have theirs ('S' and 7 characters
    of a hash of its path in the project): the EDL's link back to the file."""
    digest = hashlib.sha1(f"sound:{relpath}".encode()).digest()
    return "S" + base64.b32encode(digest).decode()[:7]


def audio_tracks(film: Film, starts: dict[str, int], media_base: Path) -> list[otio.schema.Track]:
    """The film's consented clips in the cut on audio tracks; ``starts``: each shot's first frame
    on the record (edit.timeline.record_ranges), where its voices start from."""
    placed: dict[str, list[list[tuple[int, SoundClip]]]] = {"voice": [], "music": []}
    heard = [clip for clip in film.sound_in_cut() if clip.consented]
    for first, clip in sorted(((clip.start + (starts[clip.shot] if clip.shot else 0), clip) for clip in heard),
                              key=lambda item: (item[0], item[1].file, item[1].field)):
        lanes = placed[clip.role]
        lane = next((lane for lane in lanes if lane[-1][0] + lane[-1][1].frames <= first), None)
        if lane is None:
            lanes.append(lane := [])
        lane.append((first, clip))
    rate = float(film.rate)
    tracks = []
    for role in ("voice", "music"):
        for lane in placed[role]:
            track = otio.schema.Track(name=f"A{len(tracks) + 1}", kind=otio.schema.TrackKind.Audio)
            track.metadata["racines"] = {"role": role}
            position = 0
            for first, clip in lane:
                if first > position:
                    track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(first - position, rate))))
                track.append(_clip(film, clip, media_base, rate))
                position = first + clip.frames
            tracks.append(track)
    return tracks


def _clip(film: Film, clip: SoundClip, media_base: Path, rate: float) -> otio.schema.Clip:
    recording = clip.recording
    reference = otio.schema.ExternalReference(
        target_url=Path(os.path.relpath(recording.path, media_base)).as_posix(),
        available_range=TR(RT(0, rate), RT(recording.frames(film.rate), rate)),
    )
    reference.name = recording.path.name
    reference.metadata["racines"] = {"sample_rate": recording.rate, "channels": recording.channels,
                                     "bits": recording.bits, "samples": recording.samples, "codec": recording.codec}
    reel = sound_reel(recording.relpath)
    otio_clip = otio.schema.Clip(name=Path(recording.relpath).stem, media_reference=reference,
                                 source_range=TR(RT(clip.source_in, rate), RT(clip.frames, rate)))
    otio_clip.metadata["cmx_3600"] = {"reel": reel}
    otio_clip.metadata["racines"] = {"reel": reel, "sound": {
        "role": clip.role, "recording": clean(recording.relpath), "declared_in": clip.file, "field": clip.field,
        "shot": clip.shot, "person": clean(clip.person), "consent": clip.consent, "credit": clean(clip.credit),
        "licence": clean(clip.licence), "language": clip.language, "gain_db": clip.gain,
        "fade_in": clip.fade_in, "fade_out": clip.fade_out, "duck": clip.duck}}
    return otio_clip


@dataclass(frozen=True)
class PlacedSound:
    """An audio clip of the timeline as the mix reads it: all times in frames of the film."""

    path: Path
    role: str
    record_in: int
    source_in: int
    frames: int
    gain: float
    fade_in: int
    fade_out: int
    duck: bool
    channels: int
    sample_rate: int
    #: where it comes from: recording, person, consent, credit, licence, language (for the mix manifest)
    provenance: dict = field(default_factory=dict)


def placed_sounds(timeline: otio.schema.Timeline, media_base: Path) -> list[PlacedSound]:
    """Every clip of the timeline's audio tracks, in record order."""
    found = []
    for track in timeline.audio_tracks():
        for item, where in track.range_of_all_children().items():
            if not isinstance(item, otio.schema.Clip):
                continue
            sound = item.metadata.get("racines", {}).get("sound", {})
            media = item.media_reference.metadata.get("racines", {})
            found.append(PlacedSound(
                path=(media_base / item.media_reference.target_url).resolve(), role=sound.get("role", "voice"),
                record_in=round(where.start_time.value), source_in=round(item.source_range.start_time.value),
                frames=round(item.source_range.duration.value), gain=float(sound.get("gain_db", 0.0)),
                fade_in=int(sound.get("fade_in", 0)), fade_out=int(sound.get("fade_out", 0)),
                duck=bool(sound.get("duck", False)), channels=int(media.get("channels", 2)),
                sample_rate=int(media.get("sample_rate", 48000)),
                provenance={key: sound[key] for key in PROVENANCE if key in sound}))
    return sorted(found, key=lambda placed: (placed.record_in, str(placed.path)))


def samples_at(frames: int, rate: Fraction, sample_rate: int = 48000) -> int:
    """The sample where frame ``frames`` starts: exact, and rounded to the nearest sample where
    a frame holds no whole number of them (30000/1001: 1601.6 at 48 kHz)."""
    exact = Fraction(frames) * sample_rate / rate
    return (exact.numerator * 2 + exact.denominator) // (exact.denominator * 2)
