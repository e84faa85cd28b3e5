"""The film's subtitles in one language: each voice's transcript placed where the timeline
plays the voice, cut into cues that obey the timed-text rules and follow the cuts.

Where the voices play comes from the timeline's audio tracks (racines.edit.audio), and the
cuts from its video track (racines.edit.timeline.record_ranges), so cues follow the edit,
conformed or not. Only what the clip plays of a recording is shown: a word is kept when its
middle falls inside the clip's range of the recording.

Building goes in passes, each keeping every word in order:

1. each phrase is cut at word boundaries into cues that fit the lines (at most ``max_lines`` of
   ``max_line_chars``) and ``max_frames``, preferring ends of sentences and clauses, and cuts
   of the picture near which a cue would otherwise straddle, but never leaving a part too short
   to read where a merge with its neighbour leaves room; times come from the word timings
   when the transcript has them, else are shared out by characters;
2. in-times within ``snap`` frames of a cut move to it; out-times are extended for reading
   (the minimum duration, the reading speed) up to ``linger`` frames after the speech (or to the
   minimum duration, for a short word), never
   over the next cue less the gap nor across a cut; out-times just short of a cut move to it;
   gaps of ``linger`` frames or fewer close to ``min_gap`` (chaining);
3. a last pass makes what always holds hold: start < end in whole frames, ``min_gap`` between
   cues, no cue straddling a cut by ``snap`` frames or fewer, nothing past the film's end.

The line rules always hold (for words no longer than a line); the duration and reading-speed
rules hold where the speech leaves room, and :func:`racines.subtitles.check.cue_problems`
reports every cue where it does not (speech faster than it can be read).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from racines.edit.audio import placed_sounds
from racines.edit.timeline import record_ranges
from racines.errors import Problem, ValidationFailed
from racines.film.model import Film, Recording
from racines.subtitles.model import Cue, Transcript, Word
from racines.subtitles.rules import Rules, characters, nfc
from racines.subtitles.transcript import read_transcript, transcript_path

#: words a line may start with rather than end with (a break before them reads naturally)
BREAK_BEFORE = frozenset("""
    and or but nor so because that which who when where if of to in for with on at from as than
    et ou mais donc car ni que qui quand où si de du des à au aux en dans pour par sur avec sans
    comme puis chez vers
    và hoặc nhưng vì nên thì mà của ở trong với cho khi nếu rằng là để từ
    و أو ثم لكن في من على إلى عن مع حتى لأن أن إن الذي التي
""".split())
SENTENCE_END = ".?!…؟۔"
CLAUSE_END = ",;:،؛"
#: what a cue too short to be read adds to a split's cost: well over what a better-placed break
#: saves (14 for a sentence's end rather than mid-clause, a few for balanced lines)
SHORT_CUE = 60.0


@dataclass(frozen=True)
class Speech:
    """A run of words of one voice, placed on the record: exact frames, not yet rounded."""

    words: tuple[Word, ...]          # times in frames of the record (exact)
    source: str                      # the transcript file
    line: int                        # the phrase's line there
    speaker: str
    breaks: tuple[int, ...] = ()     # a person's line breaks: word counts of each line


def nearest(value: Fraction) -> int:
    """``value`` rounded to the nearest whole frame (halves up)."""
    return math.floor(value + Fraction(1, 2))


# --- line breaking --------------------------------------------------------------------------------


def _break_cost(words: list[str], at: int, language: str) -> float:
    """How badly a line break before ``words[at]`` reads: after punctuation is best, before a
    conjunction or preposition good, anywhere else fair."""
    before, after = words[at - 1], words[at]
    if before.endswith(tuple(SENTENCE_END)):
        return 0
    if before.endswith(tuple(CLAUSE_END)):
        return 1
    if after.lower().strip("«»\"'") in BREAK_BEFORE:
        return 3
    if before.lower() in BREAK_BEFORE:   # a preposition left dangling at a line's end
        return 12
    return 8


def lay_out(words: list[str], rules: Rules, language: str = "") -> tuple[str, ...] | None:
    """``words`` on at most ``max_lines`` lines of at most ``max_line_chars`` characters,
    broken at the best place (see :func:`_break_cost`) with lines of balanced length; None
    when they do not fit. A word alone too long for a line is given a line of its own."""
    found = _layout(words, rules, language)
    return None if found is None else found[1]


def _layout(words: list[str], rules: Rules, language: str) -> tuple[float, tuple[str, ...]] | None:
    """:func:`lay_out`'s lines and how well they read (lower is better)."""
    if not words:
        return 0.0, ()
    # widths before each word (prefix sums: the split search tries many lines of the same words)
    before = list(itertools.accumulate((characters(word) for word in words), initial=0))
    # a sentence ending inside a line reads worse than one ending at a line's end
    ends = [word.endswith(tuple(SENTENCE_END)) for word in words]
    inside = 3.0 * sum(ends[:-1])
    if before[-1] + len(words) - 1 <= rules.max_line_chars:
        return inside, (" ".join(words),)
    best: tuple[float, tuple[int, ...]] | None = None
    for count in range(1, min(rules.max_lines, len(words))):
        for chosen in itertools.combinations(range(1, len(words)), count):
            bounds = (0, *chosen, len(words))
            spans = list(zip(bounds, bounds[1:]))
            lengths = [before[b] - before[a] + b - a - 1 for a, b in spans]
            if any(length > rules.max_line_chars and b - a > 1 for length, (a, b) in zip(lengths, spans)):
                continue
            cost = sum(_break_cost(words, at, language) for at in chosen) + (max(lengths) - min(lengths)) / 4 + 2 * count
            cost += inside - 3.0 * sum(ends[at - 1] for at in chosen)   # the sentence ends left inside a line
            if best is None or cost < best[0]:
                best = (cost, bounds)
        if best is not None:
            break   # the fewest lines that fit
    if best is None:
        return None
    bounds = best[1]
    return best[0], tuple(" ".join(words[a:b]) for a, b in zip(bounds, bounds[1:]))


# --- phrases to cues ------------------------------------------------------------------------------


def _split_cost(words: tuple[Word, ...], frames: list[tuple[int, int]], first: int, last: int, rules: Rules,
                cuts: list[int], language: str) -> float:
    """The cost of a cue of ``words[first:last]`` (``frames``: each word's, rounded): infinite
    where it cannot fit its lines or lasts too long (a single word always can), more where it
    ends mid-clause or straddles a cut by a few frames."""
    start, end = frames[first][0], frames[last - 1][1]
    if last - first > 1 and end - start > rules.max_frames:
        return math.inf
    texts = [word.text for word in words[first:last]]
    laid = _layout(texts, rules, language)
    if last - first > 1 and laid is None:
        return math.inf
    cost = 10.0 + (laid[0] if laid else 0.0)
    end_text = texts[-1]
    if last < len(words):
        cost += 0 if end_text.endswith(tuple(SENTENCE_END)) else 3 if end_text.endswith(tuple(CLAUSE_END)) else 14
    for cut in cuts:
        if start < cut < end and (cut - start <= rules.snap or end - cut <= rules.snap):
            cost += 30
    # a cue shorter than it can be read breaks a rule: that outweighs any better-placed split (a
    # sentence's end, a clause's), so a short word is merged with its neighbours wherever they
    # leave room; only the phrase's last cue can stay on into the pause after it, the others are
    # followed at once by the next, less the gap
    room = end - start + (rules.linger if last == len(words) else -rules.min_gap)
    short = rules.wanted_frames(" ".join(texts)) - room
    if short > 0:
        cost += SHORT_CUE + 100 * short / rules.rate
    return cost


def split_speech(speech: Speech, rules: Rules, cuts: list[int], language: str) -> list[Speech]:
    """The speech cut at word boundaries into runs that each make one cue (fewest, best-placed
    splits: dynamic programming over the word boundaries)."""
    words = speech.words
    count = len(words)
    frames = [(nearest(word.start), nearest(word.end)) for word in words]   # rounded once, not per candidate
    best: list[tuple[float, int]] = [(0.0, 0)] + [(math.inf, 0)] * count
    for last in range(1, count + 1):
        for first in range(last - 1, -1, -1):
            if best[first][0] == math.inf:
                continue
            cost = _split_cost(words, frames, first, last, rules, cuts, language)
            if cost == math.inf:
                break  # more words before will not fit either
            if best[first][0] + cost < best[last][0]:
                best[last] = (best[first][0] + cost, first)
    bounds, last = [], count
    while last > 0:
        bounds.append(last)
        last = best[last][1]
    bounds.append(0)
    bounds.reverse()
    if len(bounds) == 2:
        return [speech]
    return [replace(speech, words=words[a:b], breaks=()) for a, b in zip(bounds, bounds[1:])]


def _cue_lines(speech: Speech, rules: Rules, language: str) -> tuple[str, ...]:
    texts = [nfc(word.text) for word in speech.words]
    if speech.breaks and len(speech.breaks) <= rules.max_lines:
        lines, at = [], 0
        for size in speech.breaks:
            lines.append(" ".join(texts[at:at + size]))
            at += size
        if all(characters(line) <= rules.max_line_chars for line in lines):
            return tuple(lines)
    return lay_out(texts, rules, language) or (" ".join(texts),)


# --- timing ---------------------------------------------------------------------------------------


@dataclass
class _Timed:
    cue: Cue
    speech_start: int
    speech_end: int


def _cut_between(cuts: list[int], low: int, high: int) -> int | None:
    """The first cut c with low < c <= high."""
    return next((cut for cut in cuts if low < cut <= high), None)


def time_cues(timed: list[_Timed], rules: Rules, cuts: list[int], film_end: int) -> list[Cue]:
    """Passes 2 and 3 of the module's description on cues sorted by start."""
    gap = rules.min_gap
    # in-times near a cut move to it (never before the previous cue's speech)
    for index, item in enumerate(timed):
        floor = timed[index - 1].speech_end + gap if index else 0
        near = [cut for cut in cuts if 0 < abs(item.cue.start - cut) <= rules.snap and cut < item.cue.end and cut >= floor]
        if near:
            item.cue = replace(item.cue, start=min(near, key=lambda cut: abs(cut - item.cue.start)))
    # out-times: read, linger, snap to a cut, chain
    for index, item in enumerate(timed):
        cue = item.cue
        following = timed[index + 1].cue.start if index + 1 < len(timed) else film_end + gap
        # the minimum duration outweighs the linger: a short word is still shown long enough to read
        ceiling = min(max(item.speech_end + rules.linger, cue.start + rules.min_frames), following - gap,
                      cue.start + rules.max_frames, film_end)
        end = max(cue.end, min(ceiling, cue.start + rules.wanted_frames(cue.text)))
        crossed = _cut_between(cuts, cue.end, end)   # extended across a cut: stop at it
        if crossed is not None and crossed > cue.start:
            end = crossed
        cut = _cut_between(cuts, end, end + rules.snap)
        if cut is not None and cut <= ceiling:
            end = cut
        elif cut is not None and following == cut and cut - gap > end:
            end = cut - gap                  # the next cue starts at the cut: chain to it
        if index + 1 < len(timed) and 0 < following - gap - end <= rules.linger - gap \
                and _cut_between(cuts, end, following - 1) is None:
            end = following - gap            # close a short gap to the minimum
        end = max(end, cue.end)
        if end > following - gap > cue.start:
            end = following - gap            # speech run on into the next cue: leave the gap before it
        item.cue = replace(cue, end=end)
    return _legal([item.cue for item in timed], rules, cuts, film_end)


def _legal(cues: list[Cue], rules: Rules, cuts: list[int], film_end: int) -> list[Cue]:
    """What always holds: start < end, the gap, no straddling a cut by a few frames, the film's end."""
    done: list[Cue] = []
    for cue in cues:
        start = max(cue.start, done[-1].end + rules.min_gap) if done else max(cue.start, 0)
        end = max(cue.end, start + 1)
        if end > film_end and start < film_end:
            end = film_end
        # each shrink leaves a cut outside, and may bring another close to an end: until none is
        while (cut := next((cut for cut in cuts if start < cut < end
                            and (cut - start <= rules.snap or end - cut <= rules.snap)), None)) is not None:
            if end - cut >= cut - start:
                start = cut
            else:
                end = cut
        done.append(replace(cue, start=start, end=end))
    return done


# --- the film -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissingTranscript:
    """A voice the timeline plays with no transcript in the subtitle language."""

    recording: str
    transcript: str          # the file that would hold it
    speaker: str
    declared_in: str

    def problem(self, language: str) -> Problem:
        return Problem(
            file=self.transcript, field=language,
            message=f"no {language} transcript for the voice of {self.speaker or self.recording} "
                    f"({self.recording}, declared in {self.declared_in})",
            fix=f"write {self.transcript} (WebVTT, see docs/subtitles.md), or leave {language} out of "
                "film.yaml subtitles.languages")


@dataclass
class SubtitleTrack:
    """One language's cues, and what was found on the way: the transcripts used (machine
    drafts not yet reviewed among them) and the voices without a transcript."""

    language: str
    cues: list[Cue] = field(default_factory=list)
    transcripts: list[Transcript] = field(default_factory=list)
    missing: list[MissingTranscript] = field(default_factory=list)

    @property
    def drafts(self) -> list[Transcript]:
        return [transcript for transcript in self.transcripts if transcript.draft]


def cuts_of(timeline: otio.schema.Timeline) -> tuple[list[int], int]:
    """The cuts (the record frame where each shot after the first begins) and the film's end."""
    ranges = sorted(record_ranges(timeline).values())
    return [start for start, _ in ranges[1:]], (ranges[-1][1] if ranges else 0)


def voice_speech(transcript: Transcript, record_in: int, source_in: int, frames: int, rate: Fraction,
                 speaker: str) -> list[Speech]:
    """The transcript's words the clip plays, at their exact frames on the record."""
    window = (Fraction(source_in) / rate, Fraction(source_in + frames) / rate)
    offset = Fraction(record_in - source_in)
    found = []
    for phrase in transcript.phrases:
        if phrase.end <= window[0] or phrase.start >= window[1]:
            continue
        words = phrase.words or _shared_out(phrase.text, phrase.start, phrase.end)
        kept = [word for word in words if window[0] <= (word.start + word.end) / 2 < window[1]]
        if not kept:
            continue
        placed = tuple(Word(nfc(word.text), offset + max(word.start, window[0]) * rate,
                            offset + min(word.end, window[1]) * rate) for word in kept)
        breaks = tuple(len(line.split()) for line in phrase.text.split("\n")) if len(kept) == len(words) else ()
        found.append(Speech(placed, transcript.relpath, phrase.line, speaker, breaks))
    return found


def _shared_out(text: str, start: Fraction, end: Fraction) -> tuple[Word, ...]:
    """Word timings for a phrase without them: its time shared out by characters."""
    words = text.split()
    weights = [characters(word) + 1 for word in words]
    total, at, out = sum(weights), start, []
    for word, weight in zip(words, weights):
        following = at + (end - start) * weight / total
        out.append(Word(word, at, following))
        at = following
    return tuple(out)


def speech_cues(speeches: list[Speech], language: str, rules: Rules, cuts: list[int], film_end: int) -> list[Cue]:
    """Cues from placed speech (every voice of one language): split, timed, made legal."""
    timed = []
    for speech in speeches:
        for part in split_speech(speech, rules, cuts, language):
            start, end = nearest(part.words[0].start), nearest(part.words[-1].end)
            end = max(end, start + 1)
            cue = Cue(start=start, end=end, lines=_cue_lines(part, rules, language), language=language,
                      source=part.source, line=part.line, speaker=part.speaker, speech_end=end)
            timed.append(_Timed(cue, start, end))
    timed.sort(key=lambda item: (item.cue.start, item.cue.end, item.cue.source))
    return time_cues(timed, rules, cuts, film_end)


def subtitle_track(film: Film, timeline: otio.schema.Timeline, language: str, rules: Rules,
                   read: Callable[[Path, str, Fraction | None, str], Transcript] = read_transcript) -> SubtitleTrack:
    """The cues of ``language`` for the voices ``timeline`` plays; raise
    :class:`ValidationFailed` with every problem of the transcripts it reads."""
    recordings: dict[str, Recording] = {clip.recording.relpath: clip.recording for clip in film.sound}
    track = SubtitleTrack(language)
    problems: list[Problem] = []
    read_already: dict[str, Transcript | None] = {}
    speeches: list[Speech] = []
    for placed in placed_sounds(timeline, film.root):
        if placed.role != "voice":
            continue
        relpath = placed.provenance.get("recording", "")
        wanted = transcript_path(relpath, language)
        if wanted not in read_already:
            recording = recordings.get(relpath)
            seconds = Fraction(recording.samples, recording.rate) if recording else None
            read_already[wanted] = None
            if (film.root / wanted).is_file():
                try:
                    found = read(film.root, wanted, seconds, relpath)
                    read_already[wanted] = found
                    track.transcripts.append(found)
                except ValidationFailed as exc:
                    problems += exc.problems
            else:
                track.missing.append(MissingTranscript(relpath, wanted, placed.provenance.get("person", ""),
                                                       placed.provenance.get("declared_in", "")))
        transcript = read_already[wanted]
        if transcript is not None:
            speeches += voice_speech(transcript, placed.record_in, placed.source_in, placed.frames, film.rate,
                                     placed.provenance.get("person", ""))
    if problems:
        raise ValidationFailed(problems)
    cuts, film_end = cuts_of(timeline)
    track.cues = speech_cues(speeches, language, rules, cuts, film_end)
    return track


def film_cues(film: Film, timeline: otio.schema.Timeline, language: str, rules: Rules) -> list[Cue]:
    """The film's cues in ``language`` (see :func:`subtitle_track`, which also says which voices
    have no transcript in it: a render should say so, ``racines subtitles check`` refuses it)."""
    return subtitle_track(film, timeline, language, rules).cues
