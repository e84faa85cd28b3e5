"""The film's cues as the files subtitles are exchanged in: SRT, WebVTT and TTML (IMSC 1 text
profile). Pure text from cues; nothing here touches a file.

Times are media time from the film's first frame, what a player of the review copy counts.
A cue's frames are exact; SRT and WebVTT count milliseconds, so each frame's start is written
rounded *down* to the millisecond: the time then falls inside the frame before it (a frame
lasts far more than a millisecond) and reads back exactly as ``frame = ceil(ms × rate / 1000)``.
Rounding to the nearest millisecond would put half the cues a frame late (1/24 s = 41.67 ms:
42 ms is after frame 1 starts, so a player would show the cue from frame 2).
The TTML counts frames themselves (``ttp:frameRate`` with ``ttp:frameRateMultiplier`` for
24000/1001), so it needs no rounding at all. IMSC 1 allows only media time (``ttp:timeBase``
"media", no SMPTE time base), so it too counts from the film's first frame; the film's start
timecode rides along as metadata for those who align it to a tape.

Right-to-left languages: SRT and WebVTT have no direction of their own, and renderers differ
(browsers take the paragraph's direction from its first strong letter, libass starts left to
right), so each line of a right-to-left cue is wrapped in an embedding (U+202B ... U+202C):
every reader then lays it out right to left, punctuation included, whatever letter it starts
with. The TTML says it with ``tts:direction="rtl"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from xml.etree import ElementTree as ET

from racines.subtitles.model import Cue

#: languages written right to left (their primary subtag)
RTL_LANGUAGES = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "ku-arab", "ps", "sd", "ug", "ur", "yi"})
RLE, PDF = "\u202b", "\u202c"

TT = "http://www.w3.org/ns/ttml"
TTP = "http://www.w3.org/ns/ttml#parameter"
TTS = "http://www.w3.org/ns/ttml#styling"
TTM = "http://www.w3.org/ns/ttml#metadata"
XML = "http://www.w3.org/XML/1998/namespace"
IMSC1_TEXT = "http://www.w3.org/ns/ttml/profile/imsc1/text"

#: ISO 639-1 -> ISO 639-2/B, the codes MP4 and QuickTime tag tracks with
ISO_639_2 = {"af": "afr", "am": "amh", "ar": "ara", "bg": "bul", "bm": "bam", "bn": "ben", "ca": "cat",
             "cs": "cze", "da": "dan", "de": "ger", "el": "gre", "en": "eng", "es": "spa", "et": "est",
             "fa": "per", "ff": "ful", "fi": "fin", "fr": "fre", "ha": "hau", "he": "heb", "hi": "hin",
             "hr": "hrv", "hu": "hun", "hy": "arm", "id": "ind", "it": "ita", "ja": "jpn", "ka": "geo",
             "ko": "kor", "ku": "kur", "ln": "lin", "lt": "lit", "lv": "lav", "mg": "mlg", "ms": "may",
             "nl": "dut", "no": "nor", "pl": "pol", "ps": "pus", "pt": "por", "ro": "rum", "ru": "rus",
             "sk": "slo", "sl": "slv", "so": "som", "sq": "alb", "sr": "srp", "sv": "swe", "sw": "swa",
             "ta": "tam", "th": "tha", "ti": "tir", "tl": "tgl", "tr": "tur", "uk": "ukr", "ur": "urd",
             "vi": "vie", "wo": "wol", "yo": "yor", "zh": "chi", "zu": "zul"}
#: where ISO 639-2 has a terminology code besides the bibliographic one, players read the former
ISO_639_2_T = {"cze": "ces", "ger": "deu", "gre": "ell", "fre": "fra", "per": "fas", "arm": "hye", "geo": "kat",
               "may": "msa", "dut": "nld", "rum": "ron", "slo": "slk", "alb": "sqi", "chi": "zho"}


def primary(language: str) -> str:
    """``fr-FR`` -> ``fr``."""
    return language.split("-")[0].lower()


def is_rtl(language: str) -> bool:
    return primary(language) in RTL_LANGUAGES or language.lower() in RTL_LANGUAGES


def track_language(language: str) -> str:
    """The ISO 639-2 (terminology) code of a BCP 47 tag, as MP4 tracks carry it: fr -> fra,
    ar -> ara; ``und`` for a language the table lacks (the track is still there, untagged)."""
    code = primary(language)
    if len(code) == 3:
        return code
    bibliographic = ISO_639_2.get(code, "und")
    return ISO_639_2_T.get(bibliographic, bibliographic)


def frame_ms(frame: int, rate: Fraction) -> int:
    """The millisecond a frame starts at, rounded down (see the module's note)."""
    return (frame * 1000 * rate.denominator) // rate.numerator


def _clock(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def display_lines(cue: Cue) -> list[str]:
    """The cue's lines as SRT and WebVTT carry them: right-to-left ones embedded."""
    if is_rtl(cue.language):
        return [f"{RLE}{line}{PDF}" for line in cue.lines]
    return list(cue.lines)


def _checked(cues: Sequence[Cue]) -> list[Cue]:
    ordered = sorted(cues, key=lambda cue: (cue.start, cue.end))
    for cue in ordered:
        if cue.start < 0 or cue.end <= cue.start:
            raise ValueError(f"a cue from frame {cue.start} to {cue.end} ({cue.source} line {cue.line}): "
                             "it must start at frame 0 or later and end after it starts")
        if not cue.lines or any("\n" in line or not line.strip() for line in cue.lines):
            raise ValueError(f"a cue at frame {cue.start} ({cue.source} line {cue.line}) has an empty or "
                             "multi-line line; each line of a cue is one non-empty line")
    return ordered


def srt_text(cues: Sequence[Cue], rate: Fraction) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line after each (the
    last one too, as ffmpeg and the srt library write it)."""
    blocks = []
    for number, cue in enumerate(_checked(cues), start=1):
        times = f"{_clock(frame_ms(cue.start, rate), ',')} --> {_clock(frame_ms(cue.end, rate), ',')}"
        blocks.append("\n".join([str(number), times, *display_lines(cue)]) + "\n\n")
    return "".join(blocks)


def vtt_text(cues: Sequence[Cue], rate: Fraction, language: str) -> str:
    """WebVTT with a ``Language:`` header; each cue identified by its number. A line is made
    safe for the format: ``-->`` cannot appear in a cue's text, ``&`` and ``<`` are escaped."""
    out = ["WEBVTT", f"Language: {language}", ""]
    for number, cue in enumerate(_checked(cues), start=1):
        out.append(str(number))
        out.append(f"{_clock(frame_ms(cue.start, rate), '.')} --> {_clock(frame_ms(cue.end, rate), '.')}")
        out += [line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for line in display_lines(cue)]
        out.append("")
    return "\n".join(out)


def ttml_text(cues: Sequence[Cue], rate: Fraction, language: str, start_timecode: str = "") -> str:
    """An IMSC 1 text-profile document: frame-counted times, the language on the root, one
    region at the bottom of the picture, a line break between a cue's lines."""
    for prefix, uri in (("", TT), ("ttp", TTP), ("tts", TTS), ("ttm", TTM)):
        ET.register_namespace(prefix, uri)
    base = Fraction(round(rate))
    multiplier = rate / base
    root = ET.Element(f"{{{TT}}}tt", {
        f"{{{XML}}}lang": language, f"{{{TTP}}}profile": IMSC1_TEXT, f"{{{TTP}}}timeBase": "media",
        f"{{{TTP}}}frameRate": str(base.numerator), f"{{{TTP}}}cellResolution": "32 15"})
    if multiplier != 1:
        root.set(f"{{{TTP}}}frameRateMultiplier", f"{multiplier.numerator} {multiplier.denominator}")
    head = ET.SubElement(root, f"{{{TT}}}head")
    metadata = ET.SubElement(head, f"{{{TT}}}metadata")
    ET.SubElement(metadata, f"{{{TTM}}}title").text = f"subtitles ({language})"
    if start_timecode:
        ET.SubElement(metadata, f"{{{TTM}}}desc").text = (
            f"times from the film's first frame, which is at timecode {start_timecode}")
    styling = ET.SubElement(head, f"{{{TT}}}styling")
    ET.SubElement(styling, f"{{{TT}}}style", {
        f"{{{XML}}}id": "line", f"{{{TTS}}}fontFamily": "proportionalSansSerif", f"{{{TTS}}}fontSize": "100%",
        f"{{{TTS}}}textAlign": "center", f"{{{TTS}}}color": "white", f"{{{TTS}}}backgroundColor": "transparent",
        f"{{{TTS}}}textOutline": "black 5%", f"{{{TTS}}}direction": "rtl" if is_rtl(language) else "ltr",
        f"{{{TTS}}}unicodeBidi": "embed"})
    layout = ET.SubElement(head, f"{{{TT}}}layout")
    ET.SubElement(layout, f"{{{TT}}}region", {
        f"{{{XML}}}id": "bottom", f"{{{TTS}}}origin": "10% 75%", f"{{{TTS}}}extent": "80% 20%",
        f"{{{TTS}}}displayAlign": "after", f"{{{TTS}}}textAlign": "center"})
    body = ET.SubElement(root, f"{{{TT}}}body", {"region": "bottom", "style": "line"})
    div = ET.SubElement(body, f"{{{TT}}}div")
    for number, cue in enumerate(_checked(cues), start=1):
        paragraph = ET.SubElement(div, f"{{{TT}}}p", {f"{{{XML}}}id": f"c{number}",
                                                      "begin": f"{cue.start}f", "end": f"{cue.end}f"})
        paragraph.text = cue.lines[0]
        for line in cue.lines[1:]:
            ET.SubElement(paragraph, f"{{{TT}}}br").tail = line
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


#: the writers by file suffix, in the order they are written
WRITERS = ("srt", "vtt", "ttml")


def sidecar_texts(cues: Sequence[Cue], rate: Fraction, language: str, start_timecode: str = "") -> dict[str, str]:
    """Each format's text for one language's cues, by suffix."""
    return {"srt": srt_text(cues, rate), "vtt": vtt_text(cues, rate, language),
            "ttml": ttml_text(cues, rate, language, start_timecode)}
