"""The sound of the editor's cut read back: each clip of its audio tracks matched to a voice or
piece of music of the film, and where the editor moved, slipped or trimmed one, its new place
written into the file that declares it, comments and layout kept.

A clip is matched by its recording: the file its media reference names (absolute, or relative
to the cut's folder), else the reel (racines.edit.audio.sound_reel), else the file or clip name;
the clips of one recording pair with the film's in record order. A shot's voice keeps its shot:
its ``offset`` is counted from where the shot now starts (the picture's conform gives it), so a
voice that only followed its shot changes nothing. A voice or piece of music the cut does not
hold, or holds a different number of times, is left as it is and said so. A cut without audio
tracks (a picture EDL) changes no sound.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import opentimelineio as otio

from racines.edit.audio import sound_reel
from racines.film.model import Film, SoundClip

SOUND_FILE = Path("shots") / "sound.yaml"


@dataclass(frozen=True)
class SoundEvent:
    """A clip of the cut's audio tracks, in frames from the film's first frame."""

    name: str
    reel: str | None
    path: Path | None        # the recording its media reference names
    record_in: int
    source_in: int
    frames: int


@dataclass(frozen=True)
class SoundMove:
    clip: SoundClip
    start: int               # offset from its shot's start, or record_in
    source_in: int
    frames: int


def sound_events(timeline: otio.schema.Timeline, cut_folder: Path, film_start: int) -> list[SoundEvent]:
    """Every clip of the timeline's audio tracks. An EDL read by OTIO places a track that starts
    after the film's first frame by a negative start of its range (at its first record frame)."""
    found = []
    for track in timeline.audio_tracks():
        offset = 0
        if track.source_range is not None and track.source_range.start_time.value < 0:
            offset = round(-track.source_range.start_time.value) - film_start
        where = track.range_of_all_children()
        for clip in track.find_clips():
            reference = clip.media_reference
            path = None
            if isinstance(reference, otio.schema.ExternalReference) and reference.target_url:
                url = urlparse(reference.target_url)
                text = unquote(url.path) if url.scheme == "file" else reference.target_url
                path = (cut_folder / text).resolve() if not Path(text).is_absolute() else Path(text).resolve()
            source = clip.source_range or clip.trimmed_range()
            reel = (clip.metadata.get("cmx_3600") or {}).get("reel") or (clip.metadata.get("racines") or {}).get("reel")
            found.append(SoundEvent(clip.name, reel, path, round(where[clip].start_time.value) + offset,
                                    round(source.start_time.value), round(source.duration.value)))
    return sorted(found, key=lambda event: event.record_in)


def compare_sound(film: Film, new_film: Film,
                  events: list[SoundEvent]) -> tuple[list[SoundMove], list[str], list[str]]:
    """The moves the cut makes to the film's sound, a line for each, and notes on what cannot be
    conformed. ``new_film``: the film with the picture's conform applied (its record starts)."""
    if not events:
        return [], [], []
    heard = [clip for clip in new_film.sound_in_cut() if clip.consented]
    recordings = {clip.recording.path.resolve(): clip.recording for clip in heard}
    by_reel = {sound_reel(r.relpath): path for path, r in recordings.items()}
    by_name = {path.name: path for path in recordings} | {path.stem: path for path in recordings}
    grouped: dict[Path, list[SoundEvent]] = {}
    lines: list[str] = []
    notes: list[str] = []
    for event in events:
        path = event.path if event.path in recordings else by_reel.get(event.reel or "") or \
            by_name.get(event.path.name if event.path else "") or by_name.get(event.name)
        if path is None:
            notes.append(f"sound: '{event.name}' at frame {event.record_in} of the cut is no recording of the "
                         "film: left out")
            continue
        grouped.setdefault(path, []).append(event)
    old_starts, new_starts = film.record_starts(), new_film.record_starts()
    moves = []
    for path, recording in recordings.items():
        clips = sorted((c for c in heard if c.recording.path.resolve() == path),
                       key=lambda c: c.start + (old_starts.get(c.shot, 0) if c.shot else 0))
        cut = grouped.get(path, [])
        if len(cut) != len(clips):
            notes.append(f"sound: the cut holds {recording.relpath} {len(cut)} time(s), the film {len(clips)}: "
                         "left as the files say")
            continue
        for clip, event in zip(clips, cut):
            start = event.record_in - (new_starts[clip.shot] if clip.shot else 0)
            if start < 0:
                notes.append(f"sound: {clip.file} {clip.field} ({recording.relpath}) now starts {-start} frames "
                             f"before its shot {clip.shot}: left as it was (move it to shots/sound.yaml)")
                continue
            if (start, event.source_in, event.frames) != (clip.start, clip.source_in, clip.frames):
                moves.append(SoundMove(clip, start, event.source_in, event.frames))
                key = "offset" if clip.shot else "record_in"
                lines.append(f"sound: {clip.file} {clip.field} ({recording.relpath}): {key} {clip.start} -> {start}, "
                             f"source_in {clip.source_in} -> {event.source_in}, {clip.frames} -> {event.frames} "
                             "frames")
    return moves, lines, notes


def with_picture(film: Film, cut: list[str], updates: dict) -> Film:
    """The film as the picture's conform leaves it: ``updates``, conform's ShotUpdates by shot."""
    shots = dict(film.shots)
    for shot_id, update in updates.items():
        shot = shots[shot_id]
        changes = {}
        if update.trim is not None:
            changes["trim_head"], changes["trim_tail"] = update.trim
        if update.duration is not None:
            changes["frames"] = update.duration
        if update.dissolve is not None:
            changes["dissolve_frames"] = update.dissolve
        shots[shot_id] = dataclasses.replace(shot, **changes)
    return dataclasses.replace(film, cut=tuple(cut), shots=shots)


def sound_texts(film: Film, moves: list[SoundMove], texts: dict[Path, str]) -> dict[Path, str]:
    """``texts`` with the moves written into the files that declare the clips (from ``texts``
    where the picture's conform changed them already, else from disk)."""
    if not moves:
        return texts
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    loaded: dict[Path, object] = {}
    for move in moves:
        path = film.root / move.clip.file
        if path not in loaded:
            loaded[path] = yaml.load(texts[path] if path in texts else path.read_text(encoding="utf-8"))
        key, index = move.clip.field.split(".")
        entry = loaded[path][key][int(index)]
        entry["offset" if move.clip.shot else "record_in"] = move.start
        if move.source_in != move.clip.source_in or "source_in" in entry:
            entry["source_in"] = move.source_in
        if "record_out" in entry:  # frames from the film's first, as record_in is written
            entry["record_out"] = move.start + move.frames
        elif move.frames != move.clip.frames or "duration" in entry:
            entry["duration"] = move.frames
    out = dict(texts)
    for path, data in loaded.items():
        buffer = io.StringIO()
        yaml.dump(data, buffer)
        out[path] = buffer.getvalue()
    return out


def read_sound_cut(path: Path, film: Film) -> list[SoundEvent]:
    """The audio clips of the editor's cut, read as racines.edit.conform.read_cut read its
    picture (which has checked the file already); none when it holds no audio track."""
    from racines.core.reading import read_limited
    from racines.edit.conform import ADAPTERS, MAX_CUT_BYTES

    suffix = path.suffix.lower()
    adapter = ADAPTERS[suffix]
    options = {"rate": float(film.rate), "ignore_timecode_mismatch": True} if adapter == "cmx_3600" else {}
    try:
        if adapter == "AAF":
            timeline = otio.adapters.read_from_file(str(path), adapter_name=adapter)
        else:
            data = read_limited(path, MAX_CUT_BYTES[suffix])
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
            timeline = otio.adapters.read_from_string(text, adapter_name=adapter, **options)
    except Exception:  # noqa: BLE001 - the picture was read: a cut whose sound cannot be read has none
        return []
    if not isinstance(timeline, otio.schema.Timeline):
        return []
    start = round(otio.opentime.from_timecode(film.timecode_start, float(film.rate)).value)
    return sound_events(timeline, path.parent.resolve(), start)
