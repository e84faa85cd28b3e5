"""Assemble the film's takes into an OpenTimelineIO timeline (pure: no I/O).

One video track; a clip per shot referencing its take's editorial media; a centred
SMPTE dissolve where a shot dissolves into the next; a marker per shot; the shot's
data in the clip's metadata under ``racines``. A dissolve of N frames overlaps the last
N frames of a shot with the first N of the next, so the film lasts the sum of the shot
durations minus the dissolves. Takes carry handles beyond the shot's ends: the clips'
source ranges sit inside them, so an editor can trim into the handles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio

from racines.edit.audio import audio_tracks
from racines.edit.text import clean, one_line
from racines.film.model import Film, Shot
from racines.takes.store import Take

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


@dataclass(frozen=True)
class Placement:
    """Where a shot sits: its trimmed source range and the dissolve halves around it."""

    shot: Shot
    take: Take
    source_start: int      # first frame of the take in the clip (after handle, trim and incoming dissolve)
    duration: int          # frames the clip occupies in the track
    dissolve_in: tuple[int, int] | None   # (in_offset, out_offset) of the dissolve into this shot


def dissolve_halves(frames: int) -> tuple[int, int]:
    """Split a dissolve around the cut: in_offset before it, out_offset after it."""
    return frames // 2, frames - frames // 2


def place(film: Film, takes: dict[str, Take]) -> list[Placement]:
    """Each shot shows its take from the end of the head handle (plus any trim) to the
    start of the tail handle (minus any trim); dissolves overlap what neighbours show."""
    placements = []
    shots = film.shots_in_cut()
    for index, shot in enumerate(shots):
        incoming = shots[index - 1].dissolve_frames if index > 0 else 0
        outgoing = shot.dissolve_frames if index < len(shots) - 1 else 0
        before = dissolve_halves(incoming) if incoming else None
        lead = before[0] if before else 0
        tail = dissolve_halves(outgoing)[1] if outgoing else 0
        take = takes[shot.id]
        first_shown = take.manifest.get("handles", 0) + shot.trim_head
        placements.append(Placement(shot, take, first_shown + lead, shot.shown - lead - tail, before))
    return placements


def build_timeline(film: Film, takes: dict[str, Take], media_base: Path) -> otio.schema.Timeline:
    """``media_base``: the folder the media URLs are written relative to (where the timeline file lives)."""
    rate = float(film.rate)
    timeline = otio.schema.Timeline(
        name=one_line(film.title),  # every export writes it: as a file's TITLE line, an XML name
        global_start_time=otio.opentime.from_timecode(film.timecode_start, rate),
    )
    timeline.metadata["racines"] = {"frame_rate": film.rate_text, "width": film.width, "height": film.height,
                                    "timecode_start": film.timecode_start}
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for placement in place(film, takes):
        if placement.dissolve_in:
            in_offset, out_offset = placement.dissolve_in
            track.append(otio.schema.Transition(
                name=f"dissolve into {placement.shot.id}",
                transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=RT(in_offset, rate), out_offset=RT(out_offset, rate)))
        track.append(_clip(film, placement, media_base, rate))
    # the voices and music, after the picture: a shot's voices start where the shot does
    starts = {shot: first for shot, (first, _) in record_ranges(track).items()}
    timeline.tracks.extend(audio_tracks(film, starts, media_base))
    return timeline


def _clip(film: Film, placement: Placement, media_base: Path, rate: float) -> otio.schema.Clip:
    shot, take = placement.shot, placement.take
    reference = otio.schema.ExternalReference(
        target_url=Path(os.path.relpath(take.media, media_base)).as_posix(),
        available_range=TR(RT(0, rate), RT(take.frames, rate)),
    )
    reference.name = take.media.name
    clip = otio.schema.Clip(
        name=f"{shot.id}_{take.version}",
        media_reference=reference,
        source_range=TR(RT(placement.source_start, rate), RT(placement.duration, rate)),
    )
    clip.metadata["cmx_3600"] = {"reel": take.reel}
    clip.metadata["racines"] = {
        "shot": shot.id,
        "take": take.version,
        "reel": take.reel,
        "shot_file": shot.file,
        "generator": shot.kind,
        "frames": shot.frames,
        "handles": take.manifest.get("handles", 0),
        "trim": [shot.trim_head, shot.trim_tail],
        "cache_key": take.cache_key,
        "source": None if shot.source is None else {
            "photo": clean(shot.source.relpath), "contributor": clean(shot.source.contributor),
            "consent": shot.source.consent, "credit": clean(shot.source.credit)},
        "prompt": clean(shot.generator.prompt),
        "seed": shot.generator.seed,
        "notes": clean(shot.notes),
    }
    clip.markers.append(otio.schema.Marker(
        name=shot.id,
        marked_range=TR(RT(placement.source_start, rate), RT(0, rate)),
        color=otio.schema.MarkerColor.GREEN,
        comment=clean(shot.notes),
    ))
    return clip


def shot_of(clip: otio.schema.Clip) -> str:
    """The shot a clip shows: its racines metadata, else its name (a timeline from elsewhere)."""
    return clip.metadata.get("racines", {}).get("shot", clip.name)


def record_ranges(timeline: otio.schema.Timeline | otio.schema.Track) -> dict[str, tuple[int, int]]:
    """Where each shot sits on the record, in frames from the film's first (its start timecode
    not added), by shot id: from its cut in to its cut out, first included and last excluded.
    A dissolve straddles its cut, so the shots on either side each own the half on their side.
    The one place record positions are computed: the render's burn-ins and the dailies' links
    read them here, and follow the trims and dissolves the timeline has."""
    track = timeline.video_tracks()[0] if isinstance(timeline, otio.schema.Timeline) else timeline
    ranges: dict[str, tuple[int, int]] = {}
    for item, where in track.range_of_all_children().items():
        if not isinstance(item, otio.schema.Clip):
            continue
        shot = shot_of(item)
        if shot in ranges:
            raise ValueError(f"shot {shot} appears twice in the timeline")
        ranges[shot] = (round(where.start_time.value), round(where.end_time_exclusive().value))
    return dict(sorted(ranges.items(), key=lambda item: item[1]))


def media_path(clip: otio.schema.Clip, media_base: Path) -> Path:
    return (media_base / clip.media_reference.target_url).resolve()
