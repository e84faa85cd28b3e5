"""Transcript files: one WebVTT file beside each voice's recording, per language.

``sound/amina_fr.wav`` has its French words in ``sound/amina_fr.fr.vtt`` and their Arabic
translation in ``sound/amina_fr.ar.vtt``. The header block says what the file is::

    WEBVTT
    Language: fr
    Origin: machine draft, openai/whisper-large-v3-turbo@41f0bd3
    Translated-From: ar

``Origin:`` is ``typed`` (a person wrote it; also what a file without the line is), ``machine
draft, MODEL@REVISION`` (a model wrote it), or ``reviewed machine draft, MODEL@REVISION`` (a
person read the draft and signed it off by adding the word ``reviewed``). A typed or reviewed
transcript is never replaced by a new draft (:func:`may_replace`).

Cue times are seconds of the recording, from its first sample. A cue's text keeps the person's
line breaks; machine drafts put WebVTT timestamp tags (``<00:00:01.240>``) before each word,
which a person may delete (a cue whose words are not all timed is split by characters).
Files are written in a stable form, one cue per block and nothing volatile, so they merge well.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path, PurePosixPath

import langcodes

from racines.core.atomic import atomic_path
from racines.errors import Problem, ValidationFailed
from racines.film.paths import PathRefused, confine
from racines.subtitles.model import MACHINE, TYPED, Phrase, Transcript, Word
from racines.subtitles.rules import nfc

SUFFIX = ".vtt"
_TIME = r"(?:(\d{1,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_TIMING = re.compile(rf"^{_TIME}[ \t]+-->[ \t]+{_TIME}(?:[ \t]+.*)?$")
_TIMESTAMP_TAG = re.compile(rf"<{_TIME}>")
_ANY_TAG = re.compile(r"<[^>]*>")
_HEADER = re.compile(r"^([A-Za-z][A-Za-z-]*):[ \t]*(.*)$")
_MACHINE = re.compile(r"^(reviewed[ \t]+)?machine draft(?:,[ \t]*(.*))?$", re.IGNORECASE)
#: tags that say nothing of a language: undetermined, multiple, no linguistic content
_NOT_A_LANGUAGE = {"und", "mul", "zxx", "mis"}

ORIGIN_FIX = "write 'Origin: typed', 'Origin: machine draft, MODEL@REVISION' or 'Origin: reviewed machine draft, ...'"


def transcript_path(recording_relpath: str, language: str) -> str:
    """The transcript of a recording in ``language``: ``sound/amina_fr.wav`` ->
    ``sound/amina_fr.fr.vtt`` (project-relative POSIX paths)."""
    recording = PurePosixPath(recording_relpath)
    return str(recording.with_name(f"{recording.stem}.{language}{SUFFIX}"))


def language_of_name(relpath: str) -> str:
    """The language a transcript's file name gives: ``amina_fr.fr.vtt`` -> ``fr``."""
    name = PurePosixPath(relpath).name
    stem = name[:-len(SUFFIX)] if name.endswith(SUFFIX) else name
    return stem.rpartition(".")[2] if "." in stem else ""


def language_problem(tag: str) -> str | None:
    """Why ``tag`` is not a language tag of the IANA registry (BCP 47), or None."""
    if not langcodes.tag_is_valid(tag):
        return f"'{tag}' is not a language tag of the IANA registry (BCP 47)"
    if (langcodes.Language.get(tag).language or "und") in _NOT_A_LANGUAGE:
        return f"'{tag}' names no language"
    return None


def may_replace(existing: Transcript | None) -> bool:
    """Whether a new machine draft may take the place of ``existing``: only where there is no
    transcript, or an unreviewed machine draft. A typed or reviewed transcript always wins."""
    return existing is None or existing.draft


# --- reading --------------------------------------------------------------------------------------


def _seconds(groups: tuple[str | None, ...]) -> Fraction:
    hours, minutes, seconds, millis = (int(group or 0) for group in groups)
    return Fraction(hours * 3600 + minutes * 60 + seconds) + Fraction(millis, 1000)


def _clock(seconds: Fraction) -> str:
    """``HH:MM:SS.mmm``, rounded to the nearest millisecond (WebVTT's precision)."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


@dataclass
class _Reader:
    relpath: str
    problems: list[Problem]

    def add(self, line: int | None, field: str, message: str, fix: str, value: object = ...) -> None:
        self.problems.append(Problem(file=self.relpath, field=field, message=message, fix=fix, line=line,
                                     value=None if value is ... else value, has_value=value is not ...))


def _decode(data: bytes, out: _Reader) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        out.add(line, "", f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} cannot be decoded",
                "save the file as UTF-8 (WebVTT is always UTF-8), e.g. iconv -f LATIN1 -t UTF-8")
        return None
    return text.removeprefix("\ufeff")


def _cue_text(raw_lines: list[str], start: Fraction, end: Fraction, line: int, out: _Reader) -> tuple[str, tuple[Word, ...]]:
    """The cue's text (tags removed, entities decoded, NFC) and its words' timings where every
    word has one (the first may take the cue's start)."""
    tokens: list[tuple[str, Fraction | None]] = []   # each word, with the timestamp just before it
    lines, pending, last = [], None, start
    for raw in raw_lines:
        parts = _TIMESTAMP_TAG.split(raw)   # text, then each tag's 4 groups and the text after it
        for index in range(0, len(parts), 5):
            if index:
                stamp = _seconds(tuple(parts[index - 4:index]))
                if not start <= stamp <= end or stamp < last:
                    out.add(line, "timestamp", f"the word timestamp {_clock(stamp)} is outside the cue "
                            f"({_clock(start)} --> {_clock(end)}) or before the one before it",
                            "correct it or delete the <...> timestamp", value=_clock(stamp))
                pending, last = stamp, max(last, stamp)
            for word in html.unescape(_ANY_TAG.sub("", parts[index])).split():
                tokens.append((nfc(word), pending))
                pending = None
        plain = html.unescape(_ANY_TAG.sub("", "".join(parts[index] for index in range(0, len(parts), 5))))
        if plain.split():
            lines.append(" ".join(plain.split()))
    text = nfc("\n".join(lines))
    if not tokens or any(stamp is None for _, stamp in tokens[1:]):
        return text, ()
    starts = [tokens[0][1] if tokens[0][1] is not None else start] + [stamp for _, stamp in tokens[1:] if stamp is not None]
    ends = starts[1:] + [end]
    return text, tuple(Word(word, s, e) for (word, _), s, e in zip(tokens, starts, ends))


def parse_transcript(relpath: str, data: bytes, recording_seconds: Fraction | None = None,
                     recording: str = "") -> Transcript:
    """A transcript from its bytes; raise :class:`ValidationFailed` with every problem, each
    with the file and line. ``recording_seconds``: the recording's length, which no cue passes."""
    out = _Reader(relpath, [])
    text = _decode(data, out)
    if text is None:
        raise ValidationFailed(out.problems)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines[0].startswith("WEBVTT") or lines[0][6:7] not in ("", " ", "\t"):
        out.add(1, "", "not a WebVTT file: the first line must be WEBVTT", "start the file with a line WEBVTT",
                value=lines[0][:40])
        raise ValidationFailed(out.problems)
    headers: dict[str, tuple[str, int]] = {}
    number = 1
    while number < len(lines) and lines[number].strip():
        match = _HEADER.match(lines[number].strip())
        if match:
            headers[match.group(1).lower()] = (match.group(2).strip(), number + 1)
        number += 1

    language = _header_language(headers, relpath, out)
    origin, reviewed, model = _header_origin(headers, out)
    translated_from = headers.get("translated-from", ("", 0))[0]
    if translated_from and (why := language_problem(translated_from)):
        out.add(headers["translated-from"][1], "Translated-From", why, "give the language of the original, e.g. ar",
                value=translated_from)

    phrases: list[Phrase] = []
    blocks = _blocks(lines, number)
    for first_line, block in blocks:
        if block[0].startswith(("NOTE", "STYLE", "REGION")) and "-->" not in block[0]:
            continue
        timing_at = 0 if "-->" in block[0] else 1
        if timing_at >= len(block) or "-->" not in block[timing_at]:
            out.add(first_line, "cue", "a block that is no cue: no 'START --> END' timing line",
                    "give the cue a timing line such as 00:00:01.000 --> 00:00:03.500, or start the block with NOTE")
            continue
        line = first_line + timing_at
        match = _TIMING.match(block[timing_at].strip())
        if not match:
            out.add(line, "timing", "not a cue timing: write HH:MM:SS.mmm --> HH:MM:SS.mmm",
                    "e.g. 00:00:01.000 --> 00:00:03.500 (a dot before the milliseconds, three digits)",
                    value=block[timing_at].strip())
            continue
        start, end = _seconds(match.groups()[:4]), _seconds(match.groups()[4:])
        phrase_text, words = _cue_text(block[timing_at + 1:], start, end, line, out)
        if end <= start:
            out.add(line, "timing", f"the cue ends ({_clock(end)}) before it starts ({_clock(start)})",
                    "swap or correct the times", value=block[timing_at].strip())
            continue
        if not phrase_text:
            out.add(line, "text", "the cue has no text", "write what is said, or delete the cue")
            continue
        if phrases and start < phrases[-1].end:
            out.add(line, "timing", f"the cue starts at {_clock(start)}, before the cue of line {phrases[-1].line} "
                    f"ends ({_clock(phrases[-1].end)})",
                    "cues of one voice follow each other: move its start, or merge the two cues")
        if recording_seconds is not None and end > recording_seconds:
            out.add(line, "timing", f"the cue ends at {_clock(end)}, past the end of the recording "
                    f"({_clock(recording_seconds)})", "end the cue within the recording", value=_clock(end))
        phrases.append(Phrase(start=start, end=end, text=phrase_text, words=words, line=line))
    if out.problems:
        raise ValidationFailed(out.problems)
    return Transcript(relpath=relpath, recording=recording, language=language, origin=origin, reviewed=reviewed,
                      phrases=tuple(phrases), model=model, translated_from=translated_from)


def _blocks(lines: list[str], after_header: int) -> list[tuple[int, list[str]]]:
    """The blocks after the header, separated by blank lines: (1-based first line, lines)."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    first = 0
    for index in range(after_header, len(lines)):
        if lines[index].strip():
            if not current:
                first = index + 1
            current.append(lines[index])
        elif current:
            blocks.append((first, current))
            current = []
    if current:
        blocks.append((first, current))
    return blocks


def _header_language(headers: dict[str, tuple[str, int]], relpath: str, out: _Reader) -> str:
    named = language_of_name(relpath)
    if "language" not in headers:
        out.add(1, "Language", "the header has no Language: line",
                f"add 'Language: {named or 'fr'}' after the WEBVTT line")
        return named
    language, line = headers["language"]
    if why := language_problem(language):
        out.add(line, "Language", why, "use a BCP 47 tag such as fr, ar, vi or fr-FR", value=language)
    elif language.lower() != named.lower():
        out.add(line, "Language", f"the header says '{language}' but the file name says '{named or '(none)'}'",
                f"name the file <recording>.{language}{SUFFIX}, or correct the header", value=language)
    return language


def _header_origin(headers: dict[str, tuple[str, int]], out: _Reader) -> tuple[str, bool, str]:
    origin, line = headers.get("origin", ("typed", 0))
    if origin.lower() == TYPED:
        return TYPED, False, ""
    match = _MACHINE.match(origin)
    if not match:
        out.add(line, "Origin", "not an origin racines knows", ORIGIN_FIX, value=origin)
        return TYPED, False, ""
    return MACHINE, bool(match.group(1)), (match.group(2) or "").strip()


def read_transcript(root: Path, relpath: str, recording_seconds: Fraction | None = None,
                    recording: str = "") -> Transcript:
    """Read the transcript at project-relative ``relpath`` (inside the project); raise
    :class:`ValidationFailed` naming the file and line of every problem."""
    root = Path(root).resolve()
    try:
        path = confine(root, root, relpath)
    except PathRefused as exc:
        raise ValidationFailed([Problem(file=relpath, field="", message=str(exc), fix=exc.fix)]) from None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationFailed([Problem(file=relpath, field="", message=f"cannot be read ({exc.strerror})",
                                        fix="check the file exists and can be read")]) from None
    return parse_transcript(relpath, data, recording_seconds, recording)


# --- writing --------------------------------------------------------------------------------------


def origin_line(transcript: Transcript) -> str:
    if transcript.origin == TYPED:
        return TYPED
    made = "reviewed machine draft" if transcript.reviewed else "machine draft"
    return f"{made}, {transcript.model}" if transcript.model else made


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _phrase_lines(phrase: Phrase) -> list[str]:
    """The cue's text lines, each word after the first with its timestamp tag when the words'
    timings are known and match the text word for word."""
    lines = [line.split() for line in nfc(phrase.text).split("\n") if line.strip()]
    if not lines:
        lines = [[word.text for word in phrase.words]]
    if not phrase.words or [word for line in lines for word in line] != [nfc(word.text) for word in phrase.words]:
        return [_escape(" ".join(line)) for line in lines]
    timed, index = [], 0
    for line in lines:
        parts = []
        for word in line:
            stamp = phrase.words[index].start
            tagged = index > 0 or stamp > phrase.start
            parts.append((f"<{_clock(stamp)}>" if tagged and phrase.start < stamp < phrase.end else "") + _escape(word))
            index += 1
        timed.append(" ".join(parts))
    return timed


def format_transcript(transcript: Transcript) -> str:
    """The file's text: stable, one cue per block, nothing that changes between runs."""
    out = ["WEBVTT", f"Language: {transcript.language}", f"Origin: {origin_line(transcript)}"]
    if transcript.translated_from:
        out.append(f"Translated-From: {transcript.translated_from}")
    for phrase in transcript.phrases:
        out += ["", f"{_clock(phrase.start)} --> {_clock(phrase.end)}", *_phrase_lines(phrase)]
    return "\n".join(out) + "\n"


def write_transcript(root: Path, transcript: Transcript) -> Path:
    """Write ``transcript`` at its ``relpath`` inside the project, whole or not at all; the
    text is read back first, so a transcript racines would refuse is never written."""
    root = Path(root).resolve()
    text = format_transcript(transcript)
    parse_transcript(transcript.relpath, text.encode("utf-8"))  # raises with the problems
    path = (root / transcript.relpath).resolve()   # links followed: one out of the project is refused
    if PurePosixPath(transcript.relpath).is_absolute() or not path.is_relative_to(root) or path.suffix != SUFFIX:
        raise ValidationFailed([Problem(file=transcript.relpath, field="", message="a transcript is written only "
                                        f"inside the project, as a {SUFFIX} file", fix="give a project-relative path "
                                        "beside the recording (transcript_path)")])
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
