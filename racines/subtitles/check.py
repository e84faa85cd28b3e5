"""``racines subtitles check``: every cue against the timed-text rules, every transcript
against its format, every voice against the subtitle languages.

A cue that breaks a rule is named by the transcript file and the line of its phrase, and by
its record timecode, with what to change. The builder (racines.subtitles.cues) keeps every
word, so where speech is faster than the rules allow the cue is built all the same and
reported here: the fix is in the transcript (condense the text, as subtitlers do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import opentimelineio as otio

from racines.edit.audio import audio_tracks
from racines.edit.timecode import to_frames, to_timecode
from racines.errors import Problem, ValidationFailed
from racines.film.model import Film
from racines.subtitles.cues import SubtitleTrack, cuts_of, subtitle_track
from racines.subtitles.model import Cue, Transcript
from racines.subtitles.rules import Rules, characters, rules_of
from racines.subtitles.transcript import language_problem

FILM_FILE = "shots/film.yaml"


def subtitle_languages(film: Film) -> list[str]:
    """The languages to subtitle: film.yaml's ``subtitles.languages``, else every language a
    voice of the cut speaks (in the order the film first hears them)."""
    if film.subtitles.languages:
        return list(film.subtitles.languages)
    spoken: list[str] = []
    for clip in film.sound_in_cut():
        if clip.role == "voice" and clip.consented and clip.language not in spoken:
            spoken.append(clip.language)
    return spoken


def _frames(frames: int, rules: Rules) -> str:
    return f"{frames} frame{'s' if frames != 1 else ''} ({float(Fraction(frames) / rules.rate):.2f} s)"


def cue_problems(cues: list[Cue], rules: Rules, cuts: list[int], film_end: int,
                 where: Callable[[int], str] = str) -> list[Problem]:
    """Every rule each cue breaks, located at its transcript's line; ``where``: a record frame
    as the person reads it (a timecode)."""
    found: list[Problem] = []
    for index, cue in enumerate(cues):
        def add(message: str, fix: str, cue: Cue = cue) -> None:
            found.append(Problem(file=cue.source or "(no transcript)", line=cue.line or None,
                                 field=f"{cue.language} cue at {where(cue.start)}", message=message, fix=fix))

        if cue.end <= cue.start:
            add(f"ends ({where(cue.end)}) before it starts", "correct the phrase's times in the transcript")
            continue
        if len(cue.lines) > rules.max_lines:
            add(f"{len(cue.lines)} lines (at most {rules.max_lines})", "shorten the text of this phrase")
        for number, line in enumerate(cue.lines, 1):
            if characters(line) > rules.max_line_chars:
                add(f"line {number} is {characters(line)} characters (at most {rules.max_line_chars})",
                    "shorten the word or the text of this phrase")
        if cue.frames < rules.min_frames:
            add(f"on screen {_frames(cue.frames, rules)}, at least {rules.min_frames} frames",
                "give the phrase more time in the transcript, or merge it with its neighbour")
        if cue.frames > rules.max_frames:
            add(f"on screen {_frames(cue.frames, rules)}, at most {rules.max_frames} frames",
                "split the phrase into shorter cues in the transcript")
        cps = rules.cps(cue.text, cue.frames)
        if cps > rules.max_cps:
            add(f"reading speed {float(cps):.1f} characters/s (at most {float(rules.max_cps):g})",
                f"condense the text to {int(rules.max_cps * cue.frames / rules.rate)} characters or fewer (subtitles "
                "need not be word for word), or give the phrase more time in the transcript")
        following = cues[index + 1] if index + 1 < len(cues) else None
        if following is not None and following.start - cue.end < rules.min_gap:
            gap = following.start - cue.end
            add(f"the next subtitle starts {gap} frame{'s' if gap != 1 else ''} after this one ends "
                f"(at least {rules.min_gap})", "move the phrases apart in the transcripts")
        for cut in cuts:
            if cue.start < cut < cue.end and min(cut - cue.start, cue.end - cut) <= rules.snap:
                add(f"straddles the cut at {where(cut)} by {min(cut - cue.start, cue.end - cut)} frames "
                    f"(start or end at the cut, or more than {rules.snap} frames from it)",
                    "split the phrase at the cut in the transcript, or move its time to the cut")
        chained = following is not None and following.start - cue.end == rules.min_gap
        if cue.speech_end is not None and cue.end - cue.speech_end > rules.linger and not chained \
                and cue.frames > rules.min_frames:
            add(f"stays {cue.end - cue.speech_end} frames after its words end (at most {rules.linger})",
                "end the phrase closer to its last word in the transcript")
        if cue.end > film_end:
            add(f"ends at {where(cue.end)}, past the film's end ({where(film_end)})",
                "end the phrase before the film does")
    return found


def declared_timeline(film: Film) -> otio.schema.Timeline:
    """The cut as the shot files place it, before any take exists: a clip per shot at its record
    position (:meth:`Film.record_starts`, where the takes' timeline puts it too) and the voices'
    audio tracks. Enough to place cues; it references no media."""
    rate = float(film.rate)
    timeline = otio.schema.Timeline(name=film.title)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    starts = film.record_starts()
    bounds = [*starts.values(), film.duration()]
    for (shot, start), end in zip(starts.items(), bounds[1:]):
        clip = otio.schema.Clip(name=shot, source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(end - start, rate)))
        clip.metadata["racines"] = {"shot": shot}
        track.append(clip)
    timeline.tracks.append(track)
    timeline.tracks.extend(audio_tracks(film, starts, film.root))
    return timeline


@dataclass
class SubtitleReport:
    """What ``racines subtitles check`` found, language by language."""

    languages: list[str]
    tracks: dict[str, SubtitleTrack] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def drafts(self) -> list[Transcript]:
        """Machine drafts a person has not yet marked reviewed."""
        return [draft for track in self.tracks.values() for draft in track.drafts]

    @property
    def cues(self) -> int:
        return sum(len(track.cues) for track in self.tracks.values())


def check_subtitles(film: Film, timeline: otio.schema.Timeline, languages: list[str] | None = None) -> SubtitleReport:
    """Build every language's cues on ``timeline`` and report everything that breaks a rule."""
    rules = rules_of(film)
    report = SubtitleReport(languages or subtitle_languages(film))
    for index, language in enumerate(film.subtitles.languages):
        if why := language_problem(language):
            report.problems.append(Problem(file=FILM_FILE, field=f"subtitles.languages.{index}", message=why,
                                           fix="use a BCP 47 tag such as fr, ar, vi or fr-FR",
                                           value=language, has_value=True))
    start = to_frames(film.timecode_start, film.rate)

    def where(frame: int) -> str:
        return to_timecode(start + frame, film.rate, film.drop_frame)

    cuts, film_end = cuts_of(timeline)
    for language in report.languages:
        try:
            track = subtitle_track(film, timeline, language, rules)
        except ValidationFailed as exc:
            report.problems += exc.problems
            continue
        report.tracks[language] = track
        report.problems += [missing.problem(language) for missing in track.missing]
        report.problems += cue_problems(track.cues, rules, cuts, film_end, where)
    return report
