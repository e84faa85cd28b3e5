"""Typed failures that map to the CLI's documented exit codes.

Every message is written for the person at the keyboard: it names the file, the field,
the bad value and the fix. Tracebacks are shown only with ``--debug``.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass

#: the most characters of a user's value (or a field's name) a message quotes: a value can be
#: a whole file's worth of text, or an alias-expanded structure of millions of items
QUOTED_CHARS = 200


class ExitCode:
    OK = 0
    INTERNAL = 1        # a bug in racines: please report it with --debug output
    INVALID_INPUT = 2   # shot files, photographs, consent or command-line usage
    RENDER_FAILED = 3   # ffmpeg or a generator failed while making media
    BATCH_PARTIAL = 4   # racines batch finished, but some shots or the film failed (see the dailies)
    NOTHING_TO_DO = 5   # racines batch found every take and the film up to date
    BUSY = 75           # another racines batch holds the lock (EX_TEMPFAIL: try again later)
    INTERRUPTED = 130


class RacinesError(Exception):
    exit_code = ExitCode.INTERNAL


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the project's files, located as precisely as we can."""

    file: str
    field: str
    message: str
    fix: str = ""
    line: int | None = None
    value: object = None
    has_value: bool = False

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        text = f"{where}: {shorten(self.field) or '(file)'}: {shorten(self.message, 4 * QUOTED_CHARS)}"
        if self.has_value:
            text += f" (got {quoted(self.value)})"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text


def shorten(text: str, limit: int = QUOTED_CHARS) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis saying so."""
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 4, QUOTED_CHARS, QUOTED_CHARS
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 12


def quoted(value: object) -> str:
    """``repr(value)`` for a message, bounded however large or deep the value (reprlib stops
    early, where repr would build the whole text first)."""
    return shorten(_REPR.repr(value))


class ValidationFailed(RacinesError):
    """The project's files have problems; all of them are listed at once."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the shot files:"
        super().__init__("\n".join([head, *(str(p) for p in self.problems)]))


class ConsentRefused(RacinesError):
    """A shot in the cut uses a photograph whose owner has not granted consent."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, shots: list[tuple[str, str, str, str]], withheld: dict[str, tuple[str, ...]] | None = None):
        # (shot id, shot file, contributor, consent); withheld: shot id -> the LoRAs' withdrawals
        self.shots = list(shots)
        withheld = withheld or {}
        lines = [
            f"{file}: shot {shot_id}: the photograph of {contributor} has consent "
            f"'{consent}', so it cannot be rendered"
            for shot_id, file, contributor, consent in self.shots if consent != "granted"
        ]
        lines += [f"{file}: shot {shot_id}: {reason}, so it cannot be rendered"
                  for shot_id, file, _, _ in self.shots for reason in withheld.get(shot_id, ())]
        lines.append(
            "    fix: ask the contributor and set source.consent to 'granted', remove the shot "
            "from the cut in shots/film.yaml, or pass --skip-unconsented to leave it out of this render"
        )
        if withheld:
            lines.append("    fix (a LoRA): remove it from the shot's lora:, or train it again without the photograph "
                         "(racines dataset NAME, then racines dataset stamp NAME LORA)")
        super().__init__("\n".join(lines))


class UsageError(RacinesError):
    exit_code = ExitCode.INVALID_INPUT


class RenderFailed(RacinesError):
    exit_code = ExitCode.RENDER_FAILED


class ModelUnavailable(RenderFailed):
    """A shot's model is missing on this machine or refused (pickle weights, custom code):
    the shot fails, the others go on, and a retry would fail the same way."""


class BatchBusy(RacinesError):
    """Another batch or render holds the project's lock."""

    exit_code = ExitCode.BUSY
