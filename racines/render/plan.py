"""The film's render planned from its timeline and format (pure: no file is looked at).

The timeline is cut into pieces (racines.render.pieces). Each deliverable is a concat list
with an entry per piece: a solo stretch of the master copied from its take by in and out
points, or an encoded piece kept in the cache under a key of what it shows. Media are named
relative to the output folder, never by absolute path, so that a project moved or copied
elsewhere keeps its keys and reuses its cache. What the media's files are now (their
stamps) is looked up by the caller (racines.render.cache) and handed in.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import opentimelineio as otio

from racines.edit.timecode import to_timecode
from racines.errors import RenderFailed
from racines.render.pieces import Piece, cut_into_pieces, spans

#: bump when the encoding of pieces changes, so that every piece is encoded again
#: (4: media named relative to the output folder)
PIECE_FORMAT = "4"
PIECES_DIR = Path("cache") / "pieces"
LINKS_DIR = Path("cache") / "links"
SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
KINDS = ("master", "review")

#: a media file's (size, mtime_ns); None when it is missing
MediaStamp = tuple[int, int] | None


class Sound(Protocol):
    """The film's mix as the deliverables carry it (racines.sound.mix.Soundtrack)."""

    key: str

    @property
    def master(self) -> Path: ...

    @property
    def review(self) -> Path: ...


@dataclass(frozen=True)
class Format:
    width: int
    height: int
    rate: Fraction
    drop_frame: bool = False   # the film's choice; honoured at the rates that have drop-frame

    @property
    def rate_text(self) -> str:
        return str(self.rate.numerator) if self.rate.denominator == 1 else f"{self.rate.numerator}/{self.rate.denominator}"

    @property
    def key(self) -> tuple:
        """What every encoded piece depends on besides the frames it shows."""
        return (PIECE_FORMAT, self.width, self.height, self.rate_text)

    def timecode(self, frame: int) -> str:
        return to_timecode(frame, self.rate, self.drop_frame)


@dataclass(frozen=True)
class Entry:
    """A line of a concat list: a file relative to the output folder, and for a stretch copied
    from a take, its in and out points in seconds."""

    file: str
    inpoint: str | None = None
    outpoint: str | None = None

    @property
    def copied(self) -> bool:
        return self.inpoint is not None

    def to_json(self) -> dict:
        points = {"inpoint": self.inpoint, "outpoint": self.outpoint} if self.copied else {}
        return {"file": self.file, **points}

    @classmethod
    def from_json(cls, data: dict) -> Entry:
        return cls(str(data["file"]), data.get("inpoint"), data.get("outpoint"))


@dataclass(frozen=True)
class Source:
    """What a piece's pixels depend on: its length and, for each layer, its media (relative to
    the output folder), that file's stamp (takes are immutable: a new file is a new stamp) and
    the first frame shown."""

    frames: int
    layers: tuple[tuple[str, MediaStamp, int], ...]

    def to_json(self) -> dict:
        return {"frames": self.frames,
                "layers": [[[media, *(stamp or (None, None))], first] for media, stamp, first in self.layers]}

    @classmethod
    def from_json(cls, data: dict) -> Source:
        layers = []
        for (media, size, mtime), first in data["layers"]:
            layers.append((str(media), None if size is None else (int(size), int(mtime)), int(first)))
        return cls(int(data["frames"]), tuple(layers))


@dataclass(frozen=True)
class SubtitleTrack:
    """One language's subtitles for the review copy: an SRT file, muxed as a mov_text track."""

    path: Path
    language: str               # ISO 639-2, as MP4 tags tracks: fra, ara


@dataclass(frozen=True)
class Subtitles:
    """The film's subtitle tracks (the first one shown by default) and a key of their content."""

    tracks: tuple[SubtitleTrack, ...]
    key: str


@dataclass(frozen=True)
class Deliverable:
    kind: str                   # "master" or "review"
    path: Path
    entries: tuple[Entry, ...]  # one per piece
    audio: Path | None = None   # the sound it carries (a file of the mix cache), muxed as it is
    sound: str | None = None    # that sound's key (None: silent)
    subtitles: Subtitles | None = None  # the review copy's subtitle tracks (the master carries none)

    @property
    def what(self) -> str:
        return "the master" if self.kind == "master" else "the review copy"


@dataclass(frozen=True)
class Plan:
    stem: str
    fmt: Format
    start: int                  # the film's first frame on the record (its start timecode, in frames)
    frames: int
    pieces: tuple[Piece, ...]
    sources: tuple[Source, ...]  # one per piece
    deliverables: tuple[Deliverable, ...]
    links: dict[str, Path]      # link (an entry's file) -> the media it leads to

    @property
    def start_tc(self) -> str:
        return self.fmt.timecode(self.start)

    def timecode(self, piece: Piece) -> str:
        """The record timecode of the piece's first frame (its burn-in starts there)."""
        return self.fmt.timecode(self.start + piece.record_in)

    def deliverable(self, kind: str) -> Deliverable | None:
        return next((d for d in self.deliverables if d.kind == kind), None)


def media_used(timeline: otio.schema.Timeline, media_base: Path) -> list[Path]:
    """The media files the plan needs stamps of."""
    return sorted({span.media for span in spans(timeline.video_tracks()[0], media_base)})


def plan_render(timeline: otio.schema.Timeline, media_base: Path, out_dir: Path, stem: str, fmt: Format,
                stamps: Mapping[Path, MediaStamp], master: bool = True, review: bool = True,
                copy_solo: bool = True, sound: Sound | None = None, subtitles: Subtitles | None = None) -> Plan:
    """``stamps``: each of media_used's files; ``copy_solo=False`` encodes every frame of the
    master (e.g. to compare with a full re-encode); ``sound``: the mix the deliverables carry;
    ``subtitles``: the review copy's subtitle tracks (distributors take the sidecar files, so
    the master has none)."""
    track = timeline.video_tracks()[0]
    pieces = tuple(cut_into_pieces(track, media_base))
    frames = round(track.duration().value)
    if sum(p.frames for p in pieces) != frames:
        raise RenderFailed(f"the pieces of the timeline add up to {sum(p.frames for p in pieces)} frames, "
                           f"but it lasts {frames}")
    start_time = timeline.global_start_time
    start = round(start_time.rescaled_to(float(fmt.rate)).value) if start_time is not None else 0
    sources = tuple(Source(p.frames, tuple((_relative(layer.media, out_dir), stamps.get(layer.media),
                                            layer.first_frame) for layer in p.layers)) for p in pieces)
    start_tc = fmt.timecode(start)
    links: dict[str, Path] = {}
    deliverables = []
    if master:
        entries = tuple((_copy_entry(p, out_dir, fmt.rate, links) if copy_solo else None)
                        or _encoded(piece_key(s, "master", *fmt.key), ".mov") for p, s in zip(pieces, sources))
        deliverables.append(Deliverable("master", out_dir / f"{stem}_master.mov", entries,
                                        audio=sound.master if sound else None, sound=sound.key if sound else None))
    if review:
        entries = tuple(_encoded(piece_key(s, "review", *fmt.key, p.labels, start_tc, p.record_in), ".mp4")
                        for p, s in zip(pieces, sources))
        deliverables.append(Deliverable("review", out_dir / f"{stem}_review.mp4", entries,
                                        audio=sound.review if sound else None, sound=sound.key if sound else None,
                                        subtitles=subtitles if subtitles and subtitles.tracks else None))
    return Plan(stem, fmt, start, frames, pieces, sources, tuple(deliverables), links)


def piece_key(source: Source, *extra: object) -> str:
    canonical = json.dumps([source.to_json(), *extra], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _relative(path: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(path, out_dir)).as_posix()


def _encoded(key: str, suffix: str) -> Entry:
    return Entry((PIECES_DIR / f"{key}{suffix}").as_posix())


def _copy_entry(piece: Piece, out_dir: Path, rate: Fraction, links: dict[str, Path]) -> Entry | None:
    """A solo stretch copied from its take, with exact in and out points.

    Media outside ``out_dir``, or with names a concat list cannot hold safely, is reached
    through a link with a hex name (of its path relative to ``out_dir``) in LINKS_DIR."""
    if len(piece.layers) != 1:
        return None
    layer = piece.layers[0]
    relative = _relative(layer.media, out_dir)
    if not all(SAFE_COMPONENT.match(part) for part in relative.split("/")):
        name = hashlib.sha256(relative.encode()).hexdigest()[:32] + layer.media.suffix.lower()
        file = (LINKS_DIR / name).as_posix()
        links[file] = layer.media
        relative = file
    # inpoint rounds up and outpoint down to the microsecond, so that each lands strictly
    # inside the right frame interval whatever the rate (24000/1001 has no exact decimal)
    return Entry(relative, _microseconds(layer.first_frame / rate, math.ceil),
                 _microseconds((layer.first_frame + piece.frames) / rate, math.floor))


def _microseconds(seconds: Fraction, rounding) -> str:
    micro = rounding(seconds * 1_000_000)
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"
