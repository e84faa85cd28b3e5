"""The film's subtitles delivered: sidecar files per language beside the EDL, and the review
copy with the subtitles of one language burned into its picture.

Sidecars are what distributors and editors take: ``edl/<film>.<lang>.srt``, ``.vtt`` and
``.ttml``, each rewritten only when its text changes (racines.edit.exports.write_if_changed:
an NLE watching the folder sees no change otherwise) and written whole or not at all. The
review copy's subtitle tracks are muxed by the render from the SRT sidecars (racines.render).

The burn-in draws the SRT with libass (ffmpeg's ``subtitles`` filter). Nothing of the user's
reaches the filter's string: the SRT is copied into a fresh folder under a fixed name, the
font folder is linked there under another, and ffmpeg runs in that folder, so the filter names
only ``subtitles.srt`` and ``fonts``. libass draws an empty box for a letter no font has, and
only says so in its log; the log is read and such a render refused, naming the language.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
import opentimelineio as otio

from racines.core.atomic import atomic_path
from racines.edit.exports import write_if_changed
from racines.edit.timecode import to_timecode
from racines.errors import RenderFailed, UsageError
from racines.film.model import Film
from racines.media import presets
from racines.media.ffmpeg import ffmpeg_exe
from racines.media.fonts import SANS
from racines.subtitles.cues import subtitle_track
from racines.subtitles.formats import WRITERS, sidecar_texts, track_language
from racines.subtitles.model import Cue
from racines.subtitles.rules import rules_of

#: the font folder burn-ins draw with: matplotlib's DejaVu (Latin, Greek, Cyrillic, Arabic, Vietnamese...)
FONTS_DIR = SANS.parent
#: libass's words for a letter no font in the folder has
MISSING_GLYPH = re.compile(r"failed to find any fallback with glyph (0x[0-9A-Fa-f]+)")
#: the style of burned-in subtitles: white with a black outline, near the bottom, the size of a review's text
BURN_STYLE = "FontName=DejaVu Sans,FontSize=22,PrimaryColour=&H00FFFFFF,OutlineColour=&H00000000,BorderStyle=1," \
             "Outline=2,Shadow=0,MarginV=28"


@dataclass(frozen=True)
class Sidecars:
    """One language's sidecar files, by suffix (srt, vtt, ttml)."""

    language: str
    files: dict[str, Path]

    @property
    def srt(self) -> Path:
        return self.files["srt"]

    @property
    def track_language(self) -> str:
        """ISO 639-2, as the review copy's track is tagged."""
        return track_language(self.language)


def sidecar_path(edl_dir: Path, slug: str, language: str, suffix: str) -> Path:
    return edl_dir / f"{slug}.{language}.{suffix}"


def write_sidecars(edl_dir: Path, slug: str, cues: dict[str, list[Cue]], rate: Fraction,
                   start_timecode: str = "") -> tuple[list[Sidecars], list[Path]]:
    """Write each language's cues as SRT, WebVTT and TTML under ``edl_dir``, in the order of
    ``cues``; remove the sidecars of languages no longer subtitled. Returns the sidecars and
    the files that changed (written or removed)."""
    sidecars, changed = [], []
    for language, language_cues in cues.items():
        texts = sidecar_texts(language_cues, rate, language, start_timecode)
        files = {}
        for suffix in WRITERS:
            path = files[suffix] = sidecar_path(edl_dir, slug, language, suffix)
            if write_if_changed(path, texts[suffix]):
                changed.append(path)
        sidecars.append(Sidecars(language, files))
    for suffix in WRITERS:
        for path in edl_dir.glob(f"{glob_escape(slug)}.*.{suffix}"):
            language = path.name[len(slug) + 1:-len(suffix) - 1]
            if language not in cues and "." not in language:
                path.unlink()
                changed.append(path)
    return sidecars, changed


def film_sidecar_cues(film: Film, timeline: otio.schema.Timeline, languages: list[str]) -> tuple[dict[str, list[Cue]], list[str]]:
    """Each language's cues for the voices ``timeline`` plays (racines.subtitles.cues), and what
    a render should say of them: voices with no transcript in a language, machine drafts not yet
    reviewed. A language with no cue at all gets no sidecar."""
    rules = rules_of(film)
    found, notes = {}, []
    for language in languages:
        track = subtitle_track(film, timeline, language, rules)
        if track.cues:
            found[language] = track.cues
        notes += [str(missing.problem(language)) for missing in track.missing]
        notes += [f"{draft.relpath}: a machine draft ({draft.model}) not yet reviewed: read it, then mark it "
                  "'Origin: reviewed machine draft' (docs/subtitles.md)" for draft in track.drafts]
    return found, notes


def start_timecode(timeline: otio.schema.Timeline, film: Film) -> str:
    start = timeline.global_start_time
    frames = round(start.rescaled_to(float(film.rate)).value) if start is not None else 0
    return to_timecode(frames, film.rate, film.drop_frame)


def sidecar_names(slug: str, languages: list[str]) -> dict[str, dict[str, str]]:
    """The sidecars' file names by language and suffix, as the timeline's metadata lists them."""
    return {language: {suffix: f"{slug}.{language}.{suffix}" for suffix in WRITERS} for language in languages}


def write_film_sidecars(film: Film, timeline: otio.schema.Timeline, edl_dir: Path, languages: list[str]) -> list[Path]:
    """The sidecars of the film's ``languages`` for the voices ``timeline`` plays, written under
    ``edl_dir``, and named in the timeline's metadata (``racines.subtitles``: language ->
    suffix -> file name beside it) before it is exported; the files that changed, and the notes
    of :func:`film_sidecar_cues`."""
    cues, notes = film_sidecar_cues(film, timeline, languages)
    if cues:
        timeline.metadata.setdefault("racines", {})["subtitles"] = sidecar_names(film.slug(), list(cues))
    return write_sidecars(edl_dir, film.slug(), cues, film.rate, start_timecode(timeline, film))[1], notes


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def subtitles_key(sidecars: list[Sidecars]) -> str:
    """What the review copy's tracks depend on: each language's tag and its SRT's bytes, in order."""
    digest = hashlib.sha256()
    for sidecar in sidecars:
        digest.update(sidecar.track_language.encode() + b"\0" + sidecar.srt.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def burn_in_path(renders_dir: Path, slug: str, language: str) -> Path:
    return renders_dir / f"{slug}_review.{language}.mp4"


def burn_in(review: Path, sidecar: Sidecars, output: Path, fonts_dir: Path | None = None) -> Path:
    """The review copy with ``sidecar``'s SRT drawn into its picture (H.264 again, the sound
    copied), at ``output``; raises :class:`RenderFailed` naming the language and the letters
    when a font folder (``fonts_dir``, default DejaVu) lacks some of them, and writes nothing."""
    fonts = Path(fonts_dir or FONTS_DIR).resolve()
    if not fonts.is_dir():
        raise UsageError(f"no font folder at {fonts}\n    fix: name a folder of .ttf or .otf fonts")
    with tempfile.TemporaryDirectory(prefix="racines-burn-") as folder, atomic_path(output) as tmp:
        work = Path(folder)
        (work / "subtitles.srt").write_bytes(sidecar.srt.read_bytes())
        os.symlink(fonts, work / "fonts")
        # fixed names only: no path or text of the user's is ever part of the filter's string
        source = ffmpeg.input(str(review.resolve()))
        drawn = source.video.filter("subtitles", filename="subtitles.srt", fontsdir="fonts", charenc="UTF-8",
                                    force_style=BURN_STYLE)
        sound = source["a?"]  # the review copy's sound, if it has one
        options = {**presets.review_h264(), "c:a": "copy", "sn": None}
        args = ffmpeg.output(drawn, sound, str(tmp.resolve()), **options).compile(cmd=ffmpeg_exe(),
                                                                                   overwrite_output=True)
        args[1:1] = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
        done = subprocess.run(args, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        log = done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            tail = "\n".join(log.strip().splitlines()[-12:])
            raise RenderFailed(f"ffmpeg failed while burning the {sidecar.language} subtitles into the review "
                               f"copy (exit {done.returncode}):\n{tail}")
        missing = sorted({int(code, 16) for code in MISSING_GLYPH.findall(log)})
        if missing:
            letters = ", ".join(f"U+{code:04X} {chr(code)}" for code in missing[:8])
            raise RenderFailed(
                f"{sidecar.srt.name}: the fonts in {fonts} have no glyph for some letters of the '{sidecar.language}' "
                f"subtitles ({letters}{', ...' if len(missing) > 8 else ''}); they would be drawn as empty boxes, "
                "so nothing was burned in\n    fix: install fonts for that script (e.g. Debian's fonts-noto-cjk for "
                "Chinese, Japanese, Korean; fonts-noto for others) and name their folder with --burn-in-fonts DIR")
    return output


def sidecars_of(edl_dir: Path, slug: str, languages: list[str]) -> list[Sidecars]:
    """The sidecars of ``languages`` as the last export wrote them (those with an SRT)."""
    found = []
    for language in languages:
        files = {suffix: sidecar_path(edl_dir, slug, language, suffix) for suffix in WRITERS}
        if files["srt"].is_file():
            found.append(Sidecars(language, files))
    return found


def up_to_date(output: Path, *inputs: Path) -> bool:
    """``output`` exists and was written after every one of ``inputs``."""
    try:
        made = output.stat().st_mtime_ns
        return all(made >= path.stat().st_mtime_ns for path in inputs)
    except FileNotFoundError:
        return False
