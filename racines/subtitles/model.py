"""The data every part of the subtitles shares: a transcript as read from its file, and the
film's cues once placed on the record.

A transcript's times are seconds of its recording (exact fractions, from the recording's first
sample); a cue's are whole frames of the film's record, from the film's first frame, so the
writers of every format and the rule checks work on the same integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

TYPED = "typed"          # written by a person: always wins over a machine draft
MACHINE = "machine"      # drafted by a model: says so until a person marks it reviewed


@dataclass(frozen=True)
class Word:
    """One word (as written, punctuation attached) and when it is spoken in the recording."""

    text: str
    start: Fraction   # seconds from the recording's first sample
    end: Fraction


@dataclass(frozen=True)
class Phrase:
    """One cue of a transcript file: what is said between two times of the recording."""

    start: Fraction                  # seconds from the recording's first sample
    end: Fraction
    text: str                        # the words, a person's line breaks kept as "\n"
    words: tuple[Word, ...] = ()     # word timings where known (machine drafts, inline timestamps)
    line: int = 0                    # 1-based line of the file where the cue's timing line is


@dataclass(frozen=True)
class Transcript:
    """One voice's words in one language: a file beside the recording."""

    relpath: str                     # project-relative POSIX path of the transcript file
    recording: str                   # project-relative path of the voice's recording
    language: str                    # the language of the text (BCP 47: fr, ar, vi, fr-FR)
    origin: str                      # TYPED or MACHINE
    reviewed: bool                   # a machine draft a person has read and signed off
    phrases: tuple[Phrase, ...]
    model: str = ""                  # a machine draft: model and revision that made it
    translated_from: str = ""        # a translation: the language of the text it was made from

    @property
    def draft(self) -> bool:
        return self.origin == MACHINE and not self.reviewed


@dataclass(frozen=True)
class Cue:
    """A subtitle on the film's record: whole frames from the film's first frame, end exclusive."""

    start: int
    end: int
    lines: tuple[str, ...]           # at most the rule's number of lines, each within its width
    language: str
    source: str = ""                 # the transcript file it comes from
    line: int = 0                    # and the line of the phrase there
    speaker: str = ""
    speech_end: int | None = None    # the record frame where its words end (the out-time may linger after)

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
