"""The film's voices and music: the ``sound:`` lists of shot files and ``shots/sound.yaml``
resolved into :class:`SoundClip` s, every problem located like those of photographs.

Each recording is confined to the project and its header read once per load
(racines.film.audio), however many clips use it. Times are whole frames of the film's rate:
a shot's voice starts ``offset`` frames after the shot's first frame on the record, a film
voice or music at ``record_in``; ``source_in`` and ``duration`` cut the recording. A clip
that would run past the recording's end or the film's is refused, with the frames it has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from racines.errors import Problem, ValidationFailed
from racines.film.audio import NotAudio, read_info
from racines.film.model import Film, Recording, SoundClip
from racines.film.paths import PathRefused, confine
from racines.film.schema import FilmVoice, Music, ShotVoice, SoundBase

#: (location in the file, message, fix, bad value): a problem, as the loader's collector takes it
Report = Callable[[tuple, str, str, Any], None]
#: a duration or offset (frames, '12f', '0.5s') to frames at a rate: the loader's frames_of
ToFrames = Callable[[Any, Fraction], int]
#: a location in the file to its line
LineOf = Callable[[tuple], "int | None"]

SOUND_FILE = "sound.yaml"


class Recordings:
    """Each recording named, opened once per load."""

    def __init__(self, root: Path):
        self.root = root
        self.opened: dict[tuple[Path, str], tuple[Recording | None, tuple[str, str]]] = {}

    def open(self, folder: Path, text: str) -> tuple[Recording | None, tuple[str, str]]:
        """The recording ``text`` names from ``folder``, or None and (message, fix)."""
        key = (folder, text)
        if key not in self.opened:
            self.opened[key] = self._open(folder, text)
        return self.opened[key]

    def _open(self, folder: Path, text: str) -> tuple[Recording | None, tuple[str, str]]:
        try:
            path = confine(self.root, folder, text)
        except PathRefused as exc:
            fix = exc.fix.replace("photograph", "recording")
            return None, (str(exc), fix)
        try:
            info = read_info(path)
        except NotAudio as exc:
            return None, (f"not a usable recording: {exc}", exc.fix)
        return Recording(path, path.relative_to(self.root).as_posix(), info.codec, info.rate, info.channels,
                         info.bits, info.samples), ("", "")


def shot_voices(recordings: Recordings, shot_path: Path, file: str, shot_id: str, entries: list[ShotVoice],
                rate: Fraction, to_frames: ToFrames, report: Report, line_of: LineOf) -> list[SoundClip]:
    """The voices of a shot file's ``sound:`` list."""
    clips = []
    for index, entry in enumerate(entries):
        loc = ("sound", index)
        start = _frames(entry.offset, rate, to_frames, (*loc, "offset"), report)
        clip = _clip(recordings, shot_path.parent, file, loc, entry, "voice", entry.speaker, entry.language,
                     shot_id, start, rate, to_frames, report, line_of)
        if clip is not None:
            clips.append(clip)
    return clips


def film_sound(recordings: Recordings, sound_path: Path, file: str, voices: list[FilmVoice], music: list[Music],
               film_start: str, rate: Fraction, to_frames: ToFrames, report: Report,
               line_of: LineOf) -> list[SoundClip]:
    """The voices and music of ``shots/sound.yaml``, placed on the film's record."""
    clips = []
    for role, entries in (("voice", voices), ("music", music)):
        for index, entry in enumerate(entries):
            loc = ("voices" if role == "voice" else "music", index)
            start = _record_frame(entry.record_in, film_start, rate, to_frames, (*loc, "record_in"), report)
            length = _record_length(entry, start, film_start, rate, to_frames, loc, report)
            person = entry.speaker if isinstance(entry, FilmVoice) else entry.author
            clip = _clip(recordings, sound_path.parent, file, loc, entry, role, person, entry.language, None,
                         start, rate, to_frames, report, line_of, length)
            if clip is not None:
                clips.append(clip)
    return clips


def _clip(recordings: Recordings, folder: Path, file: str, loc: tuple, entry: SoundBase, role: str, person: str,
          language: str, shot: str | None, start: int | None, rate: Fraction, to_frames: ToFrames,
          report: Report, line_of: LineOf, length: int | None | bool = None) -> SoundClip | None:
    """``length``: frames from the entry's record_out (False: a record_out that was refused)."""
    recording, problem = recordings.open(folder, entry.file)
    if recording is None:
        report((*loc, "file"), *problem, entry.file)
    source_in = _frames(entry.source_in, rate, to_frames, (*loc, "source_in"), report)
    fade_in = _frames(entry.fade_in, rate, to_frames, (*loc, "fade_in"), report)
    fade_out = _frames(entry.fade_out, rate, to_frames, (*loc, "fade_out"), report)
    asked = None if entry.duration is None else _frames(entry.duration, rate, to_frames, (*loc, "duration"), report)
    if length is not None and length is not False:
        asked = length
    if recording is None or None in (start, source_in, fade_in, fade_out) or length is False \
            or (entry.duration is not None and not asked):
        return None
    length = recording.frames(rate)
    if source_in >= length:
        report((*loc, "source_in"), f"starts past the recording's end (it lasts {length} frames at the film's rate)",
               f"give a source_in below {length}", entry.source_in)
        return None
    frames = asked if asked is not None else length - source_in
    if frames > length - source_in:
        report((*loc, "duration"), f"longer than what the recording holds after source_in ({length - source_in} "
               "frames)", f"give at most {length - source_in} frames, or leave duration out to play to the end",
               entry.duration)
        return None
    if fade_in + fade_out > frames:
        report((*loc, "fade_out" if fade_out else "fade_in"), f"the fades ({fade_in} + {fade_out} frames) are "
               f"longer than the {frames} frames the clip plays", "shorten the fades", fade_in + fade_out)
        return None
    return SoundClip(role=role, file=file, field=".".join(str(part) for part in loc), line=line_of(loc),
                     recording=recording, person=person, consent=entry.consent, credit=entry.credit or person,
                     licence=entry.licence, language=language, shot=shot, start=start, source_in=source_in,
                     frames=frames, gain=entry.gain, fade_in=fade_in, fade_out=fade_out,
                     duck=getattr(entry, "duck", False))


def _frames(value: Any, rate: Fraction, to_frames: ToFrames, loc: tuple, report: Report) -> int | None:
    try:
        return to_frames(value, rate)
    except ValueError as exc:
        report(loc, str(exc), "give whole frames (12) or seconds ('0.5s')", value)
        return None


def _record_length(entry: FilmVoice | Music, start: int | None, film_start: str, rate: Fraction,
                   to_frames: ToFrames, loc: tuple, report: Report) -> int | None | bool:
    """The frames a record_out gives (None without one; False when it cannot be used)."""
    if entry.record_out is None:
        return None
    if entry.duration is not None:
        report((*loc, "record_out"), "both duration and record_out say how long it plays",
               "keep one of them", entry.record_out)
        return False
    end = _record_frame(entry.record_out, film_start, rate, to_frames, (*loc, "record_out"), report)
    if end is None or start is None:
        return False
    if end <= start:
        report((*loc, "record_out"), f"ends (frame {end}) before it starts (frame {start})",
               "give a record_out after record_in", entry.record_out)
        return False
    return end - start


def _record_frame(value: Any, film_start: str, rate: Fraction, to_frames: ToFrames, loc: tuple,
                  report: Report) -> int | None:
    """A record position in frames from the film's first frame: a timecode, or frames or seconds."""
    if not (isinstance(value, str) and value.count(":") + value.count(";") == 3):
        return _frames(value, rate, to_frames, loc, report)
    try:
        frame = otio.opentime.from_timecode(value, float(rate)).value
        first = otio.opentime.from_timecode(film_start, float(rate)).value
    except ValueError as exc:
        report(loc, f"not a valid timecode at this rate ({exc})", "write HH:MM:SS:FF with FF below the frame rate",
               value)
        return None
    if frame < first:
        report(loc, f"before the film's first frame ({film_start})", f"give a timecode from {film_start} on, or "
               "frames from the film's start", value)
        return None
    return round(frame - first)


def placement_problems(film: Film) -> list[tuple[SoundClip, str, str, str, Any]]:
    """Clips of the cut that would play past the film's end: (clip, field, message, fix, value)."""
    found = []
    starts, end = film.record_starts(), film.duration()
    for clip in film.sound_in_cut():
        first = clip.start + (starts[clip.shot] if clip.shot is not None else 0)
        over = first + clip.frames - end
        if over > 0:
            key = "offset" if clip.shot is not None else "record_in"
            found.append((clip, f"{clip.field}.{key}", f"the clip (frames {first} to {first + clip.frames} of the "
                          f"record) runs {over} frames past the film's end (frame {end})",
                          f"shorten it (duration: {max(1, clip.frames - over)}) or start it earlier", clip.start))
    return found


def record_frame(film: Film, clip: SoundClip) -> int:
    """Where ``clip`` starts on the record, in frames from the film's first."""
    return clip.start + (film.record_starts()[clip.shot] if clip.shot is not None else 0)


def only_consented(film: Film, skip_unconsented: bool) -> Film:
    """The film with only the sound that may be heard. Without ``skip_unconsented`` a voice or
    piece of music of the cut without granted consent stops the run before any work, located
    like any problem; with it, it is left out (see :func:`unconsented`). Raises
    :class:`ValidationFailed` as well when, shots left out, a clip would run past the film."""
    refused = unconsented(film)
    if refused and not skip_unconsented:
        raise ValidationFailed([Problem(
            file=clip.file, line=clip.line, field=f"{clip.field}.consent",
            message=f"the {clip.role} of {clip.person} ({clip.recording.relpath}) has consent '{clip.consent}', so "
                    "it cannot be heard", value=clip.consent, has_value=True,
            fix="ask them and set consent: granted, remove it from the file, or pass --skip-unconsented to leave "
                "it out of this render") for clip in refused])
    kept = dataclasses.replace(film, sound=tuple(clip for clip in film.sound if clip.consented))
    problems = [Problem(file=clip.file, field=field, message=message + " once unconsented shots are left out",
                        fix=fix, line=clip.line, value=value, has_value=True)
                for clip, field, message, fix, value in placement_problems(kept)]
    if problems:
        raise ValidationFailed(problems)
    return kept


def unconsented(film: Film) -> list[SoundClip]:
    """The clips of the cut that may not be heard."""
    return [clip for clip in film.sound_in_cut() if not clip.consented]


def recording_notes(film: Film) -> list[str]:
    """What the mix will do to recordings that are not 48 kHz stereo, once per recording."""
    notes: dict[str, str] = {}
    for clip in film.sound_in_cut():
        said = clip.recording.notes()
        if said and clip.recording.relpath not in notes:
            notes[clip.recording.relpath] = f"{clip.recording.relpath} ({clip.file}, {clip.field}): {'; '.join(said)}"
    return list(notes.values())
